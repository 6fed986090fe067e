"""Load benchmark of ``cds serve --workers N`` over real HTTP on 127.0.0.1 (not run by make test).

The service runs with ``CDS_AUTH=off``, a temporary SQLite database and a snapshot of ``rules/``
(``tests/data/mini-pack`` when it does not validate). Requests are built from every sample patient
(``samples/patients``) for each of the three hooks; the expected answer of each template (status
and the sorted rule ids of its cards) is taken once, from a single request to the same server,
before the load starts, and every response of the load is checked against it.

- (a) concurrency: ``--clients`` (32) concurrent keep-alive connections, ``--requests`` (50,000)
  requests, templates drawn at random (seeded): errors, mismatches, worker crashes (supervisor
  restarts and worker pid changes), throughput, p50/p99;
- (b) soak: ``--soak`` (200,000) requests the same way; VmRSS of each worker (``/proc/<pid>/
  status``) after a warm-up (the first 10 %) and at the end;
- (c) closed-loop maximum throughput with 1 and with 2 workers (per worker), then p50/p99 at half
  that rate with an open-loop client (requests scheduled at a fixed rate, latency measured from
  the scheduled time, so a late server is charged for the queueing it causes).

The client is one asyncio process speaking HTTP/1.1 on raw keep-alive sockets (an httpx client
spends several times more CPU per request, and on a 2-core machine the client's CPU is taken from
the server); its CPU use is reported beside each figure so the reader can judge.

Run: ``.venv/bin/python bench/load.py`` (about 10 minutes); ``--quick`` for a smoke run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/http.py is named like the standard library's http package: keep this folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager, suppress  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import orjson  # noqa: E402

ROOT = _HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from benchkit import Connection, on_schedule, percentile_ms, rule_snapshot  # noqa: E402
from hookrequests import SAMPLES, hook_request, sample  # noqa: E402
from processes import tcp_inodes  # noqa: E402

CDS = Path(sys.executable).parent / "cds"
SERVICES = {
    "patient-view": "/cds-services/neurosteroid-patient-view",
    "order-select": "/cds-services/neurosteroid-order-select",
    "order-sign": "/cds-services/neurosteroid-order-sign",
}
TIMEOUT_S = 10.0
SEED = 20261129


# --------------------------------------------------------------------------------------------
# Request templates and their expected answers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    name: str
    path: str
    payload: bytes  # the whole HTTP request


def _payload(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def templates(port: int) -> list[Template]:
    out = []
    for file in sorted(SAMPLES.glob("*.json")):
        for hook, path in SERVICES.items():
            body = hook_request(hook, sample(file.stem))
            body["hookInstance"] = f"load-{file.stem}-{hook}"
            data = json.dumps(body, separators=(",", ":")).encode()
            out.append(Template(f"{file.stem}/{hook}", path, _payload(port, path, data)))
    return out


def answer_of(status: int, body: bytes) -> str:
    """What a response is compared on: the status and the sorted rule ids of its cards."""
    if status != 200:
        return str(status)
    cards = orjson.loads(body)["cards"]
    ids = sorted(c["extension"]["neurosteroid-cds"]["ruleId"] for c in cards)
    return "200:" + ",".join(ids)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log: Path

    def worker_pids(self) -> set[int]:
        if self.workers == 1:
            return {self.process.pid}  # --workers 1 serves in the process itself
        found: set[int] = set()
        for children in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            with suppress(OSError):
                found |= {int(c) for c in children.read_text().split()}
        return found

    def restarts(self) -> int:
        return self.log.read_text(errors="replace").count("died with")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(tmp: Path, rules: Path, workers: int) -> Iterator[Server]:
    port = free_port()
    log = tmp / f"serve-{workers}w-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    env.update(
        CDS_AUTH="off",
        CDS_DATABASE_URL=f"sqlite:///{tmp / f'cds-{port}.db'}",
        CDS_RULES_DIR=str(rules),
        CDS_LOG_LEVEL="warning",
    )
    command = [str(CDS), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--workers", str(workers)],
            env=env,
            cwd=tmp,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    srv = Server(process, port, workers, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise SystemExit(f"cds serve exited ({process.returncode}); see {log}")
            if (
                len(srv.worker_pids()) == workers
                and _listening(port) == workers
                and asyncio.run(_ready(port))
            ):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"cds serve did not start; see {log}")
            time.sleep(0.2)
        yield srv
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _listening(port: int) -> int:
    """Listening sockets on ``port``: each worker opens its own once its app is built, and the
    clients' keep-alive connections must not all land on the first worker up."""
    return len(tcp_inodes(port, "listen"))


