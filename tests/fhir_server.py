"""A fake FHIR server for tests: real HTTP on 127.0.0.1, one thread per connection.

Usage::

    routes = {
        "Patient/123": Route.json({"resourceType": "Patient", "id": "123"}),
        "Observation?patient=123": Route.paged([[obs1, obs2], [obs3]]),
        "Condition": Route.status(500),
    }
    with running_fhir_server(routes) as server:
        ...  # server.base_url == "http://127.0.0.1:<port>/fhir"
        assert server.requests[0].authorization == "Bearer t0ken"

A route key is a path relative to the base URL, optionally with a query. A request matches the
route whose key has the same path and the same query parameters (in any order, ignoring
``_page``); failing that, the route keyed by the path alone. Anything else answers 404 with an
OperationOutcome.

Behaviours: ``json`` (any body and status), ``paged`` (searchset pages linked by ``_page=N``,
absolute or relative next links), ``endless`` (every page links to another), ``status`` (an
error status with an OperationOutcome body), ``garbage`` (200, not JSON), ``outcome`` (200 with an
OperationOutcome), ``slow`` (answers after a delay, or never if the server stops first), ``reset``
(closes the socket abruptly with a TCP RST). Slow handlers wait on an event that is set when the
server shuts down, so the suite never hangs on them.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["FhirServer", "RecordedRequest", "Route", "running_fhir_server"]

Kind = Literal["json", "paged", "endless", "garbage", "slow", "reset"]
BASE_PATH = "/fhir"


@dataclass(frozen=True)
class Route:
    """How the fake server answers one path (or path + query). Build with the class methods."""

    kind: Kind
    body: Any = None
    status_code: int = 200
    pages: Sequence[Sequence[dict[str, Any]]] = ()
    relative_links: bool = False
    next_url: str | None = None
    delay_s: float = 0.0
    raw: bytes = b""

    @classmethod
    def json(cls, body: Any, status: int = 200) -> Route:
        """Answer ``body`` as JSON with ``status``."""
        return cls("json", body=body, status_code=status)

    @classmethod
    def bundle(cls, resources: Sequence[dict[str, Any]], *, next_url: str | None = None) -> Route:
        """One searchset Bundle; ``next_url`` (verbatim) becomes its next link when given."""
        return cls("paged", pages=[resources], next_url=next_url)

    @classmethod
    def paged(
        cls, pages: Sequence[Sequence[dict[str, Any]]], *, relative_links: bool = False
    ) -> Route:
        """Searchset pages; page N links to ``<same query>&_page=N+1`` while pages remain."""
        return cls("paged", pages=pages, relative_links=relative_links)

    @classmethod
    def endless(cls) -> Route:
        """Every page holds one Observation ``p<N>`` and links to page N+1."""
        return cls("endless")

    @classmethod
    def status(cls, status: int) -> Route:
        """Answer ``status`` with an OperationOutcome body."""
        return cls("json", body=operation_outcome("error", "processing"), status_code=status)

    @classmethod
    def outcome(cls) -> Route:
        """Answer 200 with an OperationOutcome body."""
        return cls("json", body=operation_outcome("error", "not-supported"))

    @classmethod
    def garbage(cls, raw: bytes = b"<html>this is not JSON</html>") -> Route:
        """Answer 200 with a body that is not JSON."""
        return cls("garbage", raw=raw)

    @classmethod
    def slow(cls, delay_s: float, body: Any = None) -> Route:
        """Answer ``body`` (an empty Bundle by default) after ``delay_s`` seconds."""
        return cls("slow", delay_s=delay_s, body=body if body is not None else searchset([]))

    @classmethod
    def reset(cls) -> Route:
        """Read the request, then close the connection with a TCP RST and no answer."""
        return cls("reset")


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake server received. ``path`` is relative to the base URL."""

    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    accept: str | None
    host: str | None = None


def operation_outcome(severity: str, code: str) -> dict[str, Any]:
    """A one-issue OperationOutcome."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": "fake server says no"}],
    }


def searchset(resources: Sequence[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle holding ``resources``, with a next link when ``next_url`` is given."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _normalise(query: Mapping[str, str]) -> str:
    return urlencode(sorted((k, v) for k, v in query.items() if k != "_page"))


@dataclass
class FhirServer:
    """A running fake FHIR server. ``base_url`` has no trailing slash."""

    base_url: str
    routes: dict[str, Route]
    stopping: threading.Event = field(default_factory=threading.Event)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def route_for(self, path: str, query: Mapping[str, str]) -> Route | None:
        wanted = _normalise(query)
        for key, route in self.routes.items():
            key_path, sep, key_query = key.partition("?")
            if sep and key_path == path and _normalise(dict(parse_qsl(key_query))) == wanted:
                return route
        return self.routes.get(path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops the 6th concurrent SYN (the kernel retries it
    # after 1 s): a request without prefetch opens one connection per key, 7 at once
    request_queue_size = 64
    fhir: FhirServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (deadlines, resets) are normal here: stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections end on their own
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def do_GET(self) -> None:
        fhir = self.server.fhir
        parts = urlsplit(self.path)
        path = parts.path.removeprefix(BASE_PATH).lstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        fhir.record(
            RecordedRequest(
                method="GET",
                path=path,
                query=query,
                authorization=self.headers.get("Authorization"),
                accept=self.headers.get("Accept"),
                host=self.headers.get("Host"),
            )
        )
        route = fhir.route_for(path, query) if parts.path.startswith(BASE_PATH) else None
        if route is None:
            self._send_json(404, operation_outcome("error", "not-found"))
            return
        page = int(query.get("_page", "1"))
        if route.kind == "json":
            self._send_json(route.status_code, route.body)
        elif route.kind == "garbage":
            self._send(200, route.raw, "text/html")
        elif route.kind == "slow":
            if fhir.stopping.wait(route.delay_s):
                self.close_connection = True
                return
            self._send_json(route.status_code, route.body)
        elif route.kind == "reset":
            self._reset()
        elif route.kind == "endless":
            resource = {"resourceType": "Observation", "id": f"p{page}"}
            self._send_json(200, searchset([resource], self._page_url(path, query, page + 1)))
        else:  # paged
            resources = route.pages[page - 1] if page <= len(route.pages) else []
            if route.next_url is not None:
                next_url: str | None = route.next_url
            elif page < len(route.pages):
                next_url = self._page_url(path, query, page + 1, relative=route.relative_links)
            else:
                next_url = None
            self._send_json(200, searchset(resources, next_url))

    def _page_url(
        self, path: str, query: Mapping[str, str], page: int, *, relative: bool = False
    ) -> str:
        params = {**query, "_page": str(page)}
        target = f"{path}?{urlencode(params)}"
        return target if relative else f"{self.server.fhir.base_url}/{target}"

    def _send_json(self, status: int, body: Any) -> None:
        self._send(status, json.dumps(body).encode(), "application/fhir+json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


@contextmanager
def running_fhir_server(routes: Mapping[str, Route]) -> Iterator[FhirServer]:
    """Run a fake FHIR server on 127.0.0.1 (a free port) for the duration of the ``with``."""
    httpd = _Server(("127.0.0.1", 0), _Handler)
    host, port = httpd.server_address[:2]
    fhir = FhirServer(base_url=f"http://{host!s}:{port}{BASE_PATH}", routes=dict(routes))
    httpd.fhir = fhir
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield fhir
    finally:
        fhir.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
