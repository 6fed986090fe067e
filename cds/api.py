"""The CDS Hooks endpoints: discovery, service calls and feedback.

The request flows one way: body → :mod:`cds.hooks` models → :mod:`cds.context` (prefetch or FHIR
fetch) → facts → :class:`cds.engine.RuleEngine` → :mod:`cds.cards` → response, with an audit row
and metrics on the side.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.background import BackgroundTask

from cds.assessment import assess
from cds.audit import AuditWriter
from cds.auth import TokenValidator
from cds.cards import IssuedCard
from cds.context.normalise import PatientData
from cds.context.prefetch import gather, prefetch_templates
from cds.engine import RuleEngine
from cds.errors import AuthError, DataUnavailableError, RequestError
from cds.facts import EPOCH
from cds.hooks import SERVICES, FeedbackBody, FieldError, HookInstance, HookRequest
from cds.observability import Metrics, log
from cds.outcome import operation_outcome
from cds.privacy import patient_key
from cds.responses import JSONResponse
from cds.rules.durations import duration_days
from cds.rules.pack import RulePack
from cds.settings import Settings
from cds.storage import FeedbackItem, InvocationRecord, IssuedCardRecord, Store

REQUIRED_KEYS = {"patient"}
_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class LivePack:
    """A rule pack and the engine compiled from it: replaced together, in one assignment, so
    a request never sees half of a reload."""

    pack: RulePack
    engine: RuleEngine


@dataclass
class Runtime:
    """What the app holds for its lifetime. ``live`` is swapped atomically by hot reload; a
    request reads it once and keeps that pair to the end."""

    settings: Settings
    live: LivePack
    store: Store
    audit: AuditWriter
    metrics: Metrics
    http: httpx.AsyncClient
    validator: TokenValidator | None
    clock: Callable[[], datetime]


OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
}
_ERRORS = {
    400: "Malformed request: the OperationOutcome names the bad field",
    401: "Missing or invalid bearer token (no body)",
    404: "Unknown CDS service",
    412: "Data the rules need could not be obtained (prefetch key and reason)",
    413: "Request body over the limit",
    503: "The service's store is unavailable; retry",
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI requestBody for an endpoint that parses its raw body itself (so that the
    token is checked before the body), with the model's schema inlined."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "x-components": defs,
    }


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == 401:
            out[code] = {"description": _ERRORS[code]}
        else:
            out[code] = {
                "description": _ERRORS[code],
                "content": {"application/fhir+json": {"schema": OPERATION_OUTCOME_SCHEMA}},
            }
    return out


def parse_json(raw: bytes) -> Any:
    """The request body as JSON; ``RequestError`` when it is not JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"body: not valid JSON: {exc}") from exc


def parse_body(model: type[_Model], raw: bytes) -> _Model:
    """The request body as ``model``. orjson then ``model_validate``: half the time of
    ``model_validate_json`` on a hook request, whose prefetch pydantic leaves as plain data.
    Raises ``RequestError`` for a body that is not JSON, ``ValidationError`` for a bad field."""
    return model.model_validate(parse_json(raw))


def bad_request(exc: ValidationError | RequestError) -> JSONResponse:
    """400 with an OperationOutcome naming the first bad field."""
    if isinstance(exc, RequestError):
        return operation_outcome(400, "invalid", exc.message, exc.location)
    first = exc.errors()[0]
    if isinstance(cause := first.get("ctx", {}).get("error"), FieldError):
        return operation_outcome(400, "invalid", str(cause), cause.field)
    where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
    return operation_outcome(400, "invalid", f"{where or 'body'}: {first['msg']}", where or None)


def _audience(request: Request, settings: Settings) -> str:
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + request.url.path
    return str(request.url.replace(query=""))


async def authorise(request: Request, runtime: Runtime) -> Response | None:
    """None when the call may proceed, else the 401 to send (with no detail)."""
    if runtime.validator is None:
        return None
    try:
        await runtime.validator.validate(
            request.headers.get("authorization"), _audience(request, runtime.settings)
        )
    except AuthError as exc:
        log.info("auth_refused", path=request.url.path, reason=str(exc))
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    return None


