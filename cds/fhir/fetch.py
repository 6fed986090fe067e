"""Fetch prefetch data the CDS client did not send, from its FHIR server, under one deadline.

:func:`fetch_all` runs every query concurrently and always answers one outcome per key: it never
raises for anything the FHIR server does (errors, garbage, slowness, resets); it raises only for
programmer errors (a bad ``deadline_s``/``page_cap``, a query that is not relative).

Decisions:

- **One deadline for the whole call.** When it passes, every key still running becomes
  ``FetchFailed("deadline of X s passed")``; keys already finished keep their result.
- **404/410 on a read** (``Patient/123``, ``Patient/123/_history/2``) means the resource does not
  exist: ``FetchedResources(resources=[], complete=True)``, the same as a ``null`` prefetch value
  ("no such data"). **404 on a search** is a failure: the server does not support that type or
  query, and an empty answer would wrongly claim the patient has no such data.
- A 200 body that is an ``OperationOutcome``, not JSON, or JSON that is not a FHIR resource (an
  object with a string ``resourceType``) is a failure. A search must answer a ``Bundle``; a read
  must answer a resource of the type it asked for.
- Bundle entries with ``search.mode = "outcome"`` (informational OperationOutcomes) are dropped;
  ``match`` and ``include`` entries are kept, in server order, page after page. Entries with no
  ``resource`` are skipped. An OperationOutcome entry with an error or fatal issue ends the
  search: ``complete=False`` with the resources so far, or a failure when there are none.
- Paging follows ``link`` with ``relation = "next"``. A relative next URL is resolved against the
  FHIR base URL (FHIR's rule for relative URLs). A next link to another origin (scheme, host or
  port) is refused, so the bearer token never leaves the FHIR server; a next link back to a page
  already fetched is refused too. After ``page_cap`` pages, if a next link remains, the result is
  ``complete=False``.
- Redirects are not followed (the token must not be replayed elsewhere): a 3xx is a failure.
- No retries: within a sub-second budget a retry mostly turns a clear failure into a timeout.
- A response body over :data:`MAX_BODY_BYTES` is a failure (protects memory).
- Nothing here logs the access token. URLs (they carry patient ids) are logged at DEBUG only; the
  httpx logger's per-request INFO line is demoted to DEBUG by a filter that
  :func:`make_fhir_client` installs on the ``httpx`` logger (a process-wide side effect).
  ``FetchFailed.reason`` never holds the token, the URL, or text copied from the server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, Final

import httpx

from cds.fhir.egress import HostAddressError, Resolver, checked_client_transports, forbidden_address
from cds.fhir.outcomes import reports_failure

__all__ = [
    "MAX_BODY_BYTES",
    "FetchFailed",
    "FetchOutcome",
    "FetchedResources",
    "fetch_all",
    "make_fhir_client",
]

logger = logging.getLogger(__name__)

#: Largest response body accepted, per page.
MAX_BODY_BYTES: Final = 16 * 1024 * 1024

_FHIR_ID: Final = r"[A-Za-z0-9\-.]{1,64}"
_READ_RE: Final = re.compile(rf"([A-Z][A-Za-z]{{1,63}})/{_FHIR_ID}(?:/_history/{_FHIR_ID})?")
_NOT_FOUND: Final = frozenset({404, 410})


@dataclass(frozen=True)
class FetchedResources:
    """The data of one prefetch key.

    ``resources`` holds the Bundle entry resources of every page fetched (in order), or the single
    resource of a read (empty when the read found nothing). ``complete`` is False when the page
    cap stopped paging before the last page.
    """

    key: str
    resources: list[dict[str, Any]]
    complete: bool


@dataclass(frozen=True)
class FetchFailed:
    """One prefetch key could not be fetched. ``reason`` is short human text, safe to log."""

    key: str
    reason: str
    status: int | None = None


FetchOutcome = FetchedResources | FetchFailed


class _KeyFailedError(Exception):
    """Internal: ends the fetch of one key with a :class:`FetchFailed`."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class _DemoteToDebug(logging.Filter):
    """Demote httpx's INFO "HTTP Request: GET <url> ..." records to DEBUG (URLs carry ids).

    A demoted record goes on only when DEBUG is enabled for the ``httpx`` logger, so a service
    logging at INFO never emits it, not even labelled DEBUG.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO:
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
            return logging.getLogger("httpx").isEnabledFor(logging.DEBUG)
        return True


def _install_httpx_log_filter() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _DemoteToDebug) for f in httpx_logger.filters):
        httpx_logger.addFilter(_DemoteToDebug())


def make_fhir_client(
    *, max_connections: int = 50, resolve: Resolver | None = None
) -> httpx.AsyncClient:
    """A pooled client for FHIR servers; share one per process and close it at shutdown.

    Redirects are not followed, cookies are never stored (the client is shared between users and
    patients), ``Accept: application/fhir+json`` is sent. Timeouts are a backstop only: the
    deadline of :func:`fetch_all` is what bounds a call. Host names are resolved by the
    client's own transport, which refuses addresses no FHIR server has
    (:mod:`cds.fhir.egress`); ``resolve`` replaces the system resolver in tests. Proxies
    from the environment (``HTTPS_PROXY``, ``NO_PROXY``) are used as httpx would; a proxy
    resolves names itself, so through one only literal addresses are checked here.
    """
    if max_connections < 1:
        raise ValueError("max_connections must be at least 1")
    _install_httpx_log_filter()
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    transport, mounts = checked_client_transports(limits, resolve)
    return httpx.AsyncClient(
        headers={"Accept": "application/fhir+json"},
        follow_redirects=False,
        timeout=httpx.Timeout(10.0, connect=3.0, pool=3.0),
        transport=transport,
        mounts=mounts,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


async def fetch_all(
    client: httpx.AsyncClient,
    fhir_server: str,
    queries: Mapping[str, str],
    *,
    access_token: str | None,
    deadline_s: float = 2.0,
    page_cap: int = 10,
) -> dict[str, FetchOutcome]:
    """Fetch every query (prefetch key → rendered relative query) concurrently.

    Returns one outcome per key, in the order of ``queries``. The whole call ends within
    ``deadline_s`` (plus a few ms of cancellation). ``Authorization: Bearer <token>`` is sent only
    when ``access_token`` is non-empty.

    Raises :class:`ValueError` when ``deadline_s`` is not positive, ``page_cap`` is below 1 or
    ``fhir_server`` is not an absolute http(s) URL. A query that is not a relative FHIR query
    (absolute, starting with ``/``, with ``..`` segments, or no URL at all) fails its own key.
    """
    if not deadline_s > 0:
        raise ValueError("deadline_s must be positive")
    if page_cap < 1:
        raise ValueError("page_cap must be at least 1")
    base = _base_url(fhir_server)
    results: dict[str, FetchOutcome] = {}
    urls: dict[str, httpx.URL] = {}
    for key, query in queries.items():
        try:
            urls[key] = _query_url(base, query)
        except ValueError as exc:  # e.g. a next link the client sent: that key only
            results[key] = FetchFailed(key, str(exc))
    headers = {"Authorization": f"Bearer {access_token}"} if access_token else {}

    async def run(key: str, url: httpx.URL) -> None:
        results[key] = await _fetch_key(client, base, key, url, headers, page_cap)

    started = time.monotonic()
    try:
        async with asyncio.timeout(deadline_s), asyncio.TaskGroup() as group:
            for key, url in urls.items():
                group.create_task(run(key, url))
    except TimeoutError:
        pass
    elapsed = time.monotonic() - started

    outcomes: dict[str, FetchOutcome] = {}
    for key in queries:
        outcome = results.get(key)
        if outcome is None:
            outcome = FetchFailed(key, f"deadline of {float(deadline_s)} s passed")
        if isinstance(outcome, FetchFailed):
            logger.warning("FHIR fetch of prefetch key %r failed: %s", key, outcome.reason)
        outcomes[key] = outcome
    logger.debug("FHIR fetch of %d key(s) took %.3f s", len(queries), elapsed)
    return outcomes


def _base_url(fhir_server: str) -> httpx.URL:
    try:
        url = httpx.URL(fhir_server)
    except httpx.InvalidURL as exc:
        raise ValueError("fhir_server is not a valid URL") from exc
    if url.scheme not in {"http", "https"} or not url.host:
        raise ValueError("fhir_server must be an absolute http(s) URL")
    if _link_local(url.host):
        # cloud metadata endpoints live there; the request's token would be sent to them
        raise ValueError(
            "fhir_server must not be a link-local, unspecified or cloud metadata address"
        )
    if url.query or url.fragment:
        raise ValueError("fhir_server must not carry a query or a fragment")
    path = url.path if url.path.endswith("/") else url.path + "/"
    return url.copy_with(path=path)


def _query_url(base: httpx.URL, query: str) -> httpx.URL:
    path = query.split("?", 1)[0]
    if not path or path.startswith("/") or ":" in path or "\\" in path:
        raise ValueError("a prefetch query must be relative to the FHIR base URL")
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise ValueError("a prefetch query must not contain dot segments")
    try:
        url = httpx.URL(str(base) + query)
    except httpx.InvalidURL as exc:  # not a ValueError; e.g. over httpx's length limit
        raise ValueError("a prefetch query must be a valid URL") from exc
    if not _same_origin(url, base) or not url.path.startswith(base.path):
        raise ValueError("a prefetch query must stay under the FHIR base URL")
    return url


def _link_local(host: str) -> bool:
    """A host no FHIR server has, by its literal (:func:`~cds.fhir.egress.forbidden_address`)
    or a cloud metadata name. Names are also checked after resolution (:mod:`cds.fhir.egress`);
    this refuses the request before anything is sent, with a clear reason."""
    try:
        return forbidden_address(host.strip("[]"))
    except ValueError:
        return host.rstrip(".").lower() in {"metadata.google.internal", "metadata"}


def _named(resource_type: str) -> str:
    """A resource type the server sent, fit for a log line (it could hold a forged line)."""
    return resource_type if resource_type.isalnum() and len(resource_type) <= 40 else "(junk)"


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def _is_read(base: httpx.URL, url: httpx.URL) -> str | None:
    """The resource type when ``url`` is a read (``Type/id`` or a vread), else None.

    The path alone decides: ``Patient/1?_elements=id`` is still a read.
    """
    raw_path = url.raw_path.decode("ascii").split("?", 1)[0]
    match = _READ_RE.fullmatch(raw_path[len(base.raw_path) :])
    return match.group(1) if match else None


async def _fetch_key(
    client: httpx.AsyncClient,
    base: httpx.URL,
    key: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    page_cap: int,
) -> FetchOutcome:
    try:
        read_type = _is_read(base, url)
        if read_type is not None:
            resource = await _get_resource(client, url, headers, missing_ok=True)
            if resource is None:
                return FetchedResources(key, [], complete=True)
            if resource["resourceType"] != read_type:
                raise _KeyFailedError(
                    f"a read of {read_type} answered a {_named(resource['resourceType'])}"
                )
            return FetchedResources(key, [resource], complete=True)
        return await _search(client, base, key, url, headers, page_cap)
    except _KeyFailedError as failure:
        return FetchFailed(key, failure.reason, failure.status)


async def _search(
    client: httpx.AsyncClient,
    base: httpx.URL,
    key: str,
    url: httpx.URL,
    headers: Mapping[str, str],
    page_cap: int,
) -> FetchedResources:
    resources: list[dict[str, Any]] = []
    seen = {str(url)}
    next_url: httpx.URL | None = url
    pages = 0
    while next_url is not None and pages < page_cap:
        bundle = await _get_resource(client, next_url, headers, missing_ok=False)
        assert bundle is not None  # missing_ok=False never answers None
        if bundle["resourceType"] != "Bundle":
            raise _KeyFailedError(
                f"a search answered a {_named(bundle['resourceType'])}, not a Bundle"
            )
        pages += 1
        page, failed = _entry_resources(bundle)
        resources.extend(page)
        if failed:  # the server says this answer is not whole: keep what came, say so
            if not resources:
                raise _KeyFailedError("the FHIR server's search reported an error")
            return FetchedResources(key, resources, complete=False)
        next_url = _next_link(base, bundle)
        if next_url is not None:
            if str(next_url) in seen:
                raise _KeyFailedError("paging loops back to a page already fetched")
            seen.add(str(next_url))
    return FetchedResources(key, resources, complete=next_url is None)


async def _get_resource(
    client: httpx.AsyncClient,
    url: httpx.URL,
    headers: Mapping[str, str],
    *,
    missing_ok: bool,
) -> dict[str, Any] | None:
    logger.debug("FHIR GET %s", url)
    try:
        async with client.stream("GET", url, headers=headers, follow_redirects=False) as response:
            status = response.status_code
            if missing_ok and status in _NOT_FOUND:
                return None
            if 300 <= status < 400:
                raise _KeyFailedError(
                    f"FHIR server answered {status} (redirects are not followed)", status
                )
            if status != 200:
                raise _KeyFailedError(f"FHIR server answered {status}", status)
            body = await _read_capped(response)
    except httpx.TimeoutException as exc:
        raise _KeyFailedError(f"FHIR server timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        if isinstance(exc.__cause__, HostAddressError):
            raise _KeyFailedError(str(exc.__cause__)) from None
        raise _KeyFailedError(
            f"connection to the FHIR server failed ({type(exc).__name__})"
        ) from None
    return _parse_resource(body)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _KeyFailedError(f"response is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_resource(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _KeyFailedError("response is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise _KeyFailedError("response is JSON but not a FHIR resource")
    if document["resourceType"] == "OperationOutcome":
        raise _KeyFailedError(
            f"FHIR server answered an OperationOutcome ({_outcome_summary(document)})"
        )
    return document


def _outcome_summary(outcome: Mapping[str, Any]) -> str:
    """``severity: code`` of the first issue; never diagnostics text (it may echo patient data)."""
    issues = outcome.get("issue")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        severity = issues[0].get("severity")
        code = issues[0].get("code")
        if isinstance(severity, str) and isinstance(code, str):
            return f"{_short(severity)}: {_short(code)}"
    return "no issue details"


def _short(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-]", "", text)[:40]


def _entry_resources(bundle: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The resources of a search page, and whether an OperationOutcome among its entries
    reports a failure (:func:`~cds.fhir.outcomes.reports_failure`)."""
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise _KeyFailedError("Bundle.entry is not a list")
    resources: list[dict[str, Any]] = []
    failed = False
    for entry in entries:
        if not isinstance(entry, dict):
            raise _KeyFailedError("a Bundle entry is not an object")
        resource = entry.get("resource")
        if isinstance(resource, dict) and resource.get("resourceType") == "OperationOutcome":
            failed = failed or reports_failure(resource)
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        if "resource" not in entry:
            continue
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise _KeyFailedError("a Bundle entry holds something that is not a FHIR resource")
        resources.append(resource)
    return resources, failed


def _next_link(base: httpx.URL, bundle: Mapping[str, Any]) -> httpx.URL | None:
    links = bundle.get("link", [])
    if not isinstance(links, list):
        raise _KeyFailedError("Bundle.link is not a list")
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            target = link.get("url")
            if not isinstance(target, str) or not target:
                raise _KeyFailedError("the Bundle's next link has no url")
            try:
                url = base.join(target)
            except httpx.InvalidURL:
                raise _KeyFailedError("the Bundle's next link is not a valid URL") from None
            if not _same_origin(url, base):
                raise _KeyFailedError("the Bundle's next link points to another host; not followed")
            return url
    return None
