"""The /sandbox page: run a hook against a sample patient (or a pasted Bundle / request) and see
the cards as an EHR shows them, with the "why" behind each.

The page's JavaScript (``static/sandbox.js``) calls the REAL endpoints — ``POST
/cds-services/{id}`` for the cards, ``POST /explain/{id}`` for the explanation and ``POST
/cds-services/{id}/feedback`` for accept / override — so what it shows is what an EHR gets. This
module only serves the page and builds CDS Hooks requests from FHIR Bundles, the way an EHR
would: everything but draft orders goes into the prefetch, draft orders into
``context.draftOrders``.

- ``GET /sandbox`` the page
- ``GET /sandbox/samples`` the sample patients with their descriptions and draft orders
- ``GET /sandbox/samples/{name}?hook=…&draft=…`` a ready-made request for a sample patient
- ``POST /sandbox/request`` the same for a pasted Bundle: ``{"bundle", "hook", "draft"}``
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from cds.ehr import ORDER_HOOKS, bundle_resources, is_draft, reference
from cds.ehr import hook_request as ehr_request
from cds.hooks import SERVICES
from cds.outcome import operation_outcome
from cds.responses import JSONResponse
from cds.settings import AUTH_OFF_WARNING
from cds.web import RuntimeOf, templates

_SOURCE_SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "patients"
HOOKS = ("patient-view", *ORDER_HOOKS)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SANDBOX_USER = "Practitioner/sandbox"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


class SandboxError(ValueError):
    """A bundle or choice the sandbox cannot build a request from (→ 400)."""


# --------------------------------------------------------------------------------------------
# Common draft orders (what a prescriber might be about to order)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommonDraft:
    key: str
    label: str
    text: str
    code: str | None  # RxNorm; None: text only (pregnenolone has no usable RxNorm code)
    display: str
    dose_mg: float
    per_day: int
    days: int | None = None  # a fixed course (zuranolone is 14 days)

    def resource(self, patient_id: str) -> dict[str, Any]:
        concept: dict[str, Any] = {"text": self.text}
        if self.code:
            concept["coding"] = [{"system": RXNORM, "code": self.code, "display": self.display}]
        repeat: dict[str, Any] = {"frequency": self.per_day, "period": 1, "periodUnit": "d"}
        if self.days:
            repeat["boundsDuration"] = _days(self.days)
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": f"sandbox-draft-{self.key}",
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": concept,
            "subject": {"reference": f"Patient/{patient_id}"},
            "requester": {"reference": SANDBOX_USER},
            "dosageInstruction": [
                {
                    "text": self.label,
                    "timing": {"repeat": repeat},
                    "route": {
                        "coding": [
                            {
                                "system": "http://snomed.info/sct",
                                "code": "26643006",
                                "display": "Oral route",
                            }
                        ]
                    },
                    "doseAndRate": [
                        {
                            "doseQuantity": {
                                "value": self.dose_mg,
                                "unit": "mg",
                                "system": "http://unitsofmeasure.org",
                                "code": "mg",
                            }
                        }
                    ],
                }
            ],
        }
        if self.days:
            resource["dispenseRequest"] = {"expectedSupplyDuration": _days(self.days)}
        return resource


def _days(count: int) -> dict[str, Any]:
    return {"value": count, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}


COMMON_DRAFTS: tuple[CommonDraft, ...] = (
    CommonDraft(
        "zuranolone-50",
        "Zuranolone 50 mg once daily for 14 days",
        "Zurzuvae (zuranolone) 25 mg capsule",
        "2669905",
        "zuranolone",
        50,
        1,
        14,
    ),
    CommonDraft("dhea-25", "DHEA 25 mg once daily", "DHEA 25 mg", "3143", "prasterone", 25, 1),
    CommonDraft("dhea-50", "DHEA 50 mg once daily", "DHEA 50 mg", "3143", "prasterone", 50, 1),
    CommonDraft(
        "pregnenolone-30",
        "Pregnenolone 30 mg once daily",
        "Pregnenolone 30 mg capsule",
        None,
        "pregnenolone",
        30,
        1,
    ),
    CommonDraft(
        "ketoconazole-200",
        "Ketoconazole 200 mg once daily",
        "Ketoconazole 200 mg tablet",
        "6135",
        "ketoconazole",
        200,
        1,
    ),
    CommonDraft(
        "lorazepam-05",
        "Lorazepam 0.5 mg twice daily",
        "Lorazepam 0.5 mg tablet",
        "6470",
        "lorazepam",
        0.5,
        2,
    ),
)
_COMMON_BY_KEY = {d.key: d for d in COMMON_DRAFTS}


# --------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------


def samples_dir(rules_dir: Path) -> Path:
    """Where the sample patients are: ``samples/patients`` beside the rule pack (the image keeps
    them at /app/samples, beside /app/rules), else the source checkout's."""
    beside = rules_dir.resolve().parent / "samples" / "patients"
    return beside if beside.is_dir() else _SOURCE_SAMPLES


