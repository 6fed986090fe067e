"""The CDS Hooks HTTP API, end to end against a real uvicorn server on localhost."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_server import Route, running_fhir_server
from hookrequests import hook_request, sample
from packbuilder import make_pack
from processes import wait_for
from service import running_service
from sqlalchemy import select

from cds.middleware import BodyLimitMiddleware
from cds.rules.pack import load_pack
from cds.storage import Store
from cds.storage.models import FeedbackRow, InvocationRow, IssuedCardRow

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
PV = "/cds-services/neurosteroid-patient-view"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("api")
    pack = load_pack(make_pack(tmp, [], with_mini_rules=True, real_terminology=True))
    with running_service(tmp, pack=pack, clock=lambda: NOW) as url:
        yield url, tmp


def _no_empty_values(node: Any, where: str = "") -> None:
    """CDS Hooks: optional elements are omitted, never null, "", [] or {}."""
    if isinstance(node, dict):
        assert node, f"empty object at {where}"
        for key, value in node.items():
            assert value is not None, f"null at {where}.{key}"
            assert value != "", f"empty string at {where}.{key}"
            _no_empty_values(value, f"{where}.{key}")
    elif isinstance(node, list):
        assert node, f"empty list at {where}"
        for i, value in enumerate(node):
            _no_empty_values(value, f"{where}[{i}]")


def test_discovery_lists_the_three_services(service: tuple[str, Path]) -> None:
    url, _ = service
    body = httpx.get(f"{url}/cds-services").json()
    assert {(s["id"], s["hook"]) for s in body["services"]} == {
        ("neurosteroid-patient-view", "patient-view"),
        ("neurosteroid-order-select", "order-select"),
        ("neurosteroid-order-sign", "order-sign"),
    }
    for svc in body["services"]:
        assert svc["title"]
        assert svc["description"]
        assert svc["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    _no_empty_values(body)


def test_patient_view_returns_cards_that_follow_the_spec(service: tuple[str, Path]) -> None:
    url, _ = service
    response = httpx.post(
        f"{url}{PV}", json=hook_request("patient-view", sample("dhea-ssri-woman"))
    )
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    by_rule = {c["extension"]["neurosteroid-cds"]["ruleId"]: c for c in cards}
    assert set(by_rule) == {"dhea-unsupervised", "dhea-s-high"}
    high = by_rule["dhea-s-high"]
    assert high["indicator"] == "warning"
    assert "410" in high["summary"]
    assert "256" in high["summary"]
    assert cards[0] is high or cards[0]["indicator"] == "warning"  # most urgent first
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["source"]["label"]
        assert card["uuid"]
        assert "**Evidence:**" in card["detail"]
        assert card["extension"]["neurosteroid-cds"]["ruleVersion"] == "1.0.0"
        _no_empty_values(card)


def test_a_patient_with_nothing_to_flag_gets_an_empty_card_list(
    service: tuple[str, Path],
) -> None:
    url, _ = service
    body = hook_request("patient-view", sample("normal-nothing-to-flag"))
    response = httpx.post(f"{url}{PV}", json=body)
    assert response.json() == {"cards": []}


@pytest.mark.parametrize(
    ("body", "expression"),
    [
        ({"hook": "patient-view", "hookInstance": "x"}, "context"),
        (
            {"hook": "patient-view", "hookInstance": "x", "context": {"userId": "P/1"}},
            "context.patientId",
        ),
        (  # a FHIR id has at most 64 characters (a 70,000-character one was a 500)
            {
                "hook": "patient-view",
                "hookInstance": "x",
                "context": {"userId": "P/1", "patientId": "p" * 65},
            },
            "context.patientId",
        ),
        (  # an order-sign body sent to patient-view: the service is wrong, not its drafts
            {
                "hook": "order-sign",
                "hookInstance": "x",
                "context": {"userId": "P/1", "patientId": "1"},
            },
            "hook",
        ),
    ],
)
def test_malformed_requests_get_400_naming_the_field(
    service: tuple[str, Path], body: dict[str, Any], expression: str | None
) -> None:
    url, _ = service
    response = httpx.post(f"{url}{PV}", json=body)
    assert response.status_code == 400
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    if expression:
        assert outcome["issue"][0]["expression"] == [expression]


# Found by a conformance review: checks across fields answered "body: Value error, ..." with
# no expression
@pytest.mark.parametrize(
    ("changes", "expression"),
    [
        ({"context": {"userId": "P/1", "patientId": "1"}}, "context.draftOrders"),
        (
            {
                "fhirAuthorization": {
                    "access_token": "t",
                    "token_type": "Bearer",
                    "scope": "s",
                    "subject": "c",
                }
            },
            "fhirServer",
        ),
    ],
)
def test_checks_across_fields_name_the_field(
    service: tuple[str, Path], changes: dict[str, Any], expression: str
) -> None:
    url, _ = service
    body = hook_request("order-sign", sample("postpartum-zuranolone-benzo"))
    body.update(changes)
    response = httpx.post(f"{url}/cds-services/neurosteroid-order-sign", json=body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == [expression]
    assert issue["diagnostics"].startswith(expression)


def test_not_json_is_a_400_and_unknown_service_a_404(service: tuple[str, Path]) -> None:
    url, _ = service
    response = httpx.post(
        f"{url}{PV}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "not valid JSON" in response.json()["issue"][0]["diagnostics"]
    for bad in (b"\xff\xfe{}", b'{"hook": "patient-view", "n": 123456789012345678901234567890}'):
        refused = httpx.post(
            f"{url}{PV}", content=bad, headers={"content-type": "application/json"}
        )
        assert refused.status_code == 400, bad
        assert refused.json()["resourceType"] == "OperationOutcome"
    missing = httpx.post(f"{url}/cds-services/nope", json={})
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_a_body_over_the_limit_is_a_413(service: tuple[str, Path]) -> None:
    url, _ = service
    origin = {"Origin": "https://sandbox.cds-hooks.org"}
    response = httpx.post(f"{url}{PV}", content=b"x" * (1_048_576 + 1), headers=origin)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-long"
    # with CORS headers, or a browser client sees only a network error
    assert "access-control-allow-origin" in response.headers


def test_a_content_length_that_is_not_a_number_is_a_400() -> None:
    # uvicorn's parsers refuse such a request before the app sees it; other ASGI servers may
    # pass the header through, so the middleware itself is driven here
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be called")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": PV, "headers": [(b"content-length", b"abc")]}
    asyncio.run(BodyLimitMiddleware(app, limit=1024)(scope, receive, send))
    assert sent[0]["status"] == 400


def test_no_patient_and_no_fhir_server_is_a_412(service: tuple[str, Path]) -> None:
    url, _ = service
    body = hook_request("patient-view", sample("dhea-ssri-woman"), prefetch=False)
    response = httpx.post(f"{url}{PV}", json=body)
    assert response.status_code == 412
    assert "patient" in response.json()["issue"][0]["diagnostics"]


def test_refused_hook_calls_are_audited_too(service: tuple[str, Path]) -> None:
    # issue 4: "an audit row per invocation" - a 412 or a 400 is an invocation an integrator
    # will look for by its hookInstance
    url, tmp = service
    store = Store(f"sqlite:///{tmp / 'cds.db'}")
    columns = (
        InvocationRow.hook_instance,
        InvocationRow.status_code,
        InvocationRow.outcome,
        InvocationRow.patient_key,
        InvocationRow.created_at,
    )

    def rows(hook_instance: str) -> list[Any]:
        with store.engine.connect() as connection:
            query = select(*columns).where(InvocationRow.hook_instance == hook_instance)
            query = query.order_by(InvocationRow.id)
            return list(connection.execute(query))

    unavailable = hook_request("patient-view", sample("dhea-ssri-woman"), prefetch=False)
    malformed = {"hook": "patient-view", "hookInstance": "audit-malformed-1", "context": {}}
    try:
        unnamed_before = len(rows(""))  # earlier tests of this module sent such bodies too
        assert httpx.post(f"{url}{PV}", json=unavailable).status_code == 412
        assert httpx.post(f"{url}{PV}", json=malformed).status_code == 400
        assert httpx.post(f"{url}{PV}", content=b"{not json").status_code == 400
        wait_for(
            "the audit rows",  # the audit writer drains its queue every 50 ms
            lambda: (
                rows(unavailable["hookInstance"])
                and rows("audit-malformed-1")
                and len(rows("")) > unnamed_before
            ),
            timeout=10,
        )
        (refused,) = rows(unavailable["hookInstance"])
        (named,) = rows("audit-malformed-1")
        unnamed = rows("")[unnamed_before:]
    finally:
        store.close()
    assert (refused.status_code, refused.outcome, refused.created_at) == (412, "412", NOW)
    assert refused.patient_key  # the keyed hash, as for every other call
    assert (named.status_code, named.patient_key) == (400, None)
    assert [(r.status_code, r.patient_key) for r in unnamed] == [(400, None)]


def test_missing_prefetch_is_fetched_from_the_fhir_server(service: tuple[str, Path]) -> None:
    url, _ = service
    bundle = sample("dhea-ssri-woman")
    body = hook_request("patient-view", bundle)
    patient = body["prefetch"].pop("patient")
    labs = body["prefetch"].pop("labs")
    routes = {
        f"Patient/{patient['id']}": Route.json(patient),
        "Observation": Route.json(labs),
    }
    with running_fhir_server(routes) as fhir:
        body["fhirServer"] = fhir.base_url
        body["fhirAuthorization"] = {
            "access_token": "secret-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        }
        response = httpx.post(f"{url}{PV}", json=body)
        assert response.status_code == 200, response.text
        rules = {c["extension"]["neurosteroid-cds"]["ruleId"] for c in response.json()["cards"]}
        assert "dhea-s-high" in rules
        assert all(r.authorization == "Bearer secret-token" for r in fhir.requests)


def test_feedback_is_stored_with_the_rule_of_the_card(service: tuple[str, Path]) -> None:
    url, tmp = service
    cards = httpx.post(
        f"{url}{PV}", json=hook_request("patient-view", sample("dhea-ssri-woman"))
    ).json()["cards"]
    accepted, overridden = cards[0], cards[1]
    feedback = {
        "feedback": [
            {
                "card": accepted["uuid"],
                "outcome": "accepted",
                "outcomeTimestamp": "2026-11-29T09:01:00Z",
            },
            {
                "card": overridden["uuid"],
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {"code": "patient-informed", "system": "https://example.org/reasons"},
                    "userComment": "discussed",
                },
                "outcomeTimestamp": "2026-11-29T09:02:00Z",
            },
        ]
    }
    response = httpx.post(f"{url}{PV}/feedback", json=feedback)
    assert response.status_code == 200, response.text
    store = Store(f"sqlite:///{tmp / 'cds.db'}")
    stats = {s.rule_id: s for s in store.rule_stats(NOW.replace(year=2020), datetime.now(UTC))}
    rule_a = accepted["extension"]["neurosteroid-cds"]["ruleId"]
    rule_o = overridden["extension"]["neurosteroid-cds"]["ruleId"]
    assert stats[rule_a].accepted >= 1
    assert stats[rule_o].overridden >= 1
    metrics = httpx.get(f"{url}/metrics").text
    assert f'cds_feedback_total{{outcome="overridden",rule_id="{rule_o}"}}' in metrics


# Found by the integrator review (session 6): the spec's own feedback example sends the
# override reason's code and system only, and one code ("managed-by-specialist") means
# different things on different rules' cards: the clinician's reason was lost.
def test_an_override_reason_without_display_is_stored_with_the_display_offered(
    tmp_path: Path,
) -> None:
    with running_service(tmp_path, pack=load_pack(ROOT / "rules"), clock=lambda: NOW) as url:
        _feedback_without_display(url, tmp_path)


def _feedback_without_display(url: str, tmp: Path) -> None:
    cards = httpx.post(
        f"{url}{PV}", json=hook_request("patient-view", sample("dhea-ssri-woman"))
    ).json()["cards"]
    card = next(c for c in cards if c.get("overrideReasons"))
    offered = card["overrideReasons"][-1]
    reasons = [
        {"code": offered["code"], "system": offered["system"]},  # the spec's example shape
        {"code": offered["code"], "system": offered["system"], "display": "as the EHR said"},
        {"code": "not-offered", "system": offered["system"]},
    ]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": reason},
                "outcomeTimestamp": "2026-11-29T09:02:00Z",
            }
            for reason in reasons
        ]
    }
    assert httpx.post(f"{url}{PV}/feedback", json=feedback).status_code == 200
    store = Store(f"sqlite:///{tmp / 'cds.db'}")
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(FeedbackRow.override_reason_code, FeedbackRow.override_reason_display).where(
                FeedbackRow.card_uuid == card["uuid"]
            )
        ).all()
    assert sorted(rows) == sorted(
        [
            (offered["code"], offered["display"]),
            (offered["code"], "as the EHR said"),
            ("not-offered", None),
        ]
    )


def test_bad_feedback_is_a_400(service: tuple[str, Path]) -> None:
    url, _ = service
    response = httpx.post(
        f"{url}{PV}/feedback", json={"feedback": [{"card": "x", "outcome": "maybe"}]}
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_operations_endpoints(service: tuple[str, Path]) -> None:
    url, _ = service
    assert httpx.get(f"{url}/livez").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/readyz").json()
    assert "dhea-s-high@1.0.0" in ready["pack"]["rules"]
    assert len(ready["pack"]["hash"]) == 16
    assert "cds_request_seconds" in httpx.get(f"{url}/metrics").text
    assert httpx.get(f"{url}/openapi.json").status_code == 200
    assert httpx.get(f"{url}/docs").status_code == 200


# Found by the integrator review (session 6): a 405 had no Allow header (Starlette's was
# dropped when the answer became an OperationOutcome), and probes sending HEAD got 405.
def test_a_wrong_method_is_a_405_with_allow_and_probes_answer_head(
    service: tuple[str, Path],
) -> None:
    url, _ = service
    wrong = httpx.delete(f"{url}/cds-services/neurosteroid-patient-view")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    assert wrong.json()["resourceType"] == "OperationOutcome"
    for path in ("/livez", "/readyz"):
        head = httpx.head(f"{url}{path}")
        assert head.status_code == 200, path
        assert head.content == b""
        # GET and HEAD are two routes: Allow names both (found by the review of session 6)
        assert httpx.post(f"{url}{path}").headers["allow"] == "GET, HEAD", path


def test_cors_preflight_on_cds_endpoints(service: tuple[str, Path]) -> None:
    url, _ = service
    response = httpx.options(
        f"{url}{PV}",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")


def test_auth_off_is_announced_on_every_response(service: tuple[str, Path]) -> None:
    url, _ = service
    preflight = {"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"}
    request = hook_request("patient-view", sample("dhea-ssri-woman"))
    answers = {
        "livez": httpx.get(f"{url}/livez"),
        "cards": httpx.post(f"{url}{PV}", json=request),
        "400": httpx.post(f"{url}{PV}", json={}),
        "404": httpx.get(f"{url}/cds-services/nope"),
        "413": httpx.post(f"{url}{PV}", content=b"x" * (2 << 20)),
        "preflight": httpx.options(f"{url}{PV}", headers=preflight),
        "sandbox": httpx.get(f"{url}/sandbox"),
    }
    missing = [name for name, r in answers.items() if "X-CDS-Auth-Warning" not in r.headers]
    assert missing == []
    # /docs shows the OpenAPI description: the warning is written there too
    assert "Warning: " in httpx.get(f"{url}/openapi.json").json()["info"]["description"]


def test_the_sandbox_serves_the_samples_beside_the_rule_pack(tmp_path: Path) -> None:
    # As in the Docker image: /app/rules and /app/samples, no source checkout around them
    rules_dir = make_pack(tmp_path, [], with_mini_rules=True, real_terminology=True)
    beside = rules_dir.parent / "samples" / "patients"
    beside.mkdir(parents=True)
    (beside / "only-one.json").write_text(json.dumps(sample("dhea-ssri-woman")))
    (beside.parent / "README.md").write_text("| `only-one.json` | the one sample here |\n")
    with running_service(tmp_path, pack=load_pack(rules_dir), rules_dir=rules_dir) as url:
        listing = httpx.get(f"{url}/sandbox/samples").json()["samples"]
        built = httpx.get(f"{url}/sandbox/samples/only-one?hook=patient-view")
        missing = httpx.get(f"{url}/sandbox/samples/dhea-ssri-woman")
    assert [(s["name"], s["description"]) for s in listing] == [("only-one", "the one sample here")]
    assert built.status_code == 200
    assert (
        built.json()["prefetch"]["patient"]["id"]
        == sample("dhea-ssri-woman")["entry"][0]["resource"]["id"]
    )
    assert missing.status_code == 404


def test_audit_rows_and_feedback_carry_the_services_clock(service: tuple[str, Path]) -> None:
    # The rules, the audit and analytics share one clock: with a clock fixed on 29 Nov, the
    # cards of a call made later in real time are still counted on 29 Nov.
    url, tmp = service
    request = hook_request("patient-view", sample("dhea-ssri-woman"))
    card = httpx.post(f"{url}{PV}", json=request).json()["cards"][0]
    feedback = {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": NOW.isoformat()}
    assert httpx.post(f"{url}{PV}/feedback", json={"feedback": [feedback]}).status_code == 200
    store = Store(f"sqlite:///{tmp / 'cds.db'}")
    try:
        with store.engine.connect() as connection:
            called = connection.execute(
                select(InvocationRow.created_at).where(
                    InvocationRow.hook_instance == request["hookInstance"]
                )
            ).scalar_one()
            issued = connection.execute(
                select(IssuedCardRow.created_at).where(IssuedCardRow.card_uuid == card["uuid"])
            ).scalar_one()
            received = connection.execute(
                select(FeedbackRow.received_at).where(FeedbackRow.card_uuid == card["uuid"])
            ).scalar_one()
    finally:
        store.close()
    assert called == issued == received == NOW


def test_the_parsed_request_is_freed_after_the_response_is_sent(
    service: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Freeing a 300-resource history takes ~0.5 ms: the EHR must have its cards before that.
    from cds import api
    from cds.assessment import Assessment
    from cds.context.normalise import PatientData
    from cds.hooks import HookRequest

    url, _ = service
    answered = threading.Event()
    held: list[type] = []
    released_after_answer: list[bool] = []

    async def release(*objects: object) -> None:
        held.extend(type(o) for o in objects)
        for _ in range(500):  # the client must get its response while the objects are held
            if answered.is_set():
                break
            await asyncio.sleep(0.01)
        released_after_answer.append(answered.is_set())

    monkeypatch.setattr(api, "_release", release)
    response = httpx.post(f"{url}{PV}", json=hook_request("patient-view", sample("history-heavy")))
    answered.set()
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 10
    while not released_after_answer and time.monotonic() < deadline:
        time.sleep(0.01)
    assert released_after_answer == [True]
    assert held == [HookRequest, PatientData, Assessment]


@pytest.mark.parametrize("unit", ["<", "(", "mg/day ("])
@pytest.mark.parametrize("where", ["valueQuantity", "referenceRange", "doseQuantity"])
def test_a_malformed_unit_in_patient_data_is_not_a_500(
    service: tuple[str, Path], where: str, unit: str
) -> None:
    url, _ = service
    bundle = sample("dhea-ssri-woman")
    changed = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if where == "valueQuantity" and "valueQuantity" in resource:
            resource["valueQuantity"]["unit"] = resource["valueQuantity"]["code"] = unit
            changed += 1
        elif where == "referenceRange" and resource.get("referenceRange"):
            resource["referenceRange"][0]["low"]["unit"] = unit
            resource["referenceRange"][0]["low"].pop("code", None)
            changed += 1
        elif where == "doseQuantity":
            for dosage in resource.get("dosageInstruction", resource.get("dosage", [])):
                for dose in dosage.get("doseAndRate", []):
                    dose["doseQuantity"]["unit"] = unit
                    dose["doseQuantity"].pop("code", None)
                    changed += 1
    assert changed
    response = httpx.post(f"{url}{PV}", json=hook_request("patient-view", bundle))
    assert response.status_code == 200, response.text
