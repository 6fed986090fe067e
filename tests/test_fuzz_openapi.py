"""Fuzzing the HTTP API: schemathesis over ``/openapi.json`` (auth off and auth jwt), plus a
hand-rolled hypothesis fuzzer for request bodies a schema cannot generate.

When this file was written the OpenAPI document declared no request body for the CDS endpoints
(they read the raw body and validate it themselves) and listed ``422`` instead of the 400s they
send; the document now describes both (``test_the_openapi_document_lists_every_operation``).
Bodies a schema cannot produce (random bytes, truncated and mutated real requests, random
feedback) are fuzzed by :func:`test_random_bodies_get_only_expected_statuses` and friends, which
accept only 200/400/404/412/413.

Bugs found here and not fixed in ``cds/`` are pinned by ``test_bug_*`` tests at the end of the
file that assert today's wrong answer: they fail the day the bug is fixed (then invert them).

Every request goes to 127.0.0.1 (real uvicorn servers from ``tests/service.py``); bodies never
carry a ``fhirServer``, so the service never fetches from anywhere.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import schemathesis
import yaml
from hookrequests import hook_request, sample
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postgres_server import create_database, postgres_server
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from service import running_service
from sqlalchemy import text

from cds.app import create_app
from cds.audit import AuditWriter
from cds.hooks import SERVICES
from cds.settings import Settings
from cds.storage import InvocationRecord, Store

AUTH_DATA = Path(__file__).parent / "data" / "auth"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
CHECKS = [not_a_server_error, response_schema_conformance]
EXPECTED = {200, 400, 404, 412, 413}
MAX_BODY = 16_384  # small, so that oversized bodies (413) are cheap to make
HOOK_OF = {service_id: hook for service_id, (hook, _, _) in SERVICES.items()}
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # no .hypothesis folder in the work tree; examples are random each run
)


# --------------------------------------------------------------------------------------------
# Services
# --------------------------------------------------------------------------------------------


def write_issuers(path: Path) -> Path:
    """Trusted issuers: the cds-hooks sandbox with ``tests/data/auth/sandbox-jwks.json`` inline."""
    jwks = json.loads((AUTH_DATA / "sandbox-jwks.json").read_text())
    doc = {
        "issuers": [
            {"iss": SANDBOX_ISS, "jwks": jwks, "jku": [f"{SANDBOX_ISS}/.well-known/jwks.json"]}
        ]
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def sandbox_token(aud: str) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": SANDBOX_ISS, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())},
        (AUTH_DATA / "sandbox-ecprivkey.pem").read_bytes(),
        algorithm="ES384",
        headers={"kid": KID, "typ": "JWT", "jku": f"{SANDBOX_ISS}/.well-known/jwks.json"},
    )


@pytest.fixture(scope="module")
def open_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz-open")
    with running_service(tmp, auth="off", max_body_bytes=MAX_BODY, log_level="error") as url:
        yield url


@pytest.fixture(scope="module")
def jwt_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz-jwt")
    issuers = write_issuers(tmp / "issuers.yaml")
    with running_service(
        tmp, auth="jwt", trusted_issuers_file=issuers, max_body_bytes=MAX_BODY, log_level="error"
    ) as url:
        yield url


def _openapi_document() -> dict[str, Any]:
    """The document ``/openapi.json`` serves (the same routes with auth off and jwt; with auth
    off the description carries the warning). Built at collection time because schemathesis'
    lazy ``from_fixture`` loader does not work with the installed pytest 9 (``'Function' object
    has no attribute '_nodeid'``); the tests below check that the live ``/openapi.json`` is this
    very document and send every case to the live server with ``base_url``."""
    settings = Settings(auth="off", database_url="sqlite://", log_level="error")
    return create_app(settings).openapi()


DOCUMENT = _openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


# --------------------------------------------------------------------------------------------
# 1. schemathesis over the OpenAPI document
# --------------------------------------------------------------------------------------------


def test_the_openapi_document_lists_every_operation(open_service: str, jwt_service: str) -> None:
    """What schemathesis fuzzes below, and the gaps this file works around (see the docstring)."""
    doc = httpx.get(f"{open_service}/openapi.json").json()
    assert doc == DOCUMENT
    with_jwt = httpx.get(f"{jwt_service}/openapi.json").json()
    assert with_jwt["paths"] == DOCUMENT["paths"]  # the description differs: auth-off warning
    operations = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    assert {
        ("GET", "/cds-services"),
        ("POST", "/cds-services/{service_id}"),
        ("POST", "/cds-services/{service_id}/feedback"),
        ("POST", "/explain/{service_id}"),
        ("GET", "/livez"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
    } <= operations
    posts = [doc["paths"][p]["post"] for m, p in operations if m == "POST"]
    # every POST documents its body, its OperationOutcome errors, and no 422 (never sent)
    assert all("requestBody" in op for op in posts)
    assert all("422" not in op["responses"] and "400" in op["responses"] for op in posts)


def _wrong_method(case: schemathesis.Case[Any]) -> bool:
    """schemathesis' coverage phase also sends methods the operation does not have (TRACE …)."""
    sent: str = case.method
    declared: str = case.operation.method
    return sent.upper() != declared.upper()


