"""Build CDS Hooks requests from sample patients (FHIR Bundles), as an EHR would send them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).parent.parent / "samples" / "patients"
_KEY_OF_TYPE = {
    "Observation": "labs",
    "Specimen": "labs",
    "QuestionnaireResponse": "questionnaires",
    "MedicationRequest": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "Medication": "medicationRequests",
    "Condition": "conditions",
}


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def prefetch_from_bundle(bundle: dict[str, Any], *, drop_drafts: bool = True) -> dict[str, Any]:
    """The prefetch an EHR would send for this patient (every key of our templates)."""
    resources = [e["resource"] for e in bundle.get("entry", [])]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    keyed: dict[str, list[dict[str, Any]]] = {k: [] for k in set(_KEY_OF_TYPE.values())}
    keyed["observations"] = []
    for resource in resources:
        if drop_drafts and resource.get("status") == "draft":
            continue  # draft orders are not on the FHIR server; they travel in the context
        key = _KEY_OF_TYPE.get(resource["resourceType"])
        if key:
            keyed[key].append(resource)
    out: dict[str, Any] = {"patient": patient}
    out.update({key: searchset(items) for key, items in keyed.items()})
    return out


def drafts_of(bundle: dict[str, Any]) -> dict[str, Any]:
    drafts = [
        e["resource"] for e in bundle.get("entry", []) if e["resource"].get("status") == "draft"
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in drafts],
    }


def hook_request(
    hook: str, bundle: dict[str, Any], *, prefetch: bool = True, **extra: Any
) -> dict[str, Any]:
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient["id"]}
    if hook in ("order-select", "order-sign"):
        drafts = drafts_of(bundle)
        context["draftOrders"] = drafts
        if hook == "order-select":
            context["selections"] = [
                f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts["entry"]
            ] or ["MedicationRequest/none"]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch:
        body["prefetch"] = prefetch_from_bundle(bundle)
    body.update(extra)
    return body
