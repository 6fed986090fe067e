"""Run the real service on a free localhost port (uvicorn in a thread) for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import uvicorn

from cds.app import create_app
from cds.rules.pack import RulePack
from cds.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(
    tmp: Path,
    *,
    pack: RulePack | None = None,
    clock: Callable[[], datetime] | None = None,
    **overrides: object,
) -> Iterator[str]:
    """Start the service; yields its base URL (``http://127.0.0.1:PORT``)."""
    values: dict[str, object] = {"auth": "off", "database_url": f"sqlite:///{tmp / 'cds.db'}"}
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    kwargs = {"clock": clock} if clock else {}
    app = create_app(settings, pack, **kwargs)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
