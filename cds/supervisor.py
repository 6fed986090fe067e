"""``cds serve --workers N``: N uvicorn worker processes on one port, restarted when they die.

Each worker binds its own socket to the port with ``SO_REUSEPORT`` once its app is built, and
the kernel spreads new connections evenly over the workers that listen. (With one socket shared
by all, whichever worker woke first accepted a burst of connections: 26/6 of 32 keep-alive
connections in one measurement, one worker queueing while the other idled.) A worker that dies
takes its socket with it, so new connections go to the living ones until the replacement
listens; only connections already waiting in the dead worker's backlog are lost. While no
worker listens (start-up; every worker dead at once) connections are refused rather than queued:
orchestrators should wait for ``/readyz``, as they do anyway. The supervisor
checks at start that nobody else uses the port, then holds it with a bound socket that never
listens (so it stays ours while every worker restarts). Every worker builds its own app (rule
pack, engine, database pool) from the same ``CDS_*`` environment.

Why not ``uvicorn --workers``: the installed uvicorn's supervisor does restart dead workers, but
it answers SIGHUP by replacing every worker, where we forward SIGHUP to the workers (the rule-pack
hot reload will handle it in-process), and it needs the app as an import string.

Signals to the supervisor:

- SIGTERM / SIGINT: forwarded to the workers as SIGTERM (uvicorn's graceful shutdown: finish the
  requests in flight); workers still alive after ``GRACE_S`` get SIGKILL. Exit status 0.
- SIGHUP: forwarded to every worker. A worker that is still starting keeps SIGHUP blocked until
  its handler is installed, so the signal never kills it. Each worker then reloads its rule
  pack (:mod:`cds.reload`: an invalid pack is refused and the last good one keeps serving).

A worker that dies (SIGKILL, segfault, out of memory) is replaced within ``POLL_S``; one that
keeps dying right after its start is restarted with a growing delay (at most ``MAX_BACKOFF_S``).
A worker that exits with ``EXIT_CONFIG`` found the configuration unusable (invalid rule pack,
unusable trusted-issuers file): restarting cannot help, so the supervisor stops every worker and
returns 1. Workers stop by themselves when the supervisor disappears (SIGKILL of the supervisor).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import Any

EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: the worker refuses to start, do not restart it
POLL_S = 0.1  # how often the supervisor looks for dead workers
GRACE_S = 20.0  # SIGTERM → SIGKILL delay on shutdown (keep below Kubernetes' 30 s grace period)
FAST_DEATH_S = 5.0  # a worker that dies sooner than this after its start counts as a fast death
MAX_BACKOFF_S = 10.0
PARENT_WATCH_S = 0.5  # how often a worker checks that its supervisor is still there


def _say(message: str, level: str = "info") -> None:
    """A JSON log line on stderr, as the workers write theirs (the supervisor imports no
    logging set-up: it must stay small and start fast)."""
    line = {
        "event": "supervisor",
        "pid": os.getpid(),
        "message": message,
        "level": level,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def _address(host: str, port: int) -> tuple[int, int, int, Any]:
    """(family, type, protocol, address) to bind ``host:port`` (IPv4 or IPv6 after ``host``)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, kind, proto, address


def reuseport_socket(host: str, port: int, *, reuse_address: bool = True) -> socket.socket:
    """A socket bound to ``host:port`` with ``SO_REUSEPORT``, not listening yet."""
    family, kind, proto, address = _address(host, port)
    sock = socket.socket(family, kind, proto)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def reserve_port(host: str, port: int) -> socket.socket:
    """Check that ``host:port`` is free (a plain bind: it fails when anyone, another ``cds
    serve`` included, holds the port), then hold it for the workers: a bound, never listening
    ``SO_REUSEPORT`` socket. Port 0 picks a free port (see ``getsockname()``)."""
    family, kind, proto, address = _address(host, port)
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        port = probe.getsockname()[1]
    # no SO_REUSEADDR here: a bound socket that does not listen would let another SO_REUSEADDR
    # probe (a second ``cds serve``) bind beside it while no worker listens yet
    return reuseport_socket(host, port, reuse_address=False)