def router(runtime_of: Callable[[Request], Runtime]) -> APIRouter:
    api = APIRouter()

    @api.get("/cds-services", tags=["cds-hooks"])
    async def discovery(request: Request) -> Response:
        """The services this CDS Service offers (CDS Hooks discovery)."""
        runtime = runtime_of(request)
        if (refused := await authorise(request, runtime)) is not None:
            return refused
        services = [
            {
                "hook": hook,
                "id": service_id,
                "title": title,
                "description": description,
                "prefetch": prefetch_templates(hook),
            }
            for service_id, (hook, title, description) in SERVICES.items()
        ]
        return JSONResponse({"services": services})

    @api.post(
        "/cds-services/{service_id}",
        tags=["cds-hooks"],
        openapi_extra=request_body(HookRequest),
        responses=error_responses(400, 401, 404, 412, 413, 503),
    )
    async def call_service(service_id: str, request: Request) -> Response:
        """Evaluate the rules of a hook and return cards (``{"cards": []}`` when none apply)."""
        runtime = runtime_of(request)
        started = time.perf_counter()
        parsed = await _hook_request(service_id, request, runtime)
        if isinstance(parsed, Refusal):
            if parsed.response.status_code == 400:
                _record_malformed(runtime, service_id, parsed.hook_instance, started)
            return parsed.response
        hook, hook_request = parsed
        return await _evaluate(runtime, service_id, hook, hook_request, started)

    @api.post(
        "/explain/{service_id}",
        tags=["workbench"],
        openapi_extra=request_body(HookRequest),
        responses=error_responses(400, 401, 404, 412, 413),
    )
    async def explain_service(service_id: str, request: Request) -> Response:
        """Like a service call, but answers with the explanation (facts, matches, near misses)
        beside the cards. For the sandbox and informaticists; nothing is stored."""
        runtime = runtime_of(request)
        parsed = await _hook_request(service_id, request, runtime)
        if isinstance(parsed, Refusal):
            return parsed.response
        return await explain_request(runtime, *parsed)

    @api.post(
        "/cds-services/{service_id}/feedback",
        tags=["cds-hooks"],
        openapi_extra=request_body(FeedbackBody),
        responses=error_responses(400, 401, 404, 413, 503),
    )
    async def feedback(service_id: str, request: Request) -> Response:
        """Store feedback on cards (accepted / overridden, suggestions, override reasons)."""
        runtime = runtime_of(request)
        if (refused := await _known_and_allowed(service_id, request, runtime)) is not None:
            return refused
        try:
            body = parse_body(FeedbackBody, await request.body())
        except (ValidationError, RequestError) as exc:
            return bad_request(exc)
        items = [
            FeedbackItem(
                card_uuid=entry.card,
                outcome=entry.outcome,
                accepted_suggestions=[s.id for s in entry.acceptedSuggestions],
                override_reason_system=_reason(entry, "system"),
                override_reason_code=_reason(entry, "code"),
                override_reason_display=_reason(entry, "display"),
                override_comment=entry.overrideReason.userComment if entry.overrideReason else None,
                outcome_timestamp=entry.outcomeTimestamp,  # aware UTC (FeedbackEntry)
            )
            for entry in body.feedback
        ]
        await run_in_threadpool(runtime.audit.flush)  # the cards it refers to are on record
        rule_ids = await run_in_threadpool(
            runtime.store.record_feedback, service_id, items, runtime.live.pack.override_display
        )
        for item, rule_id in zip(items, rule_ids, strict=True):
            runtime.metrics.feedback.labels(rule_id or "unknown", item.outcome).inc()
        log.info("feedback", service=service_id, items=len(rule_ids))
        return JSONResponse({"stored": len(rule_ids)})

    return api


async def _known_and_allowed(
    service_id: str, request: Request, runtime: Runtime
) -> Response | None:
    """401 for a refused token, 404 for an unknown service, else None. The token first: a
    caller without one must not learn which service ids exist."""
    if (refused := await authorise(request, runtime)) is not None:
        return refused
    if service_id not in SERVICES:
        return operation_outcome(404, "not-found", f"no CDS service '{service_id}'")
    return None


@dataclass(frozen=True)
class Refusal:
    """A hook call answered before evaluation (401, 404 or 400), with the ``hookInstance`` a
    refused body carried when it is one that can be stored (else "")."""

    response: Response
    hook_instance: str = ""


_HOOK_INSTANCE: TypeAdapter[str] = TypeAdapter(HookInstance)


def _sent_hook_instance(data: Any) -> str:
    sent = data.get("hookInstance") if isinstance(data, dict) else None
    try:
        return _HOOK_INSTANCE.validate_python(sent)
    except ValidationError:
        return ""


