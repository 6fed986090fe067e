"""Benchmark: ``POST /cds-services/neurosteroid-patient-view`` over real HTTP, against a bare
FastAPI endpoint that only parses the same JSON body and returns one fixed card.

Both run as uvicorn servers (one worker each) in subprocesses on free 127.0.0.1 ports; the
service with ``CDS_AUTH=off``, a temporary SQLite database and the repository's ``rules/`` (a
snapshot taken at start; ``tests/data/mini-pack`` when it does not validate). For each server and
request it measures:

- serial latency (one connection, one request at a time);
- maximum throughput, closed loop (``wrk``, 1 thread, 16 connections; a Python client when wrk is
  not installed);
- p50/p99 latency at half that maximum, open loop: requests are scheduled at a fixed rate and
  latency runs from the scheduled time (no coordinated omission).

Every response is checked (status 200 and the card rule ids computed up front, in process, with
the same app, pack and clock); failures are counted and the first one is shown. An in-process
breakdown of the service's stages on the same body explains where the time goes.

Run: ``.venv/bin/python bench/http.py`` (about 2 minutes with ``--history``; ``--quick`` for a
smoke run of a few seconds per cell; ``--history`` adds ``samples/patients/history-heavy.json``).
It measures the checkout it lives in (first on ``sys.path`` and in the servers' ``PYTHONPATH``):
to compare two checkouts, run each one's own ``bench/http.py``; ``PYTHONPATH`` does not switch.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's ``http`` package: keep its folder off the path
# so that ``import http`` (uvicorn, httpx, urllib) finds the real one.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_ROOT = _HERE.parent
sys.path.insert(0, str(_ROOT / "tests"))
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import copy  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import orjson  # noqa: E402
from benchkit import Connection, on_schedule, percentile_ms, rule_snapshot  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import JSONResponse, Response  # noqa: E402
from hookrequests import hook_request, sample  # noqa: E402
from service import free_port  # noqa: E402

PATH = "/cds-services/neurosteroid-patient-view"
PATIENT = "dhea-ssri-woman"
BARE_CARD: dict[str, Any] = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "summary": "Bare endpoint: body parsed, fixed card.",
    "indicator": "info",
    "source": {"label": "bench"},
    "extension": {"neurosteroid-cds": {"ruleId": "bare", "ruleVersion": "0"}},
}
CONNECTIONS = 16  # closed loop
OPEN_CONNECTIONS = 32  # open loop: enough that a slow response does not hold back the schedule
REQUEST_TIMEOUT_S = 5.0
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


def _retarget(resource: dict[str, Any], source_patient: str) -> dict[str, Any]:
    text = json.dumps(resource).replace(f"Patient/{source_patient}", f"Patient/{PATIENT}")
    out: dict[str, Any] = json.loads(text)
    return out


def _entries(name: str, ids: set[str]) -> list[dict[str, Any]]:
    return [
        {"resource": _retarget(e["resource"], name)}
        for e in sample(name)["entry"]
        if e["resource"].get("id") in ids
    ]


def usual_bundle() -> dict[str, Any]:
    """``dhea-ssri-woman`` plus resources of other samples and a few common drugs and problems:
    10 labs/observations, 8 medications, 5 conditions."""
    bundle: dict[str, Any] = sample(PATIENT)
    extra = _entries("normal-nothing-to-flag", {"obs-na", "obs-k", "obs-creat", "obs-bp"})
    extra += _entries("normal-nothing-to-flag", {"mr-lisinopril", "cond-htn"})
    extra += _entries("pregnenolone-insomnia", {"ms-biotin", "cond-insomnia"})
    lisinopril = next(e["resource"] for e in extra if e["resource"]["id"] == "mr-lisinopril")
    htn = next(e["resource"] for e in extra if e["resource"]["id"] == "cond-htn")
    drugs = [
        ("metformin", "6809", "Metformin 500 mg tablet", "2024-05-02"),
        ("atorvastatin", "83367", "Atorvastatin 20 mg tablet", "2023-01-15"),
        ("levothyroxine", "10582", "Levothyroxine 50 mcg tablet", "2022-09-30"),
        ("omeprazole", "7646", "Omeprazole 20 mg capsule", "2026-02-11"),
    ]
    for name, code, text, authored in drugs:
        mr = copy.deepcopy(lisinopril)
        mr.update(id=f"mr-{name}", authoredOn=authored)
        mr["medicationCodeableConcept"] = {
            "coding": [{"system": RX, "code": code, "display": name}],
            "text": text,
        }
        mr.pop("reasonReference", None)
        mr["dosageInstruction"] = [{"text": f"{text}, once daily"}]
        extra.append({"resource": mr})
    problems = [
        ("t2dm", "44054006", "Diabetes mellitus type 2", "2024-05-01"),
        ("hld", "55822004", "Hyperlipidemia", "2023-01-10"),
    ]
    for name, code, display, onset in problems:
        cond = copy.deepcopy(htn)
        cond.update(id=f"cond-{name}", onsetDateTime=onset, recordedDate=onset)
        cond["code"] = {"coding": [{"system": SCT, "code": code, "display": display}]}
        extra.append({"resource": cond})
    bundle["entry"] = bundle["entry"] + extra
    keys = [(e["resource"]["resourceType"], e["resource"]["id"]) for e in bundle["entry"]]
    assert len(keys) == len(set(keys)), "duplicate resource ids in the benchmark bundle"
    return bundle


@dataclass(frozen=True)
class Body:
    name: str
    data: bytes
    counts: str


def make_body(name: str) -> Body:
    bundle = usual_bundle() if name == "usual" else sample("history-heavy")
    request = hook_request("patient-view", bundle)
    request["hookInstance"] = f"bench-{name}"  # identical bodies; nothing keys on it
    kinds: dict[str, int] = {}
    for key, label in (
        ("labs", "labs"),
        ("medicationRequests", "medications"),
        ("medicationStatements", "medications"),
        ("conditions", "conditions"),
    ):
        kinds[label] = kinds.get(label, 0) + len(request["prefetch"][key].get("entry", []))
    counts = ", ".join(f"{n} {label}" for label, n in kinds.items())
    return Body(name, json.dumps(request, separators=(",", ":")).encode(), counts)


# --------------------------------------------------------------------------------------------
# Rule pack, expected cards, in-process breakdown
# --------------------------------------------------------------------------------------------


def rule_ids(body: bytes) -> list[str]:
    cards = orjson.loads(body)["cards"]
    return sorted(c["extension"]["neurosteroid-cds"]["ruleId"] for c in cards)


def expected_cards(rules_dir: Path, db: Path, now: datetime, bodies: list[Body]) -> list[str]:
    """The rule ids of the cards for each body, from the same app in process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about httpx in its test client
        from fastapi.testclient import TestClient

    from cds.app import create_app
    from cds.settings import Settings

    settings = Settings(
        auth="off", database_url=f"sqlite:///{db}", rules_dir=rules_dir, log_level="error"
    )
    out = []
    with TestClient(create_app(settings, clock=lambda: now)) as client:
        for body in bodies:
            response = client.post(
                PATH, content=body.data, headers={"Content-Type": "application/json"}
            )
            if response.status_code != 200:
                raise SystemExit(f"{body.name}: in-process {response.status_code} {response.text}")
            out.append(",".join(rule_ids(response.content)))
    return out


