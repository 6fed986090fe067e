"""Prefetch templates our services declare, and gathering the patient data of one request.

Templates use only CDS Hooks 2.0 tokens (``{{context.patientId}}``). CDS Hooks 2.0 has no
relative-date tokens, so look-back is bounded by ``_sort=-date`` + ``_count`` + the page cap of the
fetch; when paging stops early the category is ``INCOMPLETE`` (rules on absence stay silent).

:func:`gather` follows the spec's three cases per key (``cds-hooks.md`` → Prefetch):

- key **absent** → the client did not fetch it: fetch it ourselves from ``fhirServer`` (all such
  keys in one :func:`~cds.fhir.fetch.fetch_all` call, under one deadline);
- value **null** → there is no such data: an empty, *complete* category;
- an **OperationOutcome** (or anything that is not a usable resource) in place of a result → the
  client's fetch failed: fetch it ourselves when a ``fhirServer`` is given, else ``UNAVAILABLE``;
- a **Bundle** → its entry resources (``search.mode = outcome`` entries dropped). A Bundle with a
  ``next`` link is followed from our side when we can (same FHIR server), else ``INCOMPLETE``.
  A Bundle with an OperationOutcome entry of severity error or fatal (the client's search
  failed, :mod:`cds.fhir.outcomes`) is fetched again when a ``fhirServer`` is given; else its
  resources are kept as ``INCOMPLETE``, or the key is ``UNAVAILABLE`` when it holds none.
- a resource of **another patient** (a Patient that is not ``context.patientId``, or a
  ``subject``/``patient`` reference naming another Patient id) is dropped, and counted in a
  warning without ids; its key becomes ``INCOMPLETE`` (records mixed up: this patient's
  may be missing from it), so absence rules stay silent.
  Clients may send more than asked: resources of types no fact reads are dropped here; the rest
  are classified by code in :mod:`cds.context.normalise`.

A category fed by several keys takes the worst status of its keys. A required key that ends up
``UNAVAILABLE`` raises :class:`~cds.errors.DataUnavailableError` (the HTTP layer answers 412);
``INCOMPLETE`` is not a failure. Nothing here logs the access token, and URLs (they carry patient
ids) never appear above DEBUG.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from cds.context.normalise import PatientData
from cds.errors import DataUnavailableError, RequestError
from cds.facts import DataKey, DataStatus
from cds.fhir.fetch import FetchedResources, fetch_all
from cds.fhir.outcomes import reports_failure
from cds.fhir.templates import UserTokenNotApplicableError, render_prefetch_template
from cds.rules.codesystems import LOINC, SNOMED

__all__ = [
    "PREFETCH_CATEGORY",
    "PREFETCH_TEMPLATES",
    "gather",
    "lab_codes",
    "observation_codes",
    "prefetch_templates",
]

logger = logging.getLogger(__name__)

PAGE_SIZE: Final = 100

# LOINC codes of the value sets of kind "lab" and "observation" in rules/valuesets (2026.11.29).
# Kept literal so the templates are stable across requests; tests/test_prefetch_gather.py checks
# them against the terminology files, so a new lab code cannot be forgotten here.
_LAB_CODES: Final = (
    "2191-5", "2193-1", "2837-3", "2986-8", "2243-4", "83096-8", "2106-3", "2118-8",
    "98979-8", "33914-3", "62238-1", "48642-3", "48643-1", "88293-6", "88294-4",
    "59408-5", "2708-6", "1854-9", "13967-5", "2142-8",
)  # fmt: skip
_OBSERVATION_CODES: Final = (
    f"{LOINC}|44249-1", f"{LOINC}|44261-6", f"{LOINC}|44260-8", f"{LOINC}|69737-5",
    f"{LOINC}|70274-6", f"{LOINC}|71354-5", f"{LOINC}|99046-5",
    f"{LOINC}|82810-3", f"{LOINC}|63895-7", f"{SNOMED}|413712001",
)  # fmt: skip


def lab_codes() -> tuple[str, ...]:
    """``system|code`` of every lab LOINC code the labs template asks for."""
    return tuple(f"{LOINC}|{code}" for code in _LAB_CODES)


def observation_codes() -> tuple[str, ...]:
    return _OBSERVATION_CODES


_P: Final = "patient={{context.patientId}}"

#: Prefetch key → FHIR query template, the same for every hook we serve.
PREFETCH_TEMPLATES: Final[Mapping[str, str]] = {
    "patient": "Patient/{{context.patientId}}",
    "labs": (
        f"Observation?{_P}&code={','.join(lab_codes())}"
        f"&_include=Observation:specimen&_sort=-date&_count={PAGE_SIZE}"
    ),
    "observations": (
        f"Observation?{_P}&code={','.join(observation_codes())}&_sort=-date&_count={PAGE_SIZE}"
    ),
    "questionnaires": f"QuestionnaireResponse?{_P}&_sort=-authored&_count={PAGE_SIZE}",
    "medicationRequests": (
        f"MedicationRequest?{_P}&_include=MedicationRequest:medication&_count={PAGE_SIZE}"
    ),
    "medicationStatements": (
        f"MedicationStatement?{_P}&_include=MedicationStatement:medication&_count={PAGE_SIZE}"
    ),
    "conditions": f"Condition?{_P}&_count={PAGE_SIZE}",
}

#: Prefetch key → the data category (``cds.facts.DATA_KEYS``) it feeds.
PREFETCH_CATEGORY: Final[Mapping[str, DataKey]] = {
    "patient": "patient",
    "labs": "labs",
    "observations": "observations",
    "questionnaires": "observations",
    "medicationRequests": "medications",
    "medicationStatements": "medications",
    "conditions": "conditions",
}

_SEVERITY: Final = {DataStatus.COMPLETE: 0, DataStatus.INCOMPLETE: 1, DataStatus.UNAVAILABLE: 2}


def prefetch_templates(hook: str) -> dict[str, str]:
    """The ``prefetch`` map a service for ``hook`` declares in discovery."""
    del hook  # every hook reads the same patient data; draft orders come in the context
    return dict(PREFETCH_TEMPLATES)


@dataclass(frozen=True)
class _Prefetched:
    """A prefetch value read: its usable resources, the next link of a paged Bundle, and
    whether an OperationOutcome among its entries reports that the client's search failed."""

    resources: list[dict[str, Any]]
    next_url: str | None = None
    failed: bool = False


