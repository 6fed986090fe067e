"""What an EHR sends: a CDS Hooks request built from one patient's FHIR resources.

The sandbox, ``cds evaluate`` and the tests all start from a patient Bundle; this is the one place
that turns it into a request. Everything but draft orders goes into the prefetch under the key our
templates would fetch it with (``cds.context.prefetch.PREFETCH_TEMPLATES``); draft orders are not
on the FHIR server yet, so they travel in ``context.draftOrders`` on order hooks.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

from cds.context.prefetch import PREFETCH_TEMPLATES

ORDER_HOOKS: Final = ("order-select", "order-sign")
DRAFT_TYPES: Final = ("MedicationRequest", "ServiceRequest")
# The prefetch key a resource type travels under (the service classifies by code afterwards).
PREFETCH_KEY_OF_TYPE: Final[Mapping[str, str]] = {
    "Observation": "labs",
    "Specimen": "labs",
    "ServiceRequest": "labs",
    "QuestionnaireResponse": "questionnaires",
    "MedicationRequest": "medicationRequests",
    "Medication": "medicationRequests",
    "MedicationStatement": "medicationStatements",
    "Condition": "conditions",
}

Json = dict[str, Any]


def bundle_resources(bundle: Mapping[str, Any] | None) -> list[Json]:
    """The entry resources of a Bundle (malformed entries are left out)."""
    entries = bundle.get("entry") if bundle else None
    return [
        e["resource"]
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and isinstance(e.get("resource"), dict)
    ]


def reference(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def by_reference(resources: Iterable[Json]) -> dict[str, Json]:
    """Resources by ``Type/id`` (the form facts carry in ``source_ref``)."""
    return {reference(r): r for r in resources if r.get("id")}


def is_draft(resource: Mapping[str, Any]) -> bool:
    return resource.get("resourceType") in DRAFT_TYPES and resource.get("status") == "draft"


def searchset(resources: list[Json]) -> Json:
    """A search result Bundle; no empty ``entry`` (CDS Hooks: no empty arrays)."""
    out: Json = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        out["entry"] = [{"resource": r} for r in resources]
    return out


def prefetch_of(patient: Json, resources: Iterable[Json]) -> Json:
    """Every key of our prefetch templates, filled from ``resources`` (drafts left out)."""
    keyed: dict[str, list[Json]] = {key: [] for key in PREFETCH_TEMPLATES if key != "patient"}
    for resource in resources:
        key = PREFETCH_KEY_OF_TYPE.get(str(resource.get("resourceType")))
        if key is not None and not is_draft(resource):
            keyed[key].append(resource)
    out: Json = {"patient": patient}
    out.update({key: searchset(items) for key, items in keyed.items()})
    return out


def hook_request(
    hook: str,
    patient: Json,
    resources: Iterable[Json],
    *,
    drafts: list[Json] | None = None,
    user: str = "Practitioner/example",
) -> Json:
    """The request body an EHR would send on ``hook`` for this patient."""
    context: Json = {"userId": user, "patientId": patient["id"]}
    if hook in ORDER_HOOKS:
        orders = list(drafts or [])
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in orders],
        }
        if hook == "order-select":
            context["selections"] = [reference(r) for r in orders] or ["MedicationRequest/none"]
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": prefetch_of(patient, resources),
    }
