"""``cds serve --workers N`` as a real process tree on 127.0.0.1: workers that die are replaced,
SIGHUP reaches the workers without killing them, SIGTERM stops everything with status 0, and an
invalid rule pack stops the supervisor instead of restarting workers forever."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from processes import alive as _alive
from processes import children as _children
from processes import live, socket_inodes, tcp_inodes
from processes import wait_for as _wait_for
from service import free_port

ROOT = Path(__file__).resolve().parent.parent
MINI_PACK = ROOT / "tests" / "data" / "mini-pack"
BROKEN_PACK = ROOT / "tests" / "data" / "broken-rules"
CDS = Path(sys.executable).parent / "cds"


def _env(tmp: Path, rules: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        CDS_AUTH="off",
        CDS_DATABASE_URL=f"sqlite:///{tmp / 'cds.db'}",
        CDS_RULES_DIR=str(rules),
        CDS_LOG_LEVEL="warning",
    )
    return env


@contextmanager
def _supervisor(
    tmp: Path, workers: int, rules: Path = MINI_PACK
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    log = (tmp / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(CDS), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=_env(tmp, rules),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
    )
    seen: set[int] = set()
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        seen |= _children(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for pid in seen:  # never leave a worker behind, even when the test failed
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _output(tmp: Path) -> str:
    return (tmp / "serve.log").read_text(encoding="utf-8", errors="replace")


def test_workers_are_restarted_and_sigterm_stops_everything(tmp_path: Path) -> None:
    with _supervisor(tmp_path, workers=2) as (supervisor, base):
        _wait_for("/livez", lambda: live(base), timeout=60)
        _wait_for("two workers", lambda: len(_children(supervisor.pid)) == 2)
        port = int(base.rsplit(":", 1)[1])
        _wait_for("both listening", lambda: len(tcp_inodes(port, "listen")) == 2, timeout=60)
        first = _children(supervisor.pid)

        victim = min(first)
        os.kill(victim, signal.SIGKILL)

        def replaced() -> set[int] | None:
            now = _children(supervisor.pid)
            return now - first if len(now) == 2 else None

        replacement = _wait_for("a new worker", replaced, timeout=5)
        assert victim not in _children(supervisor.pid)
        assert len(replacement) == 1
        # The surviving worker answers meanwhile; then the replacement takes its share too.
        for _ in range(20):
            assert live(base)
        _wait_for("the replacement to serve", lambda: live(base), timeout=30)
        died = [x for x in _output(tmp_path).splitlines() if "died with signal 9" in x]
        assert [json.loads(x)["level"] for x in died] == ["error"]  # a JSON line, for alerts

        # SIGHUP is forwarded and kills nobody (the hot reload will use it).
        workers_now = _children(supervisor.pid)
        supervisor.send_signal(signal.SIGHUP)
        _wait_for("SIGHUP in the workers", lambda: _output(tmp_path).count('"sighup"') >= 2, 10)
        assert _children(supervisor.pid) == workers_now
        assert live(base)

        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0
        _wait_for("no worker left", lambda: not any(_alive(p) for p in workers_now), timeout=5)
        assert not live(base)


def test_a_worker_killed_while_idle_is_replaced_quickly(tmp_path: Path) -> None:
    with _supervisor(tmp_path, workers=2) as (supervisor, base):
        _wait_for("/livez", lambda: live(base), timeout=60)
        _wait_for("two workers", lambda: len(_children(supervisor.pid)) == 2)
        for _ in range(2):  # twice in a row: restarts are immediate, not backed off
            before = _children(supervisor.pid)
            os.kill(min(before), signal.SIGKILL)
            started = time.monotonic()

            def replaced(before: set[int] = before) -> bool:
                now = _children(supervisor.pid)
                return len(now) == 2 and len(now - before) == 1

            _wait_for("a replacement", replaced, timeout=3)
            assert time.monotonic() - started < 1.5
            _wait_for("/livez", lambda: live(base), timeout=30)


def test_connections_are_spread_over_the_workers(tmp_path: Path) -> None:
    """Each worker listens on a socket of its own (SO_REUSEPORT): the kernel balances new
    connections, where a shared socket let one worker take a burst (26 of 32 once)."""
    with _supervisor(tmp_path, workers=2) as (supervisor, base):
        port = int(base.rsplit(":", 1)[1])
        _wait_for("/livez", lambda: live(base), timeout=60)
        _wait_for("two listening sockets", lambda: len(tcp_inodes(port, "listen")) == 2, 60)
        workers = _children(supervisor.pid)
        listening = tcp_inodes(port, "listen")
        held = [socket_inodes(pid) & listening for pid in workers]
        assert sorted(len(h) for h in held) == [1, 1]
        assert held[0] != held[1]

        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        try:
            _wait_for(
                "64 accepted connections",
                lambda: len(tcp_inodes(port, "established")) >= 64,
                timeout=10,
            )
            accepted = tcp_inodes(port, "established")
            per_worker = sorted(len(socket_inodes(pid) & accepted) for pid in workers)
        finally:
            for client in clients:
                client.close()
        assert sum(per_worker) == 64
        assert per_worker[0] >= 12, per_worker  # an even spread falls below 12 in < 1e-6


def test_a_second_supervisor_cannot_share_the_port() -> None:
    """SO_REUSEPORT lets the workers share the port; it must not let a second ``cds serve``
    join them, neither while only the supervisor's reservation holds it nor once workers listen."""
    from cds.supervisor import reserve_port, reuseport_socket

    with reserve_port("127.0.0.1", 0) as held:
        port = held.getsockname()[1]
        with pytest.raises(OSError, match="in use"):
            reserve_port("127.0.0.1", port).close()
        with reuseport_socket("127.0.0.1", port) as worker:
            worker.listen(8)
            with pytest.raises(OSError, match="in use"):
                reserve_port("127.0.0.1", port).close()


def test_invalid_rule_pack_stops_the_supervisor(tmp_path: Path) -> None:
    with _supervisor(tmp_path, workers=2, rules=BROKEN_PACK) as (supervisor, _):
        code = supervisor.wait(timeout=60)
        assert code == 1
        out = _output(tmp_path)
        assert "refusing to start: the rule pack is invalid" in out
        assert "invalid configuration" in out
        assert not _children(supervisor.pid)


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(CDS), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=_env(tmp_path, MINI_PACK),
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert b"cannot listen" in result.stderr


def test_workers_must_be_positive() -> None:
    from cds.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--workers", "0"])
    assert exc.value.code == 2