def _resources(value: Mapping[str, Any]) -> _Prefetched:
    if value.get("resourceType") != "Bundle":
        return _Prefetched([dict(value)])
    out: list[dict[str, Any]] = []
    failed = False
    entries = value.get("entry")
    for entry in entries if type(entries) is list else []:
        resource = entry.get("resource") if type(entry) is dict else None
        if type(resource) is not dict:
            continue
        rtype = resource.get("resourceType")
        if rtype == "OperationOutcome":
            failed = failed or reports_failure(resource)
            continue
        if type(rtype) is not str:
            continue  # not a FHIR resource
        search = entry.get("search")
        if search is not None and type(search) is dict and search.get("mode") == "outcome":
            continue
        out.append(resource)
    next_url: str | None = None
    links = value.get("link")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            next_url = url if isinstance(url, str) and url else None
    return _Prefetched(out, next_url, failed)


def _relative(next_url: str, fhir_server: str) -> str | None:
    """The next link as a query relative to ``fhir_server`` (None: it points elsewhere)."""
    base = fhir_server.rstrip("/") + "/"
    if next_url.startswith(base):
        return next_url[len(base) :] or None
    if "://" not in next_url and not next_url.startswith("/"):
        return next_url
    return None


def _holds_patient(value: Mapping[str, Any], patient_id: Any) -> bool:
    """Whether a value of the ``patient`` key is the context's Patient (or a Bundle with it)."""
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        resources = (
            [e.get("resource") for e in entries if isinstance(e, dict)]
            if isinstance(entries, list)
            else []
        )
    else:
        resources = [value]
    return any(
        isinstance(r, dict)
        and r.get("resourceType") == "Patient"
        and r.get("id") in (None, patient_id)
        for r in resources
    )


def _usable(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("resourceType"), str)
        and value["resourceType"] != "OperationOutcome"
    )