@schema.parametrize()
@FUZZ
def test_openapi_auth_off(case: schemathesis.Case[Any], open_service: str) -> None:
    response = case.call_and_validate(base_url=open_service, checks=CHECKS, timeout=30)
    if _wrong_method(case):
        assert response.status_code == 405, (case.method, case.formatted_path)
    else:
        assert response.status_code in EXPECTED, (case.method, case.formatted_path)


def _needs_token(case: schemathesis.Case[Any]) -> bool:
    """CDS Hooks operations and the POSTs (explain) need a token; the operations endpoints and
    the workbench's GET pages (rule catalogue: no patient data) are served without one."""
    operation = DOCUMENT["paths"][case.operation.path][case.operation.method.lower()]
    tags: list[str] = operation.get("tags", [])
    return "cds-hooks" in tags or case.operation.method.upper() == "POST"


@schema.parametrize()
@FUZZ
def test_openapi_auth_jwt(case: schemathesis.Case[Any], jwt_service: str) -> None:
    """Without a token every CDS operation on a known service answers 401 with no body; with a
    fresh sandbox token the same case gets what it gets with auth off."""
    path = case.formatted_path
    anonymous = case.call_and_validate(base_url=jwt_service, checks=CHECKS, timeout=30)
    service_id = case.path_parameters.get("service_id")
    if _wrong_method(case):
        assert anonymous.status_code in {401, 404, 405}, (case.method, path)
    elif not _needs_token(case):
        assert anonymous.status_code in EXPECTED, (case.method, path)
    elif service_id is None or service_id in SERVICES:
        # the body limit is checked before anything else: an oversized body is a 413 even
        # without a token
        assert anonymous.status_code in {401, 413}, (case.method, path)
        if anonymous.status_code == 401:
            assert anonymous.content == b""
        token = sandbox_token(f"{jwt_service}{path}")
        signed = case.call_and_validate(
            base_url=jwt_service,
            checks=CHECKS,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert signed.status_code in EXPECTED - {404}, (case.method, path)
    else:
        # An unknown service id is a 401 without a token (the token is checked first, so ids
        # are not revealed), and a path that matches no route is Starlette's 404.
        assert anonymous.status_code in {401, 404, 413}, (case.method, path)


# --------------------------------------------------------------------------------------------
# 2. Hand-rolled body fuzzing (what the OpenAPI document does not describe)
# --------------------------------------------------------------------------------------------

SAMPLE_NAMES = ["dhea-ssri-woman", "postpartum-zuranolone-benzo", "normal-nothing-to-flag"]
REAL: dict[tuple[str, str], bytes] = {}


def real_request(service_id: str, name: str) -> dict[str, Any]:
    return hook_request(HOOK_OF[service_id], sample(name))


def real_bytes(service_id: str, name: str) -> bytes:
    key = (service_id, name)
    if key not in REAL:
        REAL[key] = json.dumps(real_request(service_id, name)).encode()
    return REAL[key]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
service_ids = st.sampled_from(sorted(SERVICES))
endpoints = st.tuples(service_ids, st.sampled_from(["", "/feedback", "explain"])).map(
    lambda t: f"/explain/{t[0]}" if t[1] == "explain" else f"/cds-services/{t[0]}{t[1]}"
)


def _service_of(path: str) -> str:
    return next(s for s in SERVICES if s in path)


@st.composite
def truncated_real(draw: st.DrawFn, path: str) -> bytes:
    body = real_bytes(_service_of(path), draw(st.sampled_from(SAMPLE_NAMES)))
    return body[: draw(st.integers(min_value=0, max_value=len(body) - 1))]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


@st.composite
def mutated_real(draw: st.DrawFn, path: str) -> bytes:
    """A real request with one element replaced by random JSON or removed (never fhirServer)."""
    request = real_request(_service_of(path), draw(st.sampled_from(SAMPLE_NAMES)))
    where = draw(st.sampled_from([p for p in _paths(request) if p]))
    parent: Any = request
    for step in where[:-1]:
        parent = parent[step]
    if draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = draw(json_values)
    return json.dumps(request).encode()


offsets = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
# Years 2..9998 only: an offset that pushes a timestamp past datetime's range is a known 500,
# pinned by test_bug_feedback_timestamp_at_the_edge_of_the_calendar_is_a_500 below.
timestamps = st.builds(
    lambda moment, offset: moment.replace(tzinfo=timezone(offset)).isoformat(),
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31)),
    offsets,
)
feedback_entries = st.fixed_dictionaries(
    {
        "card": st.one_of(st.uuids().map(str), st.text(min_size=1, max_size=60)),
        "outcome": st.sampled_from(["accepted", "overridden", "maybe"]),
        "outcomeTimestamp": st.one_of(timestamps, st.text(max_size=30)),
    },
    optional={
        "acceptedSuggestions": st.lists(st.fixed_dictionaries({"id": st.text(max_size=20)})),
        "overrideReason": st.fixed_dictionaries(
            {},
            optional={
                "reason": st.fixed_dictionaries(
                    {},
                    optional={
                        "code": st.text(max_size=20),
                        "system": st.text(max_size=20),
                        "display": st.text(max_size=20) | st.none(),
                    },
                ),
                "userComment": st.text(max_size=200) | st.none(),
            },
        ),
        "extra": json_values,
    },
)
feedback_bodies = st.fixed_dictionaries({"feedback": st.lists(feedback_entries, max_size=4)}).map(
    lambda body: json.dumps(body).encode()
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(endpoints)
    kind = draw(st.sampled_from(["json", "bytes", "truncated", "mutated", "feedback", "huge"]))
    if kind == "json":
        body = json.dumps(draw(json_values)).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=2000))
    elif kind == "truncated":
        body = draw(truncated_real(path))
    elif kind == "mutated":
        body = draw(mutated_real(path))
    elif kind == "feedback":
        body = draw(feedback_bodies)
    else:
        body = real_bytes(_service_of(path), "dhea-ssri-woman").ljust(
            MAX_BODY + draw(st.integers(1, 4096))
        )
    return path, body