def breakdown(
    rules_dir: Path, now: datetime, body: Body, seconds: float, database: Path
) -> tuple[dict[str, float], int, str]:
    """Median µs of each stage of the service's request path (cds/api.py), in process, with
    the service's response class and its card-memory query on an SQLite store."""
    from cds import heap
    from cds.api import parse_body
    from cds.cards import build_cards
    from cds.context.normalise import build_facts
    from cds.context.prefetch import gather
    from cds.engine import RuleEngine
    from cds.facts import EPOCH
    from cds.hooks import HookRequest
    from cds.privacy import patient_key
    from cds.responses import JSONResponse as ServiceResponse
    from cds.rules.pack import load_pack
    from cds.storage import InvocationRecord, IssuedCardRecord, Store

    pack = load_pack(rules_dir)
    engine = RuleEngine(pack)
    store = Store(f"sqlite:///{database}")
    store.migrate()
    heap.settle()  # as the service does after start-up: GC passes over this process's objects
    # would otherwise land in the stages that allocate most (parsing the history body: 3x)
    # The service queues the audit row and a background thread writes it in batches; a writer
    # thread here would land its GIL time in random stages, so the queueing alone is timed.
    queued: queue.Queue[object] = queue.Queue()
    stages: dict[str, list[float]] = {}
    fired: list[str] = []

    async def once(client: httpx.AsyncClient) -> None:
        nonlocal fired
        marks = [time.perf_counter()]
        json.loads(body.data)
        marks.append(time.perf_counter())
        request = parse_body(HookRequest, body.data)
        marks.append(time.perf_counter())
        data = await gather(
            request.prefetch,
            context=request.context.model_dump(exclude_none=True),
            fhir_server=None,
            access_token=None,
            client=client,
            deadline_s=2.0,
            page_cap=10,
            required={"patient"},
        )
        marks.append(time.perf_counter())
        facts = build_facts(data, now=now, terminology=pack.terminology, draft_orders=[])
        marks.append(time.perf_counter())
        findings = engine.evaluate(
            facts.facts, hook="patient-view", now=now, data_status=facts.data_status
        )
        marks.append(time.perf_counter())
        issued = build_cards(findings, pack, draft_orders={})
        marks.append(time.perf_counter())
        key = patient_key(request.context.patientId, b"bench")
        remembered = sorted({c.rule_id for c in issued if pack.by_id[c.rule_id].rule.memory})
        store.memory_for(key, remembered, EPOCH)
        marks.append(time.perf_counter())
        fired = sorted(c.rule_id for c in issued)
        queued.put(
            (
                InvocationRecord(
                    hook_instance=request.hookInstance,
                    service_id="neurosteroid-patient-view",
                    hook="patient-view",
                    patient_key=key,
                    rules_fired=fired,
                    pack_hash=pack.pack_hash,
                    latency_ms=1.0,
                    status_code=200,
                    outcome="cards",
                ),
                [
                    IssuedCardRecord(c.card["uuid"], c.rule_id, c.rule_version, c.finding_key)
                    for c in issued
                ],
            ),
        )
        marks.append(time.perf_counter())
        ServiceResponse({"cards": [c.card for c in issued]})
        marks.append(time.perf_counter())
        names = (
            "json.loads",
            "validate",
            "gather",
            "facts",
            "engine",
            "cards",
            "memory",
            "audit",
            "render",
        )
        for name, start, end in zip(names, marks[:-1], marks[1:], strict=True):
            stages.setdefault(name, []).append((end - start) * 1e6)

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(20):
                await once(client)
            stages.clear()
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                await once(client)

    asyncio.run(run())
    medians = {name: statistics.median(values) for name, values in stages.items()}
    return medians, len(stages["engine"]), ",".join(fired)