async def gather(
    prefetch: Mapping[str, Any] | None,
    *,
    context: Mapping[str, Any],
    fhir_server: str | None,
    access_token: str | None,
    client: httpx.AsyncClient,
    deadline_s: float,
    page_cap: int,
    required: set[str],
) -> PatientData:
    """The patient data of one request, from the prefetch and (for what is missing) the server.

    ``required`` names prefetch keys (or whole categories) without which the request cannot be
    answered: if one of them is unavailable, :class:`DataUnavailableError` is raised naming it.
    Raises :class:`RequestError` when the context cannot fill a template (no ``patientId``) or
    ``fhirServer`` is not a usable URL.
    """
    prefetch = prefetch or {}
    key_status: dict[str, DataStatus] = {}
    key_reason: dict[str, str] = {}
    collected: dict[str, list[dict[str, Any]]] = {}
    to_fetch: dict[str, str] = {}

    def unavailable(key: str, reason: str) -> None:
        key_status[key] = DataStatus.UNAVAILABLE
        key_reason[key] = reason

    patient_id = context.get("patientId")
    for key, template in PREFETCH_TEMPLATES.items():
        if key in prefetch:
            value = prefetch[key]
            if value is None:
                collected[key] = []
                key_status[key] = DataStatus.COMPLETE
                continue
            wrong_patient = (
                key == "patient" and _usable(value) and not _holds_patient(value, patient_id)
            )
            read = _resources(value) if _usable(value) and not wrong_patient else None
            if read is not None and read.failed and (fhir_server or not read.resources):
                read = None  # fetch it again ourselves, or: nothing came, it is unavailable
            if read is not None:
                collected[key] = read.resources
                key_status[key] = DataStatus.COMPLETE
                if read.failed:
                    key_status[key] = DataStatus.INCOMPLETE
                    key_reason[key] = "the prefetched Bundle reports an error OperationOutcome"
                elif read.next_url is not None:
                    relative = _relative(read.next_url, fhir_server) if fhir_server else None
                    if relative is not None:
                        to_fetch[key] = relative
                    else:
                        key_status[key] = DataStatus.INCOMPLETE
                        key_reason[key] = "the prefetched Bundle has more pages we cannot fetch"
                continue
            reason = (
                "the prefetched Patient is not context.patientId's"
                if wrong_patient
                else "the client's prefetch failed"
            )
        else:
            reason = "not in the prefetch"
        if not fhir_server:
            unavailable(key, f"{reason} and no fhirServer to fetch it from")
            continue
        try:
            to_fetch[key] = render_prefetch_template(template, context)
        except UserTokenNotApplicableError:
            collected[key] = []
            key_status[key] = DataStatus.COMPLETE

    if to_fetch and fhir_server:
        try:
            outcomes = await fetch_all(
                client,
                fhir_server,
                to_fetch,
                access_token=access_token,
                deadline_s=deadline_s,
                page_cap=page_cap,
            )
        except ValueError as exc:
            raise RequestError("fhirServer is not a usable FHIR base URL", "fhirServer") from exc
        for key, outcome in outcomes.items():
            if isinstance(outcome, FetchedResources):
                collected.setdefault(key, []).extend(outcome.resources)
                previous = key_status.get(key, DataStatus.COMPLETE)
                status = DataStatus.COMPLETE if outcome.complete else DataStatus.INCOMPLETE
                key_status[key] = max(previous, status, key=_SEVERITY.__getitem__)
                if not outcome.complete:
                    key_reason[key] = f"paging stopped after {page_cap} page(s)"
            elif key in collected:  # a paged prefetch Bundle: keep what the client sent
                key_status[key] = DataStatus.INCOMPLETE
                key_reason[key] = outcome.reason
            else:
                unavailable(key, outcome.reason)

    if key_status.get("patient") is not DataStatus.UNAVAILABLE and not any(
        _holds_patient(r, patient_id) for r in collected.get("patient", [])
    ):  # a null prefetch, or a read the server answered 404: the rules need the patient
        unavailable("patient", "no Patient resource for context.patientId")

    for wanted in sorted(required):
        keys = [k for k, c in PREFETCH_CATEGORY.items() if wanted in (k, c)]
        for key in keys:
            if key_status.get(key) is DataStatus.UNAVAILABLE:
                raise DataUnavailableError(key, key_reason.get(key, "not available"))

    data = PatientData()
    category_status: dict[str, DataStatus] = {}
    dropped = 0
    own = f"Patient/{patient_id}"
    for key, category in PREFETCH_CATEGORY.items():
        foreign = 0
        for resource in collected.get(key, []):
            subject = resource.get("subject")  # the usual case first, without a call
            if (
                not (type(subject) is dict and subject.get("reference") == own)
                and patient_id is not None
                and _of_another_patient(resource, patient_id, own)
            ):
                foreign += 1  # another patient's record is never this patient's data
                continue
            data.add(resource, category)
        status = key_status.get(key, DataStatus.UNAVAILABLE)
        if foreign and status is DataStatus.COMPLETE and key != "patient":
            # the client mixed records up: what it left out of this patient's may be missing too
            status, key_reason[key] = DataStatus.INCOMPLETE, "it held another patient's records"
        dropped += foreign
        if status is not DataStatus.COMPLETE:
            logger.info("prefetch key %r is %s: %s", key, status.value, key_reason.get(key, "-"))
        previous = category_status.get(category, DataStatus.COMPLETE)
        category_status[category] = max(previous, status, key=_SEVERITY.__getitem__)
    if dropped:
        logger.warning("dropped %d resource(s) of another patient than context.patientId", dropped)
    data.status = category_status
    return data


_PATIENT_REFERENCE: Final = re.compile(
    r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$"
)


def _of_another_patient(resource: Mapping[str, Any], patient_id: str, own: str) -> bool:
    """A Patient that is not ``patient_id``, or a resource whose ``subject`` or ``patient``
    reference names another Patient (relative or absolute); ``own`` is
    ``Patient/<patient_id>`` (the caller skips this call when ``subject`` is exactly that, the
    usual case). A reference that names no Patient id (``urn:uuid:``, contained, a Group) is
    not read as another patient's."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") not in (None, patient_id)
    for reference in (resource.get("subject"), resource.get("patient")):
        target = reference.get("reference") if isinstance(reference, dict) else None
        if not isinstance(target, str) or target == own:
            continue
        match = _PATIENT_REFERENCE.search(target)
        if match is not None and match.group(1) != patient_id:
            return True
    return False