async def _hook_request(
    service_id: str, request: Request, runtime: Runtime
) -> tuple[str, HookRequest] | Refusal:
    """The hook and the parsed request, or the refusal (404, 401 or 400)."""
    if (refused := await _known_and_allowed(service_id, request, runtime)) is not None:
        return Refusal(refused)
    hook = SERVICES[service_id][0]
    try:
        data = parse_json(await request.body())
    except RequestError as exc:
        return Refusal(bad_request(exc))
    # the service first: an order-sign body sent to patient-view would otherwise be told
    # about its draft orders (the checks of the hook it names)
    sent = data.get("hook") if isinstance(data, dict) else None
    if isinstance(sent, str) and sent != hook:
        message = f"service '{service_id}' serves {hook}, not {sent[:40]!r}"
        refusal = operation_outcome(400, "invalid", message, "hook")
        return Refusal(refusal, _sent_hook_instance(data))
    try:
        return hook, HookRequest.model_validate(data)
    except (ValidationError, RequestError) as exc:
        return Refusal(bad_request(exc), _sent_hook_instance(data))


def _reason(entry: Any, field: str) -> str | None:
    reason = entry.overrideReason.reason if entry.overrideReason else None
    value = getattr(reason, field, None) if reason is not None else None
    return value if isinstance(value, str) and value else None


async def _patient_data(runtime: Runtime, hook_request: HookRequest) -> PatientData:
    """The request's patient data, from its prefetch and (for what is missing) the FHIR server.
    Raises DataUnavailableError (→ 412) or RequestError (→ 400)."""
    settings = runtime.settings
    token = hook_request.fhirAuthorization.access_token if hook_request.fhirAuthorization else None
    return await gather(
        hook_request.prefetch,
        context=hook_request.context.model_dump(exclude_none=True),
        fhir_server=hook_request.fhirServer,
        access_token=token,
        client=runtime.http,
        deadline_s=settings.fetch_deadline_s,
        page_cap=settings.fetch_page_cap,
        required=REQUIRED_KEYS,
    )


def unavailable(exc: DataUnavailableError) -> Response:
    return operation_outcome(
        412, "not-found", f"prefetch '{exc.key}' could not be obtained: {exc.reason}", exc.key
    )


async def explain_request(runtime: Runtime, hook: str, hook_request: HookRequest) -> Response:
    """Facts built (and resources skipped), rules fired with the facts they matched, rules that
    came close, and the cards: what the sandbox's "why" panel shows. Nothing is stored."""
    live = runtime.live
    pack, engine = live.pack, live.engine
    try:
        data = await _patient_data(runtime, hook_request)
    except DataUnavailableError as exc:
        return unavailable(exc)
    except RequestError as exc:
        return bad_request(exc)
    now = runtime.clock()
    result = assess(
        pack,
        engine,
        data,
        hook=hook,
        now=now,
        patient_id=hook_request.context.patientId,
        draft_orders=hook_request.context.draftOrders,
        selections=hook_request.context.selections,
        explained=True,
    )
    assert result.explanation is not None
    body = result.explanation.as_json()
    body["cards"] = [c.card for c in result.cards]
    body["now"] = now.isoformat()
    return JSONResponse(body)


async def _evaluate(
    runtime: Runtime, service_id: str, hook: str, hook_request: HookRequest, started: float
) -> Response:
    settings = runtime.settings
    live = runtime.live  # one consistent pair for this request, even across a reload
    pack, engine = live.pack, live.engine
    key = patient_key(hook_request.context.patientId, settings.patient_key_secret.encode())
    now = runtime.clock()
    issued: list[IssuedCard] = []
    try:
        data = await _patient_data(runtime, hook_request)
    except DataUnavailableError as exc:
        status_code, outcome = 412, "412"
        response: Response = unavailable(exc)
    except RequestError as exc:
        status_code, outcome = 400, "400"
        response = bad_request(exc)
    else:
        assessment = assess(
            pack,
            engine,
            data,
            hook=hook,
            now=now,
            patient_id=hook_request.context.patientId,
            draft_orders=hook_request.context.draftOrders,
            selections=hook_request.context.selections,
        )
        issued = assessment.cards
        if runtime.store.is_local or not any(pack.by_id[c.rule_id].rule.memory for c in issued):
            # a local SQLite read (~20 µs, plain sqlite3: see cds/storage) beats a thread hop
            issued = _remembered(runtime, pack, issued, key, now)
        else:  # a network round trip to PostgreSQL must not block the event loop
            issued = await run_in_threadpool(_remembered, runtime, pack, issued, key, now)
        status_code, outcome = 200, "cards" if issued else "no-cards"
        for card in issued:
            runtime.metrics.cards.labels(card.rule_id, card.card["indicator"]).inc()
        response = JSONResponse({"cards": [c.card for c in issued]})
        # Freeing the parsed body and its facts takes ~0.5 ms on a 300-resource history: the
        # response holds them until it has been sent, so the EHR does not wait for it.
        response.background = BackgroundTask(_release, hook_request, data, assessment)
    _record(
        runtime,
        Call(service_id, hook, hook_request.hookInstance, key, pack.pack_hash, started, now),
        status_code,
        outcome,
        issued,
    )
    return response