async def _ready(port: int) -> bool:
    """The service answers: a few /livez on fresh connections."""
    try:
        for _ in range(6):
            conn = await Connection(port).open()
            status, _ = await asyncio.wait_for(
                conn.request(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"), 2
            )
            await conn.close()
            if status != 200:
                return False
    except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
        return False
    return True


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    mismatches: int = 0
    first_problem: str = ""
    sent: int = 0

    def problem(self, what: str, *, mismatch: bool) -> None:
        if mismatch:
            self.mismatches += 1
        else:
            self.errors += 1
        self.first_problem = self.first_problem or what


async def _send(
    conn: Connection, template: Template, expected: str, tally: Tally, since: float
) -> None:
    loop = asyncio.get_running_loop()
    try:
        status, body = await asyncio.wait_for(conn.request(template.payload), TIMEOUT_S)
    except (OSError, ValueError, TimeoutError, asyncio.IncompleteReadError) as exc:
        tally.problem(f"{template.name}: {type(exc).__name__}: {exc}", mismatch=False)
        await conn.close()
        return
    end = loop.time()
    try:
        got = answer_of(status, body)
    except (ValueError, KeyError, TypeError):
        got = f"unreadable {status} {body[:100]!r}"
    if got == expected:
        tally.latencies.append(end - since)
    else:
        tally.problem(f"{template.name}: expected {expected}, got {got[:200]}", mismatch=True)


async def closed_loop(
    port: int,
    plan: list[tuple[Template, str]],
    clients: int,
    *,
    seconds: float | None = None,
    on_progress: tuple[int, list[float]] | None = None,
) -> tuple[Tally, float]:
    """``clients`` connections work through ``plan`` (or loop over it for ``seconds``); each
    sends its next request as soon as the previous one is answered. (tally, wall seconds)."""
    loop = asyncio.get_running_loop()
    tally = Tally()
    index = 0
    started = loop.time()
    deadline = started + seconds if seconds is not None else None

    async def work() -> None:
        nonlocal index
        conn = await Connection(port).open()
        while True:
            if deadline is not None:
                if loop.time() >= deadline:
                    break
                template, expected = plan[index % len(plan)]
            else:
                if index >= len(plan):
                    break
                template, expected = plan[index]
            index += 1
            tally.sent += 1
            if on_progress is not None and tally.sent == on_progress[0]:
                on_progress[1].append(loop.time())
            await _send(conn, template, expected, tally, loop.time())
        await conn.close()

    await asyncio.gather(*(work() for _ in range(clients)))
    return tally, loop.time() - started


async def open_loop(
    port: int, plan: list[tuple[Template, str]], rate: float, seconds: float, connections: int
) -> Tally:
    """``rate`` requests/s on a fixed schedule over a pool of ``connections``
    (:func:`benchkit.on_schedule`)."""
    conns = [await Connection(port).open() for _ in range(connections)]
    tally = Tally()

    async def send(conn: Connection, due: float, i: int) -> None:
        template, expected = plan[i % len(plan)]
        tally.sent += 1
        await _send(conn, template, expected, tally, due)

    total = await on_schedule(rate, seconds, conns, send, grace_s=3 * TIMEOUT_S)
    for _ in range(total - tally.sent):
        tally.problem("not sent before the run's deadline", mismatch=False)
    for conn in conns:
        await conn.close()
    return tally


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------------------------
# The runs
# --------------------------------------------------------------------------------------------


def expected_answers(port: int, temps: list[Template]) -> dict[str, str]:
    async def run() -> dict[str, str]:
        conn = await Connection(port).open()
        out = {}
        for t in temps:
            status, body = await conn.request(t.payload)
            out[t.name] = answer_of(status, body)
        await conn.close()
        return out

    return asyncio.run(run())


def plan_of(
    temps: list[Template], expected: dict[str, str], n: int, rng: random.Random
) -> list[tuple[Template, str]]:
    return [(t, expected[t.name]) for t in (rng.choice(temps) for _ in range(n))]


@dataclass
class Row:
    label: str
    requests: int
    errors: int
    mismatches: int
    restarts: int
    rps: float
    p50: float
    p99: float
    client_cpu_pct: float
    server_cpu_pct: float
    first_problem: str


def concurrency_run(
    srv: Server, plan: list[tuple[Template, str]], clients: int, label: str
) -> tuple[Row, dict[int, tuple[int, int]]]:
    """A closed-loop run over ``plan``; RSS of each worker after the first 10 % and at the end."""
    pids_before = srv.worker_pids()
    restarts_before = srv.restarts()
    warm_marks: list[float] = []
    rss_warm: dict[int, int] = {}
    warm_at = max(1, len(plan) // 10)

    async def run() -> tuple[Tally, float]:
        async def sample_rss() -> None:
            while not warm_marks:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # let the requests in flight at the mark finish
            for pid in srv.worker_pids():
                rss_warm[pid] = rss_kib(pid)

        sampler = asyncio.create_task(sample_rss())
        result = await closed_loop(srv.port, plan, clients, on_progress=(warm_at, warm_marks))
        if not sampler.done():
            sampler.cancel()
        return result

    cpu0 = client_cpu()
    server_cpu0 = sum(cpu_s(p) for p in pids_before)
    tally, wall = asyncio.run(run())
    cpu1 = client_cpu()
    pids_after = srv.worker_pids()
    server_cpu1 = sum(cpu_s(p) for p in pids_after & pids_before)
    rss = {pid: (rss_warm.get(pid, 0), rss_kib(pid)) for pid in pids_after}
    restarts = srv.restarts() - restarts_before + len(pids_before - pids_after)
    row = Row(
        label,
        len(plan),
        tally.errors,
        tally.mismatches,
        restarts,
        len(tally.latencies) / wall,
        percentile_ms(tally.latencies, 0.5),
        percentile_ms(tally.latencies, 0.99),
        100 * (cpu1 - cpu0) / wall,
        100 * (server_cpu1 - server_cpu0) / wall,
        tally.first_problem,
    )
    return row, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--soak", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=15.0, help="per throughput cell")
    args = parser.parse_args()
    if args.quick:
        args.requests, args.soak, args.seconds = 2_000, 5_000, 3.0
    rng = random.Random(SEED)
    load_before = os.getloadavg()[0]
    print(
        f"bench/load.py: Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"client: 1 asyncio process, raw HTTP/1.1 keep-alive; seed {SEED}"
    )

    with tempfile.TemporaryDirectory(prefix="bench-load-") as name:
        tmp = Path(name)
        rules, rules_label = rule_snapshot(tmp)
        print(f"rule pack: {rules_label}")
        rows: list[Row] = []
        with server(tmp, rules, 2) as srv:
            temps = templates(srv.port)
            expected = expected_answers(srv.port, temps)
            kinds = sorted(set(expected.values()))
            print(
                f"{len(temps)} request templates ({len(list(SAMPLES.glob('*.json')))} patients "
                f"x 3 hooks), {len(kinds)} distinct expected answers:"
            )
            for t in temps:
                print(f"  {t.name}: {expected[t.name] or '-'}")

            # (a) concurrency
            plan = plan_of(temps, expected, args.requests, rng)
            row, _ = concurrency_run(srv, plan, args.clients, "(a) concurrency, 2 workers")
            rows.append(row)
            # (b) soak
            plan = plan_of(temps, expected, args.soak, rng)
            soak, rss = concurrency_run(srv, plan, args.clients, "(b) soak, 2 workers")
            rows.append(soak)

        print()
        print(
            "| run | clients | requests | errors | mismatches | worker restarts | req/s | "
            "p50 ms | p99 ms | client CPU % | workers' CPU % |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(
                f"| {r.label} | {args.clients} | {r.requests} | {r.errors} | {r.mismatches} | "
                f"{r.restarts} | {r.rps:.0f} | {r.p50:.1f} | {r.p99:.1f} | "
                f"{r.client_cpu_pct:.0f} | {r.server_cpu_pct:.0f} |"
            )
        for r in rows:
            if r.first_problem:
                print(f"first problem, {r.label}: {r.first_problem}")
        print()
        print("soak RSS per worker (VmRSS, KiB): after the first 10 % of requests → at the end")
        print("| worker pid | warm KiB | end KiB | growth | within 5 % |")
        print("|---:|---:|---:|---:|---|")
        for pid, (warm, end) in sorted(rss.items()):
            growth = (end - warm) / warm * 100 if warm else float("nan")
            verdict = "yes" if warm and growth <= 5 else "NO"
            print(f"| {pid} | {warm} | {end} | {growth:+.1f} % | {verdict} |")

        # (c) throughput per worker, and p99 at half the maximum
        print()
        print(
            f"(c) closed loop {args.clients} clients, {args.seconds:g} s → max req/s; then open "
            f"loop at half of it, {args.seconds:g} s, latency from the scheduled time"
        )
        print(
            "| workers | max req/s | per worker | client CPU % | workers' CPU % | "
            "open-loop req/s | p50 ms | p99 ms | max ms | errors | mismatches |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        plan = plan_of(temps, expected, 5000, rng)
        for workers in (1, 2):
            with server(tmp, rules, workers) as srv:
                # the expected answers were computed on a 2-worker server with the same pack
                cpu0 = client_cpu()
                pids = srv.worker_pids()
                server0 = sum(cpu_s(p) for p in pids)
                tally, wall = asyncio.run(
                    closed_loop(srv.port, plan, args.clients, seconds=args.seconds)
                )
                cpu_pct = 100 * (client_cpu() - cpu0) / wall
                server_pct = 100 * (sum(cpu_s(p) for p in pids) - server0) / wall
                max_rps = len(tally.latencies) / wall
                rate = max(1.0, max_rps / 2)
                time.sleep(1.0)
                open_tally = asyncio.run(
                    open_loop(srv.port, plan, rate, args.seconds, args.clients)
                )
                print(
                    f"| {workers} | {max_rps:.0f} | {max_rps / workers:.0f} | {cpu_pct:.0f} | "
                    f"{server_pct:.0f} | "
                    f"{rate:.0f} | {percentile_ms(open_tally.latencies, 0.5):.1f} | "
                    f"{percentile_ms(open_tally.latencies, 0.99):.1f} | "
                    f"{max(open_tally.latencies, default=float('nan')) * 1000:.1f} | "
                    f"{tally.errors + open_tally.errors} | "
                    f"{tally.mismatches + open_tally.mismatches} |"
                )
                problem = tally.first_problem or open_tally.first_problem
                if problem:
                    print(f"first problem, {workers} worker(s): {problem}")
    print(f"load average (1 min) before/after: {load_before:.2f}/{os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
