"""``cds evaluate``: a CDS Hooks request or a FHIR Bundle, offline, as a clinician reads it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hookrequests import hook_request, sample

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "samples" / "patients"


def cds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cds.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(tmp: Path, name: str, body: Any) -> Path:
    path = tmp / name
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_bundle_patient_view_prints_the_cards() -> None:
    done = cds(
        "evaluate",
        str(SAMPLES / "dhea-ssri-woman.json"),
        "--hook",
        "patient-view",
        "--now",
        "2026-11-29",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Patient/dhea-ssri-woman" in out
    assert "2026-11-29T09:00:00+00:00" in out
    block = out[out.index("rule dhea-s-high@") - 200 :]
    assert "[WARNING] DHEA-S above the age/sex reference range" in block
    assert "Latest DHEA-S: 410 ug/dL" in out
    assert "**" not in out  # detail as plain text
    assert "Source: Mayo Clinic" in out
    assert "Suggestions:" in out
    assert "Order a morning serum DHEA-S" in out
    assert "== Why ==" not in out


def test_explain_json_has_cards_facts_skipped_and_near_misses() -> None:
    done = cds(
        "evaluate",
        str(SAMPLES / "dhea-umol-units.json"),
        "--hook",
        "patient-view",
        "--now",
        "2026-11-29",
        "--explain",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["hook"] == "patient-view"
    assert body["now"] == "2026-11-29T09:00:00+00:00"
    rules = {c["extension"]["neurosteroid-cds"]["ruleId"] for c in body["cards"]}
    assert {"dhea-pcos", "dhea-s-high"} <= rules
    explanation = body["explanation"]
    assert explanation["facts"]
    skipped = {s["ref"]: s["reason"] for s in explanation["skipped"]}
    assert "entered-in-error" in skipped["Observation/obs-dheas-eie"]
    assert "Observation/obs-testosterone" in skipped
    assert explanation["nearMisses"]
    assert all({"rule_id", "missing"} <= set(m) for m in explanation["nearMisses"])
    fired = {f["ruleId"] for f in explanation["fired"]}
    assert "dhea-s-high" in fired


def test_explain_text_lists_the_why() -> None:
    done = cds(
        "evaluate",
        str(SAMPLES / "dhea-umol-units.json"),
        "--hook",
        "patient-view",
        "--now",
        "2026-11-29",
        "--explain",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    why = out[out.index("== Why ==") :]
    assert "Facts built (" in why
    assert "Observation/obs-dheas-eie: status entered-in-error" in why
    assert "Rules fired (" in why
    assert "- dhea-s-high@" in why
    assert "Rules that came close (" in why
    assert "missing: " in why


def test_cds_hooks_request_file(tmp_path: Path) -> None:
    body = hook_request("order-sign", sample("postpartum-zuranolone-benzo"))
    path = write(tmp_path, "request.json", body)
    done = cds("evaluate", str(path), "--now", "2026-11-29", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["input"] == "request"
    assert result["hook"] == "order-sign"
    rules = {c["extension"]["neurosteroid-cds"]["ruleId"] for c in result["cards"]}
    assert {"zur-driving", "zur-cns-depressant"} <= rules
    assert result["unavailable"] == []


def test_bundle_drafts_become_draft_orders_on_order_hooks() -> None:
    path = str(SAMPLES / "postpartum-zuranolone-benzo.json")
    signed = cds("evaluate", path, "--hook", "order-select", "--now", "2026-11-29")
    assert signed.returncode == 0, signed.stderr
    assert "rule zur-driving@" in signed.stdout
    viewed = cds("evaluate", path, "--hook", "patient-view", "--now", "2026-11-29")
    assert viewed.returncode == 0, viewed.stderr
    assert "draft orders left out (MedicationRequest/mr-zuranolone-draft)" in viewed.stdout
    assert "rule zur-driving@" not in viewed.stdout


def test_missing_prefetch_keys_are_reported_unavailable(tmp_path: Path) -> None:
    bundle = sample("dhea-ssri-woman")
    body = hook_request("patient-view", bundle, fhirServer="https://fhir.example.org/r4")
    body["prefetch"] = {k: v for k, v in body["prefetch"].items() if k in ("patient", "labs")}
    path = write(tmp_path, "partial.json", body)
    done = cds("evaluate", str(path), "--now", "2026-11-29", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    missing = {u["key"] for u in result["unavailable"]}
    assert {"medicationRequests", "medicationStatements", "conditions"} <= missing
    assert result["explanation"]["dataStatus"]["medications"] == "unavailable"
    assert any("nothing was fetched from https://fhir.example.org/r4" in n for n in result["notes"])
    text = cds("evaluate", str(path), "--now", "2026-11-29")
    assert "unavailable: medicationStatements: not in the prefetch" in text.stdout


def test_unreadable_inputs_exit_2_with_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    done = cds("evaluate", str(missing), "--hook", "patient-view")
    assert done.returncode == 2
    assert f"{missing}: no such file" in done.stderr

    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    done = cds("evaluate", str(bad), "--hook", "patient-view")
    assert done.returncode == 2
    assert f"{bad}: not JSON" in done.stderr

    bundle = str(SAMPLES / "dhea-ssri-woman.json")
    done = cds("evaluate", bundle)
    assert done.returncode == 2
    assert f"{bundle}: a FHIR Bundle needs --hook" in done.stderr

    request = write(tmp_path, "req.json", hook_request("patient-view", sample("dhea-ssri-woman")))
    done = cds("evaluate", str(request), "--hook", "order-sign")
    assert done.returncode == 2
    assert f"{request}: the request is for hook 'patient-view'" in done.stderr

    no_patient = hook_request("patient-view", sample("dhea-ssri-woman"), prefetch=False)
    path = write(tmp_path, "nopatient.json", no_patient)
    done = cds("evaluate", str(path))
    assert done.returncode == 2
    assert f"{path}: prefetch 'patient' is unavailable" in done.stderr

    invalid = write(tmp_path, "invalid.json", {"hook": "patient-view", "context": {}})
    done = cds("evaluate", str(invalid))
    assert done.returncode == 2
    assert str(invalid) in done.stderr

    done = cds("evaluate", bundle, "--hook", "patient-view", "--now", "yesterday")
    assert done.returncode == 2
    assert "--now" in done.stderr


def test_help_has_examples() -> None:
    done = cds("evaluate", "--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout
    assert "cds evaluate samples/patients/dhea-ssri-woman.json" in done.stdout
    done = cds("rules", "catalog", "--help")
    assert done.returncode == 0
    assert "cds rules catalog --out" in done.stdout


def test_explain_names_rules_silenced_for_missing_data(tmp_path: Path) -> None:
    """§5.11: a rule silenced because its labs could not be fetched says so, with the category;
    it is not listed as an ordinary near miss (which would imply a DHEA-S exists)."""
    body = hook_request("patient-view", sample("prostate-cancer-dhea"))  # DHEA ≥ 12 weeks
    body["prefetch"]["labs"] = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "lab system down"}],
    }
    path = write(tmp_path, "labs-down.json", body)
    args = ("evaluate", str(path), "--now", "2026-11-29", "--explain")
    done = cds(*args, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rules = {c["extension"]["neurosteroid-cds"]["ruleId"] for c in result["cards"]}
    assert "dhea-recheck-due" not in rules
    explanation = result["explanation"]
    assert explanation["dataStatus"]["labs"] == "unavailable"
    silenced = {m["ruleId"]: m for m in explanation["missingData"]}
    recheck = silenced["dhea-recheck-due"]
    assert recheck["action"] == "silent"
    assert recheck["data"] == {"labs": "unavailable"}
    assert "lab history could not be fetched in full (labs: unavailable)" in recheck["reason"]
    assert "dhea-recheck-due" not in {m["rule_id"] for m in explanation["nearMisses"]}
    high = next(m for m in explanation["nearMisses"] if m["rule_id"] == "dhea-s-high")
    assert "labs: unavailable" in high["data"]

    text = cds(*args)
    assert text.returncode == 0, text.stderr
    why = text.stdout[text.stdout.index("== Why ==") :]
    close = why[why.index("Rules that came close (") :]
    assert "dhea-recheck-due" not in close
    silent = why[why.index("Rules silenced or noted for missing data (1):") : why.index(close)]
    assert "- dhea-recheck-due@" in silent
    assert "silent: lab history could not be fetched in full (labs: unavailable)\n" in silent
