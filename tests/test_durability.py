"""Durability under SIGKILL, on a real process tree (``cds serve``) on 127.0.0.1.

1. Feedback: a client gets real cards and posts feedback on them while the server process is
   killed with SIGKILL at random moments and restarted. After the last restart every feedback item
   that got a 2xx is in the store — on SQLite (WAL, ``synchronous=FULL``) and on a real
   PostgreSQL (``tests/postgres_server.py``). Each run is bounded to ``RUN_S`` seconds.
2. ``--workers 2``: one worker SIGKILLed in the middle of a closed-loop load keeps the service
   answering; the only failures are requests that were on the killed worker (bounded by what
   was in flight at the kill), and the supervisor replaces the worker.

The rule pack is the mini pack with the real terminology (stable while ``rules/`` is edited).
Patient ids are fresh for every call, so card memory never silences a card.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hookrequests import hook_request, sample
from packbuilder import make_pack
from postgres_server import create_database, postgres_server
from processes import children as _children
from processes import live, tcp_inodes
from processes import wait_for as _wait_for
from service import free_port
from sqlalchemy import create_engine, text

CDS = Path(sys.executable).parent / "cds"
PV = "/cds-services/neurosteroid-patient-view"
FEEDBACK = f"{PV}/feedback"
PATIENT = "dhea-ssri-woman"
RUN_S = 20.0  # per database: kill/restart cycles until this much time has passed
START_TIMEOUT_S = 60.0
SEED = int(os.environ.get("CDS_DURABILITY_SEED", str(random.SystemRandom().randrange(10**6))))


def _fresh_request() -> bytes:
    """A patient-view request for the sample patient under a new patient id."""
    bundle = sample(PATIENT)
    old = next(
        e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    new = f"p{uuid.uuid4().hex[:20]}"
    text_ = json.dumps(hook_request("patient-view", bundle))
    return (
        text_.replace(f'"{old}"', f'"{new}"').replace(f"Patient/{old}", f"Patient/{new}").encode()
    )


def _env(rules: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        CDS_AUTH="off",
        CDS_DATABASE_URL=database_url,
        CDS_RULES_DIR=str(rules),
        CDS_LOG_LEVEL="warning",
    )
    return env


@contextmanager
def _serve(
    tmp: Path, rules: Path, database_url: str, port: int, workers: int = 1
) -> Iterator[subprocess.Popen[bytes]]:
    """``cds serve`` until the block ends (SIGKILL of the process group on the way out)."""
    log = (tmp / f"serve-{port}.log").open("ab")
    command = [str(CDS), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(
        command,
        env=_env(rules, database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp,
        start_new_session=True,  # its own process group: the cleanup kills workers too
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not live(f"http://127.0.0.1:{port}"):
            if process.poll() is not None:
                raise AssertionError(f"cds serve exited with {process.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise AssertionError(f"cds serve did not start in {START_TIMEOUT_S} s")
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


@dataclass
class FeedbackTally:
    acknowledged: set[str] = field(default_factory=set)  # card uuids whose feedback got a 2xx
    cards_seen: int = 0
    failed_calls: int = 0
    feedback_posts: int = 0


def _client(base: str, tally: FeedbackTally, stop: threading.Event) -> None:
    """Get cards, post feedback on them; over and over until ``stop`` (errors are expected)."""
    with httpx.Client(base_url=base, timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(PV, content=_fresh_request())
                if response.status_code != 200:
                    tally.failed_calls += 1
                    continue
                cards = [c["uuid"] for c in response.json()["cards"]]
                tally.cards_seen += len(cards)
                now = datetime.now(UTC).isoformat()
                body = {
                    "feedback": [
                        {"card": card, "outcome": "accepted", "outcomeTimestamp": now}
                        for card in cards
                    ]
                }
                tally.feedback_posts += 1
                answer = client.post(FEEDBACK, json=body)
                if 200 <= answer.status_code < 300:
                    assert answer.json() == {"stored": len(cards)}
                    tally.acknowledged.update(cards)
                else:
                    tally.failed_calls += 1
            except httpx.HTTPError:
                tally.failed_calls += 1
                time.sleep(0.02)


def _stored_feedback(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.execute(text("SELECT card_uuid FROM feedback"))}
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pack(
        tmp_path_factory.mktemp("pack"), [], with_mini_rules=True, real_terminology=True
    )


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def _kill_and_restart(tmp: Path, rules: Path, database_url: str) -> tuple[FeedbackTally, int]:
    rng = random.Random(SEED)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tally = FeedbackTally()
    stop = threading.Event()
    client = threading.Thread(target=_client, args=(base, tally, stop), daemon=True)
    kills = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < RUN_S and kills < 50:
            with _serve(tmp, rules, database_url, port) as process:
                if not client.is_alive():
                    client.start()
                time.sleep(rng.uniform(0.05, 1.5))  # a random moment of the client's loop
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
                kills += 1
        with _serve(tmp, rules, database_url, port):  # the final restart: let it run a little
            time.sleep(1.0)
            stop.set()
            client.join(timeout=15)
            assert not client.is_alive()
    finally:
        stop.set()
    return tally, kills


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_acknowledged_feedback_survives_sigkill(
    tmp_path: Path, rules: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'cds.db'}"
    else:
        server: str = request.getfixturevalue("postgres_url")
        database_url = create_database(server, f"durability_{uuid.uuid4().hex[:12]}")
    tally, kills = _kill_and_restart(tmp_path, rules, database_url)
    stored = _stored_feedback(database_url)
    lost = tally.acknowledged - stored
    print(
        f"{backend} (seed {SEED}): {kills} SIGKILLs, {tally.feedback_posts} feedback posts, "
        f"{len(tally.acknowledged)} items acknowledged, {len(stored)} stored, {len(lost)} lost, "
        f"{tally.failed_calls} failed calls"
    )
    assert kills >= 3, "too few kill/restart cycles to mean anything"
    assert len(tally.acknowledged) >= 20, "too little feedback acknowledged to mean anything"
    assert not lost, f"acknowledged feedback missing after restart: {sorted(lost)[:5]}"


# --------------------------------------------------------------------------------------------
# A worker killed under load (--workers 2)
# --------------------------------------------------------------------------------------------

CONCURRENCY = 8
LOAD_S = 8.0
KILL_AT_S = 3.0


@dataclass
class LoadTally:
    ok: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    ok_after_kill: int = 0
    in_flight: int = 0
    in_flight_at_kill: int = -1
    killed_at: float | None = None


async def _load(base: str, tally: LoadTally, until: float, body: bytes) -> None:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:

        async def worker() -> None:
            while time.monotonic() < until:
                tally.in_flight += 1
                try:
                    response = await client.post(PV, content=body)
                    good = response.status_code == 200 and bool(response.json()["cards"])
                    what = f"status {response.status_code}"
                except httpx.HTTPError as exc:
                    good, what = False, type(exc).__name__
                finally:
                    tally.in_flight -= 1
                if good:
                    tally.ok += 1
                    tally.ok_after_kill += tally.killed_at is not None
                else:
                    tally.failed += 1
                    tally.failures.append(what)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def test_a_worker_killed_under_load(tmp_path: Path, rules: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    database_url = f"sqlite:///{tmp_path / 'cds.db'}"
    with _serve(tmp_path, rules, database_url, port, workers=2) as supervisor:
        deadline = time.monotonic() + 30
        while len(_children(supervisor.pid)) != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = _children(supervisor.pid)
        assert len(workers) == 2
        # both listening (each worker has its own socket): the victim is not the only one
        _wait_for("both listening", lambda: len(tcp_inodes(port, "listen")) == 2, timeout=60)
        for _ in range(20):  # both workers up and serving
            assert live(base)
        time.sleep(1.0)
        tally = LoadTally()
        body = _fresh_request()
        victim = min(workers)

        async def run() -> None:
            until = time.monotonic() + LOAD_S

            async def killer() -> None:
                await asyncio.sleep(KILL_AT_S)
                tally.in_flight_at_kill = tally.in_flight
                os.kill(victim, signal.SIGKILL)
                tally.killed_at = time.monotonic()

            await asyncio.gather(_load(base, tally, until, body), killer())

        asyncio.run(run())
        replaced = _children(supervisor.pid)
        log = (tmp_path / f"serve-{port}.log").read_text(errors="replace")
    print(
        f"--workers 2, {CONCURRENCY} clients, {LOAD_S:g} s, worker {victim} SIGKILLed at "
        f"{KILL_AT_S:g} s: {tally.ok} ok ({tally.ok_after_kill} after the kill), "
        f"{tally.failed} failed {sorted(set(tally.failures))}, "
        f"{tally.in_flight_at_kill} in flight (both workers) at the kill"
    )
    assert "died with signal 9" in log
    assert victim not in replaced
    assert len(replaced) == 2
    assert tally.ok_after_kill > 50, "the service stopped answering after the kill"
    # Only requests on the killed worker fail: never more than were in flight at the kill.
    assert tally.failed <= tally.in_flight_at_kill, tally.failures
    assert all(not f.startswith("status") for f in tally.failures), tally.failures


def test_the_request_template_gives_cards(tmp_path: Path, rules: Path) -> None:
    """The durability tests count on real cards: check the template once, in process."""
    from service import running_service

    from cds.rules.pack import load_pack

    with running_service(tmp_path, pack=load_pack(rules)) as url:
        response = httpx.post(url + PV, content=_fresh_request(), timeout=30)
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    assert cards