@dataclass
class _Slot:
    """One worker position: the current process, when it started and its run of fast deaths."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    fast_deaths: int = 0
    restart_at: float = 0.0


@dataclass
class Supervisor:
    reservation: socket.socket  # holds the port; the workers bind their own sockets
    workers: int
    host: str
    port: int
    grace_s: float = GRACE_S
    slots: list[_Slot] = field(default_factory=list)
    _signals: list[int] = field(default_factory=list)
    _stopping: bool = False
    _exit_code: int = 0

    def worker_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "cds.supervisor",
            "--worker",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]

    def _spawn(self, slot: _Slot) -> None:
        # SIGHUP stays blocked in the child (the mask survives fork and exec) until the worker
        # has its own handler; the default action would kill a worker that is still importing.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            slot.process = subprocess.Popen(self.worker_command(), close_fds=True)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        slot.started = time.monotonic()
        _say(f"worker {slot.index} started, pid {slot.process.pid}")

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum in (signal.SIGTERM, signal.SIGINT):
                if not self._stopping:
                    _say(f"{signal.Signals(signum).name}: stopping the workers")
                self._stopping = True
            elif signum == signal.SIGHUP:
                _say("SIGHUP: forwarding to the workers")
                self._send_all(signal.SIGHUP)

    def _send_all(self, signum: int) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.process.pid, signum)

    def _reap_and_restart(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None:
                code = process.poll()
                if code is None:
                    continue
                slot.process = None
                if code == EXIT_CONFIG:
                    _say(f"worker {slot.index} refused to start (invalid configuration)", "error")
                    self._exit_code = 1
                    self._stopping = True
                    return
                lived = now - slot.started
                slot.fast_deaths = slot.fast_deaths + 1 if lived < FAST_DEATH_S else 0
                delay = 0.0 if slot.fast_deaths <= 1 else 0.5 * 2 ** (slot.fast_deaths - 2)
                slot.restart_at = now + min(delay, MAX_BACKOFF_S)
                how = f"signal {-code}" if code < 0 else f"status {code}"
                _say(
                    f"worker {slot.index} (pid {process.pid}) died with {how}; restarting", "error"
                )
            if slot.process is None and now >= slot.restart_at:
                self._spawn(slot)

    def _shutdown(self) -> None:
        self._send_all(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for slot in self.slots:
            if slot.process is None:
                continue
            try:
                slot.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say(
                    f"worker {slot.index} did not stop in {self.grace_s:.0f} s: SIGKILL", "warning"
                )
                slot.process.kill()
                slot.process.wait()

    def run(self) -> int:
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        try:
            self.slots = [_Slot(i) for i in range(self.workers)]
            for slot in self.slots:
                self._spawn(slot)
            _say(f"serving http://{self.host}:{self.port} with {self.workers} workers")
            while True:
                self._handle_signals()
                if self._stopping:
                    break
                self._reap_and_restart()
                if self._stopping:
                    break
                time.sleep(POLL_S)
            self._shutdown()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.reservation.close()
        _say(f"stopped (exit status {self._exit_code})")
        return self._exit_code


def serve(host: str, port: int, workers: int) -> int:
    """Serve on ``host:port`` with ``workers`` processes until SIGTERM/SIGINT; the exit status."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    try:
        reservation = reserve_port(host, port)
    except OSError as exc:
        print(f"refusing to start: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return Supervisor(reservation, workers, host, reservation.getsockname()[1]).run()


# --- the worker side ------------------------------------------------------------------------


def _watch_parent(parent: int) -> None:
    """Stop this worker (gracefully) when its supervisor is gone and it has been re-parented."""
    while os.getppid() == parent:
        time.sleep(PARENT_WATCH_S)
    os.kill(os.getpid(), signal.SIGTERM)


RELOAD_REQUESTS: list[float] = []  # monotonic times of SIGHUPs that came before the app
_reload: list[Callable[[str], None]] = []  # the app's Reloader.trigger_threadsafe, once built


def _on_hup(_: int, __: FrameType | None) -> None:
    """SIGHUP in a worker: reload the rule pack (:mod:`cds.reload`; the app leaves SIGHUP to this
    handler). Before the app exists the request is only recorded, and :func:`worker_main` asks
    for a reload once it does. Only lock-free work here: no logging locks that the interrupted
    code may hold (``trigger_threadsafe`` only queues a callback on the event loop)."""
    if _reload:
        _reload[0]("SIGHUP")
    else:
        RELOAD_REQUESTS.append(time.monotonic())
    os.write(2, b'{"event": "sighup", "message": "rule-pack reload requested"}\n')


def worker_main(host: str, port: int) -> int:
    """Build the app, then serve ``host:port`` on a ``SO_REUSEPORT`` socket of this worker's
    own (uvicorn starts listening once the app's start-up is done) until SIGTERM/SIGINT."""
    signal.signal(signal.SIGHUP, _on_hup)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()

    import uvicorn

    from cds.app import app_or_refusal
    from cds.observability import UVICORN_LOGGING
    from cds.reload import Reloader
    from cds.settings import get_settings

    settings = get_settings()
    app = app_or_refusal(settings)
    if app is None:
        return EXIT_CONFIG
    reloader: Reloader = app.state.reloader
    _reload.append(reloader.trigger_threadsafe)
    if RELOAD_REQUESTS:  # a SIGHUP during start-up may predate the files the pack was read from
        reloader.trigger_threadsafe("SIGHUP")
    try:
        sock = reuseport_socket(host, port)
    except OSError as exc:
        print(f"refusing to start: cannot bind {host}:{port}: {exc}", file=sys.stderr)
        return 1
    # host and port are only shown in uvicorn's log lines: the socket is already bound.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=settings.log_level, **UVICORN_LOGGING
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _worker_entry(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="cds-worker")
    parser.add_argument("--worker", action="store_true", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return worker_main(args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(_worker_entry(sys.argv[1:]))
