"""Build CDS Hooks requests from sample patients (FHIR Bundles), as an EHR would send them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds.ehr import bundle_resources, is_draft
from cds.ehr import hook_request as ehr_request

SAMPLES = Path(__file__).parent.parent / "samples" / "patients"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return data


def hook_request(
    hook: str, bundle: dict[str, Any], *, prefetch: bool = True, **extra: Any
) -> dict[str, Any]:
    """The request an EHR would send for a sample patient (built by :mod:`cds.ehr`)."""
    resources = bundle_resources(bundle)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    drafts = [r for r in resources if is_draft(r)]
    body = ehr_request(hook, patient, resources, drafts=drafts)
    if not prefetch:
        del body["prefetch"]
    body.update(extra)
    return body
