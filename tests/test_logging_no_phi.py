"""Logs carry hookInstance, service, rule ids and timings — never the patient's data or tokens."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hookrequests import hook_request, sample
from processes import live, wait_for
from service import free_port, running_service

from cds.observability import stdlib_formatter
from cds.rules.pack import load_pack

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
TOKEN = "tok-SECRET-abc123"
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ][\d:.,]+Z?")


def without_timestamps(logs: str) -> str:
    """The logs without the time each line was written: "15:41:35.914102Z" holds "410", the
    patient's DHEA-S value, and made the search for it fail once in a while."""
    return _TIMESTAMP.sub("<time>", logs)


def test_a_hook_call_logs_no_phi_and_no_token(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    bundle = sample("dhea-ssri-woman")
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    body = hook_request("patient-view", bundle)
    body["fhirServer"] = "http://127.0.0.1:9/fhir"  # never called: everything is prefetched
    body["fhirAuthorization"] = {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }
    with running_service(tmp_path, pack=load_pack(Path("rules")), clock=lambda: NOW) as url:
        response = httpx.post(f"{url}/cds-services/neurosteroid-patient-view", json=body)
        assert response.status_code == 200
        feedback = {
            "feedback": [
                {
                    "card": response.json()["cards"][0]["uuid"],
                    "outcome": "accepted",
                    "outcomeTimestamp": "2026-11-29T09:01:00Z",
                }
            ]
        }
        assert (
            httpx.post(
                f"{url}/cds-services/neurosteroid-patient-view/feedback", json=feedback
            ).status_code
            == 200
        )
    out, err = capfd.readouterr()
    logs = without_timestamps(out + err)
    json_lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    hook_lines = [line for line in json_lines if line.get("event") == "hook"]
    assert hook_lines, "one JSON log line per hook call"
    assert hook_lines[0]["hook_instance"] == body["hookInstance"]
    pack = load_pack(Path("rules"))
    assert f"dhea-s-high@{pack.by_id['dhea-s-high'].rule.version}" in hook_lines[0]["rules"]
    forbidden = [TOKEN, patient["id"], patient["birthDate"], "410", "DHEA 50 mg"]
    forbidden += [name for n in patient.get("name", []) for name in n.get("given", [])]
    forbidden += [n.get("family", "") for n in patient.get("name", []) if n.get("family")]
    for secret in forbidden:
        assert secret not in logs, f"{secret!r} appears in the logs"


def test_an_unexpected_error_is_a_500_outcome_logged_without_its_message(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # an exception raised while reading patient data may quote that data in its message
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("patient Jane Doe, DHEA-S 410")

    monkeypatch.setattr("cds.api.assess", broken)
    body = hook_request("patient-view", sample("dhea-ssri-woman"))
    with running_service(tmp_path, pack=load_pack(Path("rules")), clock=lambda: NOW) as url:
        response = httpx.post(
            f"{url}/cds-services/neurosteroid-patient-view",
            json=body,
            headers={"Origin": "https://sandbox.cds-hooks.org"},
        )
        assert httpx.get(f"{url}/livez").status_code == 200  # and the service goes on
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "access-control-allow-origin" in response.headers
    assert "x-cds-auth-warning" in response.headers
    out, err = capfd.readouterr()
    errors = [json.loads(line) for line in out.splitlines() if '"internal_error"' in line]
    assert [(e["error"], e["at"].split(":")[0]) for e in errors] == [
        ("RuntimeError", __file__.rsplit("/", 1)[-1])
    ]
    assert "Jane Doe" not in out + err
    assert "410" not in without_timestamps(out + err)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_line_the_running_service_writes_is_json(tmp_path: Path, workers: int) -> None:
    # Found by the issue 4 audit: uvicorn's access and start-up lines, the prefetch and FHIR
    # fetch notes and the supervisor's lines were plain text beside the JSON ones.
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "CDS_AUTH": "off",
        "CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'cds.db'}",
        "CDS_RULES_DIR": str(ROOT / "rules"),
        "CDS_PATIENT_KEY_SECRET": "a-test-secret-of-32-characters!!",
    }
    cds = Path(sys.executable).parent / "cds"
    out, err = (tmp_path / "out.log").open("wb"), (tmp_path / "err.log").open("wb")
    command = [str(cds), "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)] if workers > 1 else command,
        env=env,
        stdout=out,
        stderr=err,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the service", lambda: live(url))
        body = hook_request("patient-view", sample("dhea-ssri-woman"))
        body["prefetch"]["labs"] = {"resourceType": "OperationOutcome", "issue": []}
        assert httpx.post(f"{url}/cds-services/neurosteroid-patient-view", json=body).is_success
        assert httpx.post(f"{url}/cds-services/neurosteroid-patient-view", json={}).status_code
        assert httpx.get(f"{url}/cds-services").is_success
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        out.close()
        err.close()
    lines = {
        name: [x for x in (tmp_path / f"{name}.log").read_text().splitlines() if x.strip()]
        for name in ("out", "err")
    }
    not_json = [x for x in lines["out"] + lines["err"] if not _is_json_object(x)]
    assert not_json == []
    records = [json.loads(x) for x in lines["out"] + lines["err"]]
    events = [r.get("event", "") for r in records]
    assert "auth_off" in events  # the start-up warning, as JSON
    assert any(r.get("logger") == "cds.context.prefetch" for r in records), events
    assert any(r.get("logger", "").startswith("uvicorn") for r in records), events
    assert sum(e == "hook" for e in events) == 2  # one line per hook call, no access log
    if workers > 1:
        assert "supervisor" in events


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# Found by the review of session 5: the standard library's records rendered exc_info as the
# exception's repr (its message, which may quote patient data) and no place.
def test_a_standard_library_exception_is_logged_by_type_and_place_only() -> None:
    try:
        raise ValueError("patient Jane Doe, DHEA-S 410")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", None,
            sys.exc_info(),
        )  # fmt: skip
    text = stdlib_formatter().format(record)
    line = json.loads(text)
    assert (line["event"], line["level"], line["error"]) == (
        "Exception in ASGI application", "error", "ValueError",
    )  # fmt: skip
    assert line["at"].startswith("test_logging_no_phi.py:")
    assert "Jane Doe" not in text
    assert "410" not in without_timestamps(text)