@dataclass(frozen=True)
class Call:
    """What the audit row and the log line of one hook call say about it, whatever its end."""

    service_id: str
    hook: str
    hook_instance: str  # "" when a malformed body carried none that could be stored
    patient_key: str | None
    pack_hash: str
    started: float
    now: datetime


def _record(
    runtime: Runtime, call: Call, status_code: int, outcome: str, issued: list[IssuedCard]
) -> None:
    """The audit row, the latency metric and the JSON log line of one hook call."""
    elapsed = time.perf_counter() - call.started
    fired = sorted({f"{c.rule_id}@{c.rule_version}" for c in issued})
    runtime.audit.submit(
        InvocationRecord(
            hook_instance=call.hook_instance,
            service_id=call.service_id,
            hook=call.hook,
            patient_key=call.patient_key,
            rules_fired=fired,
            pack_hash=call.pack_hash,
            latency_ms=elapsed * 1000,
            status_code=status_code,
            outcome=outcome,
            created_at=call.now,  # the clock the rules saw: analytics' periods and card memory
        ),
        [
            IssuedCardRecord(
                card_uuid=c.card["uuid"],
                rule_id=c.rule_id,
                rule_version=c.rule_version,
                finding_key=c.finding_key,
            )
            for c in issued
        ],
    )
    runtime.metrics.latency.labels(call.service_id, str(status_code)).observe(elapsed)
    log.info(
        "hook",
        hook_instance=call.hook_instance,
        service=call.service_id,
        status=status_code,
        outcome=outcome,
        rules=fired,
        pack=call.pack_hash,
        ms=round(elapsed * 1000, 2),
    )


def _record_malformed(
    runtime: Runtime, service_id: str, hook_instance: str, started: float
) -> None:
    """A 400 for a body the models refused is audited too, under the hookInstance it sent
    when that one could be stored (an integrator looks for it)."""
    call = Call(
        service_id,
        SERVICES[service_id][0],
        hook_instance,
        None,
        runtime.live.pack.pack_hash,
        started,
        runtime.clock(),
    )
    _record(runtime, call, 400, "400", [])


async def _release(*_held: object) -> None:
    """Nothing to do: the references this task holds are dropped with it, after the response
    was sent. A coroutine, so that Starlette awaits it instead of hopping to a thread."""


def _remembered(
    runtime: Runtime, pack: RulePack, issued: list[IssuedCard], key: str, now: datetime
) -> list[IssuedCard]:
    """Drop cards that card memory silences (feedback already given), and replace raw finding
    keys by keyed hashes (they hold resource ids, which may embed patient ids). One query for
    every remembered rule of the request."""
    secret = runtime.settings.patient_key_secret.encode()
    hashed = [replace(c, finding_key=patient_key(c.finding_key, secret)) for c in issued]
    remembered = {c.rule_id: pack.by_id[c.rule_id].rule.memory for c in hashed}
    remembered = {rule_id: m for rule_id, m in remembered.items() if m is not None}
    if not remembered:
        return hashed
    previous = runtime.store.memory_for(key, sorted(remembered), EPOCH)
    kept = []
    for card in hashed:
        memory = remembered.get(card.rule_id)
        if memory is not None:
            mine = [(finding, at) for rule_id, finding, at in previous if rule_id == card.rule_id]
            window = memory.quiet_after_feedback
            if window and any(at >= now - timedelta(days=duration_days(window)) for _, at in mine):
                continue
            if memory.once_per and any(finding == card.finding_key for finding, _ in mine):
                continue
        kept.append(card)
    return kept
