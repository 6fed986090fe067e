"""The FastAPI application: wiring only; each concern lives in its own module."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from cds import __version__, heap
from cds.api import LivePack, Runtime, router
from cds.audit import AuditWriter
from cds.auth import TokenValidator, load_trusted_issuers
from cds.engine import RuleEngine
from cds.errors import RulePackError
from cds.fhir.fetch import make_fhir_client
from cds.middleware import AuthWarningMiddleware, BodyLimitMiddleware, InternalErrorMiddleware
from cds.observability import Metrics, configure_logging, log
from cds.outcome import operation_outcome
from cds.reload import Reloader
from cds.responses import JSONResponse
from cds.rules.pack import RulePack, load_pack
from cds.settings import Settings, get_settings
from cds.storage import StorageError, Store
from cds.web import include_web


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, corrected to what the service really does: request bodies of the
    endpoints that parse their own body go to components; no 422 (bad input is a 400 with an
    OperationOutcome); /metrics is Prometheus text."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for path, item in schema.get("paths", {}).items():
        for operation in item.values():
            components.update(operation.pop("x-components", {}))
            operation.get("responses", {}).pop("422", None)
            if path == "/metrics":
                operation["responses"]["200"]["content"] = {
                    "text/plain": {"schema": {"type": "string"}}
                }
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components and f"#/components/schemas/{unused}" not in str(
            schema.get("paths")
        ):
            components.pop(unused)
    app.openapi_schema = schema
    return schema


def app_or_refusal(settings: Settings) -> FastAPI | None:
    """:func:`create_app` for ``cds serve`` and its workers: None after telling the person at
    the console why it cannot start (the rule pack's problems, an unusable issuers file)."""
    try:
        return create_app(settings)
    except RulePackError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("refusing to start: the rule pack is invalid", file=sys.stderr)
    except ValueError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
    return None


def create_app(
    settings: Settings | None = None,
    pack: RulePack | None = None,
    *,
    clock: Callable[[], datetime] = _utcnow,
) -> FastAPI:
    """Build the app. Raises :class:`cds.errors.RulePackError` when the pack is invalid and
    ``ValueError`` when the trusted-issuers file is unusable."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    pack = pack or load_pack(settings.rules_dir, include_drafts=settings.include_draft_rules)
    http = make_fhir_client()
    validator = None
    if settings.auth == "jwt":
        if settings.trusted_issuers_file is None:
            raise ValueError("CDS_AUTH=jwt needs CDS_TRUSTED_ISSUERS_FILE (or CDS_AUTH=off)")
        validator = TokenValidator(load_trusted_issuers(settings.trusted_issuers_file), http=http)
    store = Store(settings.database_url, clock=clock)  # one clock for cards and their audit
    runtime = Runtime(
        settings,
        LivePack(pack, RuleEngine(pack)),
        store,
        AuditWriter(store),
        Metrics(),
        http,
        validator,
        clock,
    )
    # reloads the directory the live pack came from (settings.rules_dir unless a pack is given)
    reloader = Reloader(runtime, pack.directory, include_drafts=pack.include_drafts)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        runtime.store.migrate()
        runtime.audit.start()
        if settings.auth_warning:
            log.warning("auth_off", message=settings.auth_warning)
        for warning in settings.startup_warnings:
            log.warning("unsafe_setting", message=warning)
        await reloader.start(watch=settings.watch_rules)
        restore_sighup = reloader.own_sighup()
        heap.settle()  # after everything the process keeps is built: see cds/heap.py
        if not pack.live_rules:
            log.warning("no_active_rules", pack=pack.pack_hash, message="no card can be issued")
        log.info(
            "started", pack=pack.pack_hash, rules=len(pack.live_rules), watch=reloader.watching
        )
        yield
        restore_sighup()
        await reloader.stop()
        runtime.audit.stop()
        await http.aclose()
        runtime.store.close()

    app = FastAPI(
        title="Neurosteroid CDS",
        version=__version__,
        lifespan=lifespan,
        description="CDS Hooks 2.0 service for neurosteroid and DHEA/pregnenolone risks."
        + (f"\n\n**Warning: {settings.auth_warning}**" if settings.auth_warning else ""),
    )
    app.state.runtime = runtime
    app.state.reloader = reloader
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]

    def runtime_of(request: Request) -> Runtime:
        current: Runtime = request.app.state.runtime
        return current

    app.include_router(router(runtime_of))
    include_web(app, runtime_of)
    # The last one added runs first: CORS outside the others, so that every answer (413 and
    # 500 included) carries its headers to a browser client; the auth-off warning outermost.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(InternalErrorMiddleware)
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
    )
    if settings.auth_warning:
        app.add_middleware(AuthWarningMiddleware, warning=settings.auth_warning)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
        where = ".".join(str(p) for p in first["loc"])
        return operation_outcome(400, "invalid", f"{where}: {first['msg']}", where or None)

    @app.exception_handler(StorageError)
    async def store_down(_: Request, exc: StorageError) -> Response:
        """The database failed: 503, so the EHR may retry; the cause goes to the log only."""
        log.error("storage_error", error=str(exc)[:200])
        return operation_outcome(503, "transient", "the service's store is unavailable; retry")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        response = operation_outcome(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # Allow names every method of the path (RFC 9110 §15.5.6):
            # Starlette's names only the first route that matched it (GET and HEAD are two)
            path = request.url.path
            allowed = {
                method
                for route in app.router.routes
                if isinstance(route, Route) and route.path_regex.match(path)
                for method in route.methods or ()
            }
            if allowed:
                response.headers["Allow"] = ", ".join(sorted(allowed))
        return response

    @app.get("/livez", tags=["operations"])
    def livez() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    # probes may send HEAD (RFC 9110 §9.1: GET and HEAD); kept out of the OpenAPI document
    @app.head("/livez", include_in_schema=False)
    def livez_head() -> Response:
        return Response()

    @app.head("/readyz", include_in_schema=False)
    def readyz_head() -> Response:
        return Response(status_code=200 if _store_ready() else 503)

    def _store_ready() -> bool:
        current: Runtime = app.state.runtime
        return current.store.ping()

    @app.get("/readyz", tags=["operations"])
    def readyz() -> Response:
        """Ready to serve, with the live rule-pack manifest (rule ids@versions and hash) and the
        hot reload's state: when the live pack was loaded, and the last refused reload."""
        current: Runtime = app.state.runtime
        ok = _store_ready()
        body = {
            "status": "ready" if ok else "database unavailable",
            "pack": current.live.pack.manifest,
            "reload": reloader.status(),
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"])
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
