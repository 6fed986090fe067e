"""Pure ASGI middlewares: the body limit with the auth-off warning header, and the last
resort for an unexpected error.

Starlette's ``@app.middleware("http")`` wraps every request in extra tasks and streams; at our
request rates that cost more than the rules engine, so these work on the ASGI messages.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cds.observability import log, raised_at
from cds.outcome import operation_outcome


class AuthWarningMiddleware:
    """``X-CDS-Auth-Warning`` on every response while authentication is off: outermost, so
    that CORS preflight answers, 413s and the last-resort 500 carry it too."""

    def __init__(self, app: ASGIApp, *, warning: str) -> None:
        self.app = app
        self.header = (b"x-cds-auth-warning", warning.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_warning(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_warning)


class BodyLimitMiddleware:
    """413 for a body over ``limit`` bytes, by Content-Length or by counting what arrives."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and not length.isdigit():
            response = operation_outcome(400, "invalid", "Content-Length is not a number")
            await response(scope, receive, send)
            return
        if length is not None and int(length) > self.limit:
            await self._too_long(scope, receive, send)
            return
        received = 0
        too_long = False

        async def counting_receive() -> Message:
            nonlocal received, too_long
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_long = True
                    raise _TooLongError
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLongError:
            await self._too_long(scope, receive, send)
        except Exception:
            if too_long:
                await self._too_long(scope, receive, send)
                return
            raise

    async def _too_long(self, scope: Scope, receive: Receive, send: Any) -> None:
        response = operation_outcome(413, "too-long", f"request body over {self.limit} bytes")
        await response(scope, receive, send)


class _TooLongError(Exception):
    """Raised inside the app's receive when the body passes the limit."""


class InternalErrorMiddleware:
    """A 500 OperationOutcome for an exception nothing else handled, logged by type and place
    only: the message of an exception raised while reading patient data may quote that data,
    and Starlette's own last resort logs the whole traceback (message included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            log.error(
                "internal_error",
                path=scope.get("path", "")[:64],
                error=type(exc).__name__,
                at=raised_at(exc),
            )
            if started:  # too late for another response: end the connection
                raise
            response = operation_outcome(500, "exception", "internal error; see the service log")
            await response(scope, receive, send)