@lru_cache(maxsize=4)
def sample_descriptions(directory: Path) -> dict[str, str]:
    """``name → description`` from the table in samples/README.md (empty when absent)."""
    readme = directory.parent / "README.md"
    if not readme.is_file():
        return {}
    out = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([^`]+)\.json`\s*\|\s*(.+?)\s*\|\s*$", line)
        if match:
            out[match.group(1)] = match.group(2)
    return out


def sample_names(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.json") if _NAME.match(p.stem))


def load_sample(directory: Path, name: str) -> dict[str, Any] | None:
    if not _NAME.match(name) or name not in sample_names(directory):
        return None
    data: dict[str, Any] = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
    return data


def samples_listing(directory: Path) -> list[dict[str, Any]]:
    descriptions = sample_descriptions(directory)
    out = []
    for name in sample_names(directory):
        bundle = load_sample(directory, name) or {}
        out.append(
            {
                "name": name,
                "description": descriptions.get(name, ""),
                "drafts": [
                    {"key": f"bundle:{reference(r)}", "label": _draft_label(r)}
                    for r in bundle_resources(bundle)
                    if is_draft(r)
                ],
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# Building a CDS Hooks request from a Bundle
# --------------------------------------------------------------------------------------------


def _draft_label(resource: dict[str, Any]) -> str:
    concept = resource.get("medicationCodeableConcept") or resource.get("code") or {}
    text = concept.get("text") if isinstance(concept, dict) else None
    if not text and isinstance(concept, dict):
        codings = concept.get("coding") or [{}]
        text = codings[0].get("display") if isinstance(codings[0], dict) else None
    return f"{text or reference(resource)} (draft in the bundle)"


def build_request(bundle: Any, hook: str, draft: str | None) -> dict[str, Any]:
    """The CDS Hooks request an EHR would send for this patient Bundle. Raises SandboxError."""
    if hook not in HOOKS:
        raise SandboxError(f"unknown hook '{hook}' (one of {', '.join(HOOKS)})")
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise SandboxError("not a FHIR Bundle (resourceType must be 'Bundle')")
    resources = bundle_resources(bundle)
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None or not isinstance(patient.get("id"), str) or not patient["id"]:
        raise SandboxError("the Bundle holds no Patient with an id")
    drafts = [_draft_order(resources, patient["id"], draft)] if hook in ORDER_HOOKS else []
    return ehr_request(hook, patient, resources, drafts=drafts, user=SANDBOX_USER)


def _draft_order(
    resources: list[dict[str, Any]], patient_id: str, draft: str | None
) -> dict[str, Any]:
    if not draft:
        drafts = [r for r in resources if is_draft(r)]
        if drafts:
            return drafts[0]
        raise SandboxError("an order hook needs a draft order: pick one")
    kind, _, value = draft.partition(":")
    if kind == "bundle":
        for resource in resources:
            if reference(resource) == value and is_draft(resource):
                return resource
        raise SandboxError(f"no draft order '{value}' in the Bundle")
    if kind == "common" and value in _COMMON_BY_KEY:
        return _COMMON_BY_KEY[value].resource(patient_id)
    raise SandboxError(f"unknown draft order '{draft}'")


# --------------------------------------------------------------------------------------------
# Routes
# --------------------------------------------------------------------------------------------


def page_config(auth: str, samples: Path) -> dict[str, Any]:
    """What the page's JavaScript needs (embedded in the page as JSON)."""
    return {
        "auth": auth,
        "services": {hook: sid for sid, (hook, _, _) in SERVICES.items()},
        "hooks": list(HOOKS),
        "samples": samples_listing(samples),
        "commonDrafts": [{"key": f"common:{d.key}", "label": d.label} for d in COMMON_DRAFTS],
    }


def router(runtime_of: RuntimeOf) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    def samples_of(request: Request) -> Path:
        return samples_dir(runtime_of(request).settings.rules_dir)

    @web.get("/sandbox", response_class=HTMLResponse)
    def sandbox_page(request: Request) -> Response:
        auth = runtime_of(request).settings.auth
        config = page_config(auth, samples_of(request))
        return templates.TemplateResponse(
            request,
            "sandbox.html",
            {
                "active_nav": "Sandbox",
                "config": config,
                "auth": auth,
                "auth_off_warning": AUTH_OFF_WARNING,  # shown when a response says auth is off
                "samples": config["samples"],
            },
        )

    @web.get("/sandbox/samples")
    def samples(request: Request) -> Response:
        return JSONResponse({"samples": samples_listing(samples_of(request))})

    @web.get("/sandbox/samples/{name}")
    def sample_request(
        request: Request,
        name: str,
        hook: str = Query("patient-view"),
        draft: str | None = Query(None),
        bundle: bool = Query(False, description="answer with the sample's Bundle itself"),
    ) -> Response:
        data = load_sample(samples_of(request), name)
        if data is None:
            return operation_outcome(404, "not-found", f"no sample patient '{name}'")
        if bundle:
            return JSONResponse(data)
        try:
            return JSONResponse(build_request(data, hook, draft))
        except SandboxError as exc:
            return operation_outcome(400, "invalid", str(exc))

    @web.post("/sandbox/request")
    async def pasted_request(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return operation_outcome(400, "invalid", "the body is not JSON")
        if not isinstance(body, dict):
            return operation_outcome(400, "invalid", "expected {bundle, hook, draft}")
        hook, draft = body.get("hook", "patient-view"), body.get("draft")
        if not isinstance(hook, str) or (draft is not None and not isinstance(draft, str)):
            return operation_outcome(400, "invalid", "hook and draft must be strings")
        try:
            return JSONResponse(build_request(body.get("bundle"), hook, draft))
        except SandboxError as exc:
            return operation_outcome(400, "invalid", str(exc))

    return web