# --------------------------------------------------------------------------------------------
# Servers (this file is also their entry point: ``--serve service|bare``)
# --------------------------------------------------------------------------------------------


def serve(kind: str, port: int, now: str) -> None:
    import uvicorn

    if kind == "service":
        from cds.app import create_app

        moment = datetime.fromisoformat(now)
        app = create_app(clock=lambda: moment)  # settings from CDS_* in the environment
    else:
        app = FastAPI()

        @app.post(PATH)
        async def bare(request: Request) -> Response:
            await request.json()
            return JSONResponse({"cards": [BARE_CARD]})

        @app.get("/livez")
        async def livez() -> dict[str, str]:
            return {"status": "ok"}

    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu})


@contextmanager
def server(
    kind: str, env: dict[str, str], log: Path, now: datetime, cpu: int | None
) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind]
    command += ["--port", str(port), "--now", now.isoformat()]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, cwd=_ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        _pin(proc.pid, cpu)
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{kind} server exited ({proc.returncode}); see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{kind} server did not start; see {log}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------------------------
# Load generators
# --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Responses checked: latencies (s) of the good ones, errors and the first error seen."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def error(self, what: str) -> None:
        self.errors += 1
        self.first_error = self.first_error or what


Check = Callable[[int, bytes], bool]


def checker(expected: str) -> Check:
    def check(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        try:
            return ",".join(rule_ids(body)) == expected
        except (ValueError, KeyError, TypeError):
            return False

    return check


def payload_of(port: int, body: bytes) -> bytes:
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _send(conn: Connection, payload: bytes, check: Check, tally: Tally, since: float) -> None:
    try:
        status, body = await asyncio.wait_for(conn.request(payload), REQUEST_TIMEOUT_S)
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
        tally.error(f"{type(exc).__name__}: {exc}")
        await conn.close()
        return
    end = asyncio.get_running_loop().time()
    if check(status, body):
        tally.latencies.append(end - since)
    else:
        tally.error(f"{status} {body[:300]!r}")


async def closed_loop(
    port: int, body: bytes, check: Check, connections: int, seconds: float
) -> Tally:
    """Each connection sends its next request as soon as the previous one is answered."""
    loop = asyncio.get_running_loop()
    payload = payload_of(port, body)
    tally = Tally()
    deadline = loop.time() + seconds

    async def work() -> None:
        conn = await Connection(port).open()
        while loop.time() < deadline:
            await _send(conn, payload, check, tally, loop.time())
        await conn.close()

    await asyncio.gather(*(work() for _ in range(connections)))
    return tally


async def open_loop(port: int, body: bytes, check: Check, rate: float, seconds: float) -> Tally:
    """``rate`` requests/s on a fixed schedule (:func:`benchkit.on_schedule`)."""
    payload = payload_of(port, body)
    conns = [await Connection(port).open() for _ in range(OPEN_CONNECTIONS)]
    tally = Tally()

    async def send(conn: Connection, due: float, _: int) -> None:
        await _send(conn, payload, check, tally, due)

    total = await on_schedule(rate, seconds, conns, send, grace_s=2 * REQUEST_TIMEOUT_S)
    missing = total - len(tally.latencies) - tally.errors
    for _ in range(missing):
        tally.error("not answered before the run's deadline")
    for conn in conns:
        await conn.close()
    return tally


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(%(body)s, "rb"))
wrk.body = f:read("*a")
f:close()
local expected = %(expected)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) ok = 0; bad = 0; first = "" end
function response(status, headers, body)
  local ids = {}
  if status == 200 then
    for id in body:gmatch('"ruleId"%%s*:%%s*"([^"]+)"') do ids[#ids + 1] = id end
    table.sort(ids)
  end
  if status == 200 and table.concat(ids, ",") == expected then
    ok = ok + 1
  else
    bad = bad + 1
    if first == "" then first = status .. " " .. string.sub(body, 1, 200) end
  end
end
function done(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("CHECK ok=%%d bad=%%d first=%%s\\n", t:get("ok"), t:get("bad"),
      string.gsub(t:get("first"), "\\n", " ")))
  end
end
"""


def wrk(
    port: int, body: bytes, expected: str, seconds: float, tmp: Path, cpu: int | None
) -> tuple[float, int, int, str]:
    """Closed-loop wrk run: (requests/s, good responses, errors, first error)."""
    body_file, script = tmp / "wrk-body.json", tmp / "wrk.lua"
    body_file.write_bytes(body)
    script.write_text(
        WRK_SCRIPT % {"body": json.dumps(str(body_file)), "expected": json.dumps(expected)}
    )
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    command += ["-s", str(script), f"http://127.0.0.1:{port}{PATH}"]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    check = re.search(r"CHECK ok=(\d+) bad=(\d+) first=(.*)", out)
    if rps is None or check is None:
        raise SystemExit(f"could not read wrk's output:\n{out}")
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(n) for n in sock.groups()) if sock else 0
    first = check.group(3).strip() or ("socket errors" if socket_errors else "")
    return float(rps.group(1)), int(check.group(1)), int(check.group(2)) + socket_errors, first


# --------------------------------------------------------------------------------------------
# Measuring one server with one body
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    endpoint: str
    body: str
    serial_ms: float = 0.0
    max_rps: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    requests: int = 0
    errors: int = 0
    first_error: str = ""


def measure(
    endpoint: str,
    port: int,
    body: Body,
    expected: str,
    seconds: float,
    tmp: Path,
    cpu: int | None,
) -> Cell:
    cell = Cell(endpoint, body.name)
    check = checker(expected)
    serial = asyncio.run(closed_loop(port, body.data, check, 1, max(1.0, seconds / 5)))
    cell.serial_ms = statistics.median(serial.latencies) * 1000 if serial.latencies else 0.0
    cell.errors += serial.errors
    cell.requests += len(serial.latencies) + serial.errors
    cell.first_error = serial.first_error
    if shutil.which("wrk"):
        cell.max_rps, good, bad, first = wrk(port, body.data, expected, seconds, tmp, cpu)
    else:
        loop_tally = asyncio.run(closed_loop(port, body.data, check, CONNECTIONS, seconds))
        good, bad, first = len(loop_tally.latencies), loop_tally.errors, loop_tally.first_error
        cell.max_rps = good / seconds
    cell.requests += good + bad
    cell.errors += bad
    cell.first_error = cell.first_error or first
    cell.rate = max(1.0, cell.max_rps / 2)
    tally = asyncio.run(open_loop(port, body.data, check, cell.rate, seconds))
    cell.requests += len(tally.latencies) + tally.errors
    cell.errors += tally.errors
    cell.first_error = cell.first_error or tally.first_error
    if tally.latencies:
        cell.p50_ms = percentile_ms(tally.latencies, 0.50)
        cell.p99_ms = percentile_ms(tally.latencies, 0.99)
        cell.max_ms = max(tally.latencies) * 1000
    return cell


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--history", action="store_true", help="add history-heavy.json")
    parser.add_argument("--serve", choices=["service", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.now)
        return
    seconds = 2.0 if args.quick else 10.0
    load_before = os.getloadavg()
    now = datetime.now(UTC).replace(microsecond=0)
    bodies = [make_body("usual")] + ([make_body("history")] if args.history else [])
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if client_cpu is not None:
        os.sched_setaffinity(0, {client_cpu})

    with tempfile.TemporaryDirectory(prefix="bench-http-") as name:
        tmp = Path(name)
        rules_dir, rules_label = rule_snapshot(tmp)
        expected = expected_cards(rules_dir, tmp / "expected.db", now, bodies)
        costs = [
            breakdown(rules_dir, now, b, 0.3 if args.quick else 2.0, tmp / f"{b.name}.db")
            for b in bodies
        ]
        for b, want, (_, _, fired) in zip(bodies, expected, costs, strict=True):
            assert fired == want, f"{b.name}: breakdown fired {fired}, the app {want}"
        env = dict(os.environ)
        env.update(
            CDS_AUTH="off",
            CDS_DATABASE_URL=f"sqlite:///{tmp / 'service.db'}",
            CDS_RULES_DIR=str(rules_dir),
            PYTHONPATH=str(_ROOT),
        )
        cells: list[Cell] = []
        with (
            server("service", env, tmp / "service.log", now, server_cpu) as service_port,
            server("bare", env, tmp / "bare.log", now, server_cpu) as bare_port,
        ):
            for body, want in zip(bodies, expected, strict=True):
                cells.append(measure("bare", bare_port, body, "bare", seconds, tmp, client_cpu))
                cells.append(measure("service", service_port, body, want, seconds, tmp, client_cpu))
        service_log = (tmp / "service.log").read_text(errors="replace")
    statuses = re.findall(r'"status": ?(\d+)', service_log)
    non_200 = sum(1 for s in statuses if s != "200")

    loop_name = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http_name = "httptools" if importlib.util.find_spec("httptools") else "h11"
    versions = {p: importlib.metadata.version(p) for p in ("uvicorn", "fastapi", "starlette")}
    print(
        f"HTTP: POST {PATH}, Python {sys.version.split()[0]}, "
        + ", ".join(f"{p} {v}" for p, v in versions.items())
        + f" (1 worker, loop {loop_name}, http {http_name}), {len(cpus)} CPUs"
    )
    generator = (
        f"wrk 1 thread {CONNECTIONS} connections" if shutil.which("wrk") else "Python client"
    )
    pinning = (
        f"servers pinned to CPU {server_cpu}, load generators to CPU {client_cpu}"
        if server_cpu is not None
        else "no CPU pinning"
    )
    print(
        f"max = closed loop ({generator}, {seconds:g} s); open loop = Python client, "
        f"{OPEN_CONNECTIONS} connections, half max, {seconds:g} s, latency from scheduled "
        f"time; serial = 1 connection, {max(1.0, seconds / 5):g} s; {pinning}"
    )
    print(f"rule pack: {rules_label}")
    load_after = os.getloadavg()
    print(
        f"load average (1 min) before/after: {load_before[0]:.2f}/{load_after[0]:.2f} "
        "(the run itself adds about 2; more means other processes shared the CPUs)"
    )
    for body, want in zip(bodies, expected, strict=True):
        print(
            f"request {body.name}: {body.counts}; body {len(body.data) / 1024:.1f} KiB; "
            f"expected cards: {want or '(none)'}"
        )
    print(
        "| endpoint | request | serial p50 ms | max req/s | open-loop req/s | p50 ms | p99 ms | "
        "max ms | × bare max req/s | × bare p50 | requests | errors |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    by = {(c.endpoint, c.body): c for c in cells}
    for c in cells:
        bare = by[("bare", c.body)]
        print(
            f"| {c.endpoint} | {c.body} | {c.serial_ms:.2f} | {c.max_rps:.0f} | {c.rate:.0f} | "
            f"{c.p50_ms:.2f} | {c.p99_ms:.2f} | {c.max_ms:.1f} | "
            f"{_ratio(c.max_rps, bare.max_rps)} | {_ratio(c.p50_ms, bare.p50_ms)} | "
            f"{c.requests} | {c.errors} |"
        )
    for c in cells:
        if c.errors:
            print(f"first error, {c.endpoint}/{c.body}: {c.first_error}")
    print(f"service log: {len(statuses)} hook lines, {non_200} with a status other than 200")

    svc, base = by[("service", "usual")], by[("bare", "usual")]
    ratio = svc.max_rps / base.max_rps
    print("| target | figure | verdict |")
    print("|---|---:|---|")
    print(f"| service throughput ≥ 60% of bare | {ratio:.0%} | {_verdict(ratio >= 0.6)} |")
    print(
        f"| service p99 ≤ 20 ms at half max ({svc.rate:.0f} req/s) | {svc.p99_ms:.2f} ms | "
        f"{_verdict(svc.p99_ms <= 20)} |"
    )
    if args.history:
        hist = by[("service", "history")]
        for label, heavy, usual in (
            ("serial p50", hist.serial_ms, svc.serial_ms),
            ("p50 at half max", hist.p50_ms, svc.p50_ms),
            ("p99 at half max", hist.p99_ms, svc.p99_ms),
        ):
            times = heavy / usual if usual else float("inf")
            print(
                f"| history ≤ 2× usual latency, {label} | {times:.2f}× | {_verdict(times <= 2)} |"
            )
        print(f"| (history/usual max req/s, no target) | {hist.max_rps / svc.max_rps:.2f}× | |")

    print("in-process stages of the service on the same body (cds/api.py path), median µs:")
    names = list(costs[0][0])
    print(f"| request | runs | {' | '.join(names)} | sum | 1e6 / service max req/s |")
    print("|---|---:|" + "---:|" * (len(names) + 2))
    for body, (medians, runs, _) in zip(bodies, costs, strict=True):
        total = sum(v for k, v in medians.items() if k != "json.loads")
        per_request = 1e6 / by[("service", body.name)].max_rps
        print(
            f"| {body.name} | {runs} | "
            + " | ".join(f"{medians[n]:.0f}" for n in names)
            + f" | {total:.0f} | {per_request:.0f} |"
        )
    print("sum excludes json.loads (shown for the bare endpoint's parse; validate parses itself)")


if __name__ == "__main__":
    main()
