"""Structural checks for the synthetic patients in samples/patients.

Every sample must be a FHIR R4 (R4B models) collection Bundle whose resources validate,
whose references all resolve inside the bundle, and which carries nothing that looks like
a real identifier.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "patients"
FILES = sorted(SAMPLES.glob("*.json"))

UCUM = "http://unitsofmeasure.org"
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
SSN_SHAPE = re.compile(r"(?<![\d-])\d{3}-?\d{2}-?\d{4}(?![\d-])")
PLAIN_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
RELATIVE_REF = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.+)?$")
OBS_STATUSES = {"final", "entered-in-error"}

Json = dict[str, Any]


def _load(path: Path) -> Json:
    data: Json = json.loads(path.read_text(encoding="utf-8"))
    return data


def _resources(bundle: Json) -> list[Json]:
    return [entry["resource"] for entry in bundle.get("entry", [])]


def _walk(node: Any) -> Iterator[Json]:
    """Yield every JSON object below ``node`` (inclusive)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _references(resource: Json) -> Iterator[str]:
    for obj in _walk(resource):
        ref = obj.get("reference")
        if isinstance(ref, str):
            yield ref


def _quantities(observation: Json) -> Iterator[Json]:
    """valueQuantity, component values and reference-range bounds of an Observation."""
    holders: list[Json] = [observation, *observation.get("component", [])]
    for holder in holders:
        if "valueQuantity" in holder:
            yield holder["valueQuantity"]
        for rng in holder.get("referenceRange", []):
            for bound in ("low", "high"):
                if bound in rng:
                    yield rng[bound]


def test_sample_set_is_present() -> None:
    assert len(FILES) >= 8, f"expected at least 8 sample patients in {SAMPLES}"


@pytest.fixture(params=FILES, ids=[p.name for p in FILES])
def bundle(request: pytest.FixtureRequest) -> Json:
    path: Path = request.param
    return _load(path)


def test_bundle_validates(bundle: Json) -> None:
    errors = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        model = get_fhir_model_class(resource["resourceType"])
        try:
            model.model_validate(resource)
        except ValueError as exc:  # pydantic.ValidationError subclasses ValueError
            errors.append(f"{resource['resourceType']}/{resource.get('id')}: {exc}")
    assert not errors, "\n".join(errors)
    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    assert parsed.entry is not None
    assert len(parsed.entry) == len(bundle["entry"])


def test_bundle_is_plain_collection(bundle: Json) -> None:
    assert bundle["type"] == "collection"
    assert "identifier" not in bundle
    assert "tag" not in bundle.get("meta", {})


def test_entries_have_urn_uuid_and_plain_ids(bundle: Json) -> None:
    full_urls: set[str] = set()
    keys: set[tuple[str, str]] = set()
    for entry in bundle["entry"]:
        full_url = entry["fullUrl"]
        assert full_url.startswith("urn:uuid:"), full_url
        uuid.UUID(full_url.removeprefix("urn:uuid:"))
        assert full_url not in full_urls, f"duplicate fullUrl {full_url}"
        full_urls.add(full_url)
        resource = entry["resource"]
        assert PLAIN_ID.match(resource.get("id", "")), f"bad id {resource.get('id')!r}"
        key = (resource["resourceType"], resource["id"])
        assert key not in keys, f"duplicate resource {key}"
        keys.add(key)


def test_every_reference_resolves(bundle: Json) -> None:
    full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
    keys = {(r["resourceType"], r["id"]) for r in _resources(bundle)}
    unresolved = []
    for resource in _resources(bundle):
        contained = {c["id"] for c in resource.get("contained", [])}
        for ref in _references(resource):
            if ref.startswith("#"):
                ok = ref == "#" or ref[1:] in contained
            elif ref.startswith("urn:uuid:"):
                ok = ref in full_urls
            else:
                match = RELATIVE_REF.match(ref)
                ok = match is not None and (match["type"], match["id"]) in keys
            if not ok:
                unresolved.append(f"{resource['resourceType']}/{resource['id']} -> {ref}")
    assert not unresolved, "unresolved references:\n" + "\n".join(unresolved)


def test_one_patient_and_everything_points_at_it(bundle: Json) -> None:
    patients = [r for r in _resources(bundle) if r["resourceType"] == "Patient"]
    assert len(patients) == 1
    expected = f"Patient/{patients[0]['id']}"
    for resource in _resources(bundle):
        subject = resource.get("subject")
        if subject is not None:
            assert subject.get("reference") == expected, resource["id"]


def test_no_real_looking_identifiers(bundle: Json) -> None:
    raw = json.dumps(bundle, ensure_ascii=False)
    for obj in _walk(bundle):
        if "value" in obj and "system" in obj and isinstance(obj["value"], str):
            assert obj["system"] != SSN_SYSTEM, "SSN identifier system present"
            assert not SSN_SHAPE.fullmatch(obj["value"]), f"SSN-shaped identifier {obj['value']}"
    for resource in _resources(bundle):
        for ident in resource.get("identifier", []):
            value = ident.get("value", "")
            assert not re.fullmatch(r"\d{9}", value), f"9-digit identifier {value}"
    hyphenated = re.findall(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])", raw)
    assert not hyphenated, f"SSN-shaped strings: {hyphenated}"


def test_observation_shape(bundle: Json) -> None:
    for obs in (r for r in _resources(bundle) if r["resourceType"] == "Observation"):
        assert obs["status"] in OBS_STATUSES, obs["id"]
        assert "effectiveDateTime" in obs, obs["id"]
        for quantity in _quantities(obs):
            if "unit" in quantity or "code" in quantity:
                assert quantity.get("system") == UCUM, f"{obs['id']}: non-UCUM {quantity}"


def test_condition_statuses_are_coded(bundle: Json) -> None:
    for cond in (r for r in _resources(bundle) if r["resourceType"] == "Condition"):
        for element in ("clinicalStatus", "verificationStatus"):
            codings = cond.get(element, {}).get("coding", [])
            assert codings, f"{cond['id']}: {element} has no coding"
            assert all("system" in c and "code" in c for c in codings), cond["id"]


@pytest.mark.parametrize(
    ("resource_type", "dosage_field"),
    [("MedicationRequest", "dosageInstruction"), ("MedicationStatement", "dosage")],
)
def test_medications_have_status_subject_and_dosage(
    bundle: Json, resource_type: str, dosage_field: str
) -> None:
    for med in (r for r in _resources(bundle) if r["resourceType"] == resource_type):
        assert med.get("status"), med["id"]
        assert med.get("subject"), med["id"]
        dosages = med.get(dosage_field, [])
        assert dosages, f"{med['id']}: no {dosage_field}"
        for dose in dosages:
            assert dose.get("doseAndRate"), f"{med['id']}: no doseAndRate"
            assert dose.get("timing"), f"{med['id']}: no timing"
