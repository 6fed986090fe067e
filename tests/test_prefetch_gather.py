"""gather(): prefetch + FHIR fetch → PatientData, against the real fake HTTP server."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_server import Route, running_fhir_server, searchset

from cds.context.prefetch import (
    PREFETCH_CATEGORY,
    PREFETCH_TEMPLATES,
    gather,
    lab_codes,
    observation_codes,
    prefetch_templates,
)
from cds.errors import DataUnavailableError
from cds.facts import DATA_KEYS, DataStatus
from cds.fhir.fetch import make_fhir_client
from cds.fhir.templates import prefetch_template_problems, render_prefetch_template
from cds.rules.pack import load_terminology
from cds.rules.problems import Problem

TOKEN = "s3cr3t-access-token-XYZ"
CONTEXT = {"userId": "Practitioner/9", "patientId": "123"}
PATIENT = {"resourceType": "Patient", "id": "123", "gender": "female"}
CONDITION = {"resourceType": "Condition", "id": "c1"}
LAB = {"resourceType": "Observation", "id": "o1"}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "x"}]}

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_fhir_client() as fhir_client:
        yield fhir_client


def _route(key: str) -> str:
    return render_prefetch_template(PREFETCH_TEMPLATES[key], CONTEXT)


def _nulls(**values: Any) -> dict[str, Any]:
    prefetch: dict[str, Any] = dict.fromkeys(PREFETCH_TEMPLATES)
    prefetch["patient"] = PATIENT
    prefetch.update(values)
    return prefetch


async def _gather(client: httpx.AsyncClient, prefetch: dict[str, Any] | None,
                  fhir_server: str | None, **kw: Any) -> Any:  # fmt: skip
    kw.setdefault("deadline_s", 2.0)
    kw.setdefault("page_cap", 5)
    kw.setdefault("required", set())
    return await gather(prefetch, context=CONTEXT, fhir_server=fhir_server, access_token=TOKEN,
                        client=client, **kw)  # fmt: skip


# --- templates ----------------------------------------------------------------------------------


def test_templates_are_valid_cds_hooks_2() -> None:
    fields = {"userId", "patientId", "encounterId", "selections", "draftOrders"}
    for template in prefetch_templates("order-sign").values():
        assert prefetch_template_problems(template, context_fields=fields) == []
    assert set(PREFETCH_CATEGORY) == set(PREFETCH_TEMPLATES)
    assert set(PREFETCH_CATEGORY.values()) == set(DATA_KEYS)


def test_templates_ask_for_every_lab_and_observation_code() -> None:
    problems: list[Problem] = []
    terminology = load_terminology(Path(__file__).resolve().parent.parent / "rules", problems)
    wanted: dict[str, set[str]] = {"lab": set(), "observation": set()}
    for vs in terminology.valuesets.values():
        if vs.kind in wanted:
            wanted[vs.kind] |= {
                f"{c.system}|{c.code}" for c in vs.codes if not c.system.startswith("urn:")
            }
    assert wanted["lab"] == set(lab_codes())
    assert wanted["observation"] == set(observation_codes())


# --- the three prefetch cases -------------------------------------------------------------------


async def test_all_prefetched_needs_no_server(client: httpx.AsyncClient) -> None:
    prefetch = _nulls(conditions=searchset([CONDITION, {"resourceType": "Practitioner",
                                                        "id": "x"}]))  # fmt: skip
    data = await _gather(client, prefetch, None)
    assert data.patient == PATIENT
    assert data.conditions == [CONDITION]  # the Practitioner the client added is dropped
    assert data.status == dict.fromkeys(DATA_KEYS, DataStatus.COMPLETE)


async def test_missing_key_is_fetched(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["conditions"]
    with running_fhir_server({_route("conditions"): Route.bundle([CONDITION])}) as fake:
        data = await _gather(client, prefetch, fake.base_url)
    assert data.conditions == [CONDITION]
    assert data.status["conditions"] is DataStatus.COMPLETE
    assert [r.path for r in fake.requests] == ["Condition"]
    assert fake.requests[0].authorization == f"Bearer {TOKEN}"
    assert fake.requests[0].query["patient"] == "123"


async def test_no_prefetch_at_all_fetches_everything(client: httpx.AsyncClient) -> None:
    routes = {
        "Patient/123": Route.json(PATIENT),
        _route("labs"): Route.bundle([LAB, {"resourceType": "Specimen", "id": "s"}]),
        "Observation": Route.bundle([]),
        "QuestionnaireResponse": Route.bundle([]),
        "MedicationRequest": Route.bundle([]),
        "MedicationStatement": Route.bundle([]),
        "Condition": Route.bundle([CONDITION]),
    }
    with running_fhir_server(routes) as fake:
        data = await _gather(client, None, fake.base_url)
    assert data.patient == PATIENT
    assert [r["id"] for r in data.labs] == ["o1", "s"]
    assert data.status == dict.fromkeys(DATA_KEYS, DataStatus.COMPLETE)
    assert len(fake.requests) == len(PREFETCH_TEMPLATES)


async def test_null_key_means_no_data(client: httpx.AsyncClient) -> None:
    with running_fhir_server({}) as fake:
        data = await _gather(client, _nulls(), fake.base_url)
    assert data.conditions == []
    assert data.labs == []
    assert data.status["conditions"] is DataStatus.COMPLETE
    assert fake.requests == []


async def test_operation_outcome_key_is_refetched(client: httpx.AsyncClient) -> None:
    prefetch = _nulls(labs=OUTCOME)
    with running_fhir_server({_route("labs"): Route.bundle([LAB])}) as fake:
        data = await _gather(client, prefetch, fake.base_url)
    assert data.labs == [LAB]
    assert data.status["labs"] is DataStatus.COMPLETE
    assert [r.path for r in fake.requests] == ["Observation"]


async def test_operation_outcome_without_server_is_unavailable(
    client: httpx.AsyncClient,
) -> None:
    data = await _gather(client, _nulls(labs=OUTCOME), None)
    assert data.status["labs"] is DataStatus.UNAVAILABLE
    with pytest.raises(DataUnavailableError) as info:
        await _gather(client, _nulls(labs=OUTCOME), None, required={"labs"})
    assert info.value.key == "labs"


# Found by the integrator review (session 6): a search Bundle whose OperationOutcome entry says
# the search failed was read as "no such data", and absence rules fired (dhea-recheck-due
# offered a DHEA-S for a patient who had one last week).
def _with_outcome(resources: list[dict[str, Any]], severity: str) -> dict[str, Any]:
    bundle = searchset(resources)
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": "x"}]}
    bundle["entry"] = [
        *bundle.get("entry", []),
        {"resource": outcome, "search": {"mode": "outcome"}},
    ]
    return bundle


@pytest.mark.parametrize("severity", ["error", "fatal"])
async def test_a_bundle_reporting_a_failed_search_is_unavailable(
    client: httpx.AsyncClient, severity: str
) -> None:
    data = await _gather(client, _nulls(labs=_with_outcome([], severity)), None)
    assert data.status["labs"] is DataStatus.UNAVAILABLE


async def test_a_bundle_reporting_a_failed_search_keeps_its_results_as_incomplete(
    client: httpx.AsyncClient,
) -> None:
    data = await _gather(client, _nulls(labs=_with_outcome([LAB], "error")), None)
    assert data.labs == [LAB]
    assert data.status["labs"] is DataStatus.INCOMPLETE


async def test_a_bundle_reporting_a_failed_search_is_fetched_again(
    client: httpx.AsyncClient,
) -> None:
    refetched = {**LAB, "id": "o2"}
    with running_fhir_server({_route("labs"): Route.bundle([refetched])}) as fake:
        data = await _gather(client, _nulls(labs=_with_outcome([LAB], "error")), fake.base_url)
    assert data.labs == [refetched]  # the server's whole answer, not the client's part of it
    assert data.status["labs"] is DataStatus.COMPLETE


@pytest.mark.parametrize("severity", ["warning", "information"])
async def test_a_bundle_with_a_warning_outcome_is_complete(
    client: httpx.AsyncClient, severity: str
) -> None:
    data = await _gather(client, _nulls(labs=_with_outcome([LAB], severity)), None)
    assert data.labs == [LAB]
    assert data.status["labs"] is DataStatus.COMPLETE


async def test_required_key_failing_raises(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["patient"]
    with running_fhir_server({"Patient/123": Route.status(500)}) as fake:
        with pytest.raises(DataUnavailableError) as info:
            await _gather(client, prefetch, fake.base_url, required={"patient"})
        data = await _gather(client, prefetch, fake.base_url)
    assert info.value.key == "patient"
    assert "500" in info.value.reason
    assert data.status["patient"] is DataStatus.UNAVAILABLE
    assert data.patient is None


async def test_required_category_covers_its_keys(client: httpx.AsyncClient) -> None:
    prefetch = _nulls(medicationStatements=OUTCOME)
    with pytest.raises(DataUnavailableError) as info:
        await _gather(client, prefetch, None, required={"medications"})
    assert info.value.key == "medicationStatements"


async def test_deadline_is_respected(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["conditions"]
    del prefetch["labs"]
    routes = {_route("conditions"): Route.slow(5.0), _route("labs"): Route.bundle([LAB])}
    with running_fhir_server(routes) as fake:
        started = time.monotonic()
        data = await _gather(client, prefetch, fake.base_url, deadline_s=0.3)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert data.status["conditions"] is DataStatus.UNAVAILABLE
    assert data.labs == [LAB]
    assert data.status["labs"] is DataStatus.COMPLETE


async def test_paging_cut_short_is_incomplete(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["medicationRequests"]
    with running_fhir_server({"MedicationRequest": Route.endless()}) as fake:
        data = await _gather(client, prefetch, fake.base_url, page_cap=2)
    assert data.status["medications"] is DataStatus.INCOMPLETE
    assert len(fake.requests) == 2


async def test_paged_prefetch_bundle_is_followed(client: httpx.AsyncClient) -> None:
    with running_fhir_server(
        {"Condition": Route.json(searchset([{**CONDITION, "id": "c2"}]))}
    ) as fake:
        first = searchset([CONDITION], next_url=f"{fake.base_url}/Condition?patient=123&_page=2")
        data = await _gather(client, _nulls(conditions=first), fake.base_url)
    assert [c["id"] for c in data.conditions] == ["c1", "c2"]
    assert data.status["conditions"] is DataStatus.COMPLETE


async def test_paged_prefetch_bundle_without_server_is_incomplete(
    client: httpx.AsyncClient,
) -> None:
    first = searchset([CONDITION], next_url="https://ehr.example/fhir/Condition?page=2")
    data = await _gather(client, _nulls(conditions=first), None)
    assert data.conditions == [CONDITION]
    assert data.status["conditions"] is DataStatus.INCOMPLETE


async def test_missing_key_without_server_is_unavailable(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["conditions"]
    data = await _gather(client, prefetch, None)
    assert data.status["conditions"] is DataStatus.UNAVAILABLE


async def test_another_patients_record_is_dropped(client: httpx.AsyncClient) -> None:
    data = await _gather(client, _nulls(patient={"resourceType": "Patient", "id": "999"}), None)
    assert data.patient is None
    assert data.status["patient"] is DataStatus.UNAVAILABLE


# Found by the integrator review (session 6): an Observation or a MedicationStatement of
# another patient (a client's bug) gave this patient's cards; only a Patient was checked.
@pytest.mark.parametrize(
    "reference",
    [
        {"subject": {"reference": "Patient/999"}},
        {"subject": {"reference": "https://ehr.example/fhir/Patient/999"}},
        {"subject": {"reference": "Patient/999/_history/2"}},
        {"patient": {"reference": "Patient/999"}},
    ],
)
async def test_a_resource_of_another_patient_is_dropped(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, reference: dict[str, Any]
) -> None:
    mine = {**LAB, "subject": {"reference": "Patient/123"}}
    theirs = {**LAB, "id": "o9", **reference}
    data = await _gather(client, _nulls(labs=searchset([mine, theirs])), None)
    assert data.labs == [mine]
    # records mixed up: this patient's may be missing too (found by the review of session 6)
    assert data.status["labs"] is DataStatus.INCOMPLETE
    assert data.status["conditions"] is DataStatus.COMPLETE
    assert "dropped 1 resource(s) of another patient" in caplog.text
    assert "999" not in caplog.text


@pytest.mark.parametrize(
    "reference",
    [
        {"subject": {"reference": "https://ehr.example/fhir/Patient/123"}},
        {"subject": {"reference": "urn:uuid:0b1c6d2e-52f5-4a0b-9c6e-0f8f1c9a7e11"}},
        {"subject": {"display": "no reference"}},
        {},
    ],
)
async def test_a_resource_that_names_no_other_patient_is_kept(
    client: httpx.AsyncClient, reference: dict[str, Any]
) -> None:
    resource = {**LAB, **reference}
    data = await _gather(client, _nulls(labs=searchset([resource])), None)
    assert data.labs == [resource]
    assert data.status["labs"] is DataStatus.COMPLETE


# Found by a conformance review: a prefetched patient that was not the context's (or not a
# Patient at all), a null patient and a read answered 404 all gave 200 without the patient's
# cards; the rules need the patient (sex, age), so that is a 412.
@pytest.mark.parametrize(
    "wrong",
    [
        {"resourceType": "Patient", "id": "999"},
        {"resourceType": "Observation", "id": "o9"},
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": OUTCOME}]},
        None,
    ],
    ids=["other-patient", "not-a-patient", "bundle-without-patient", "null"],
)
async def test_a_required_patient_that_is_not_the_contexts_is_unavailable(
    client: httpx.AsyncClient, wrong: Any
) -> None:
    with pytest.raises(DataUnavailableError) as info:
        await _gather(client, _nulls(patient=wrong), None, required={"patient"})
    assert info.value.key == "patient"


async def test_a_wrong_prefetched_patient_is_fetched_again(client: httpx.AsyncClient) -> None:
    prefetch = _nulls(patient={"resourceType": "Patient", "id": "999"})
    with running_fhir_server({"Patient/123": Route.json(PATIENT)}) as fake:
        data = await _gather(client, prefetch, fake.base_url, required={"patient"})
    assert data.patient == PATIENT
    assert [r.path for r in fake.requests] == ["Patient/123"]


async def test_a_patient_read_answered_404_is_unavailable(client: httpx.AsyncClient) -> None:
    prefetch = _nulls()
    del prefetch["patient"]
    with (
        running_fhir_server({"Patient/123": Route.status(404)}) as fake,
        pytest.raises(DataUnavailableError) as info,
    ):
        await _gather(client, prefetch, fake.base_url, required={"patient"})
    assert "no Patient resource" in info.value.reason


# Found by a security review: a next link httpx cannot parse raised past the handler (500), and
# one with dot segments was blamed on fhirServer (400); it is that key's data that is cut short.
@pytest.mark.parametrize("next_url", ["Condition?x=\u0001", "a:b", "Condition/../../admin"])
async def test_an_unusable_next_link_leaves_its_key_incomplete(
    client: httpx.AsyncClient, next_url: str
) -> None:
    first = searchset([CONDITION], next_url=next_url)
    with running_fhir_server({}) as fake:
        data = await _gather(client, _nulls(conditions=first), fake.base_url)
    assert data.conditions == [CONDITION]
    assert data.status["conditions"] is DataStatus.INCOMPLETE


async def test_no_token_or_url_in_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    prefetch = _nulls()
    del prefetch["conditions"]
    with running_fhir_server({"Condition": Route.status(503)}) as fake:
        await _gather(client, prefetch, fake.base_url)
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "conditions" in text
    assert TOKEN not in text
    assert fake.base_url not in text
    assert "123" not in text