def _no_fhir_server(body: bytes) -> bool:
    """Never let a fuzzed body send the service to a FHIR server (traffic stays local)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return True
    return not (isinstance(parsed, dict) and "fhirServer" in parsed)


def _post(url: str, path: str, body: bytes, *, chunked: bool) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if chunked:  # no Content-Length: the body-limit middleware counts the stream instead
        return httpx.post(
            url + path, content=iter([body[:100], body[100:]]), headers=headers, timeout=30
        )
    return httpx.post(url + path, content=body, headers=headers, timeout=30)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(request=bodies(), chunked=st.booleans())
def test_random_bodies_get_only_expected_statuses(
    open_service: str, request: tuple[str, bytes], chunked: bool
) -> None:
    path, body = request
    if not _no_fhir_server(body):
        return
    response = _post(open_service, path, body, chunked=chunked)
    assert response.status_code in EXPECTED, (path, body[:300], response.text[:300])
    if response.status_code != 200:
        assert response.json()["resourceType"] == "OperationOutcome"
    if len(body) > MAX_BODY:
        assert response.status_code == 413


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(service_id=service_ids, body=feedback_bodies)
def test_random_feedback_is_stored_or_refused(
    open_service: str, service_id: str, body: bytes
) -> None:
    response = _post(open_service, f"/cds-services/{service_id}/feedback", body, chunked=False)
    assert response.status_code in {200, 400}, (body[:300], response.text[:300])
    if response.status_code == 200:
        assert response.json() == {"stored": len(json.loads(body)["feedback"])}


def test_wellformed_requests_still_work_after_fuzzing(open_service: str) -> None:
    """The fuzzing left the service answering (no wedged worker, no poisoned state)."""
    for service_id in SERVICES:
        response = httpx.post(
            f"{open_service}/cds-services/{service_id}",
            content=real_bytes(service_id, "dhea-ssri-woman"),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert "cards" in response.json()


# --------------------------------------------------------------------------------------------
# 3. Regressions for the bugs this fuzzing found (all fixed): input the store cannot hold is a
#    400, and one bad audit row no longer costs the rest of its batch.
# --------------------------------------------------------------------------------------------

FEEDBACK = "/cds-services/neurosteroid-patient-view/feedback"
PV = "/cds-services/neurosteroid-patient-view"


def _feedback(card: str, timestamp: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": timestamp}]}


# Found: 0001-01-01T00:00+01:00 / 9999-12-31T23:59-01:00 overflowed in astimezone(UTC) at the
#   store (500); the request model now refuses them
@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_feedback_timestamp_at_the_edge_of_the_calendar_is_a_400(
    open_service: str, timestamp: str
) -> None:
    response = httpx.post(open_service + FEEDBACK, json=_feedback("x", timestamp), timeout=30)
    assert response.status_code == 400
    assert "outcomeTimestamp" in response.json()["issue"][0]["diagnostics"]


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as database:
        yield database


@pytest.fixture(scope="module")
def postgres_service(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fuzz-pg")
    with running_service(tmp, database_url=postgres_url, log_level="critical") as url:
        yield url


# Found (PostgreSQL): a card id over 255 chars or with a NUL character was a 500; now a 400
@pytest.mark.parametrize("card", ["c" * 300, "a\u0000b"], ids=["long-card", "nul-card"])
def test_odd_card_ids_are_refused_with_a_400(postgres_service: str, card: str) -> None:
    response = httpx.post(postgres_service + FEEDBACK, json=_feedback(card), timeout=30)
    assert response.status_code == 400


def _invocation(hook_instance: str) -> InvocationRecord:
    return InvocationRecord(
        hook_instance=hook_instance,
        service_id="neurosteroid-patient-view",
        hook="patient-view",
        patient_key="k" * 64,
        rules_fired=[],
        pack_hash="p",
        latency_ms=1.0,
        status_code=200,
        outcome="no-cards",
    )


# Found (PostgreSQL): one row the database refuses (a hookInstance over 128 chars or with NUL,
#   now also refused by the request model) made the audit writer drop its whole batch
@pytest.mark.parametrize("poison", ["h" * 200, "a\u0000b"], ids=["long", "nul"])
def test_one_bad_audit_row_does_not_erase_the_others(postgres_url: str, poison: str) -> None:
    database = create_database(postgres_url, f"audit_{uuid.uuid4().hex[:12]}")
    store = Store(database)
    store.migrate()
    writer = AuditWriter(store)
    good = f"good-{uuid.uuid4()}"
    # Queued before the writer starts, so that both land in one batch (as under load).
    writer._queue.extend([(_invocation(good), []), (_invocation(poison), [])])
    writer.start()
    try:
        time.sleep(0.5)
        with store.engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM invocations WHERE hook_instance = :h"), {"h": good}
            ).scalar_one()
    finally:
        writer.stop()
        store.close()
    assert found == 1
