"""What ``bench/http.py`` and ``bench/load.py`` share (kept here, beside the helpers they share with
the tests, because ``bench/`` must stay off ``sys.path``: ``bench/http.py`` would shadow the
standard library's ``http``):

- :class:`Connection`: one keep-alive HTTP/1.1 connection on raw asyncio streams, a few
  microseconds per request where httpx costs several times more CPU, taken from the same two
  cores as the server under test. Responses must carry Content-Length (uvicorn's do).
- :func:`rule_snapshot`: the rule pack a benchmark serves.
- :func:`on_schedule`: the open loop (requests at a fixed rate, latency from the schedule), and
  :func:`percentile_ms`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Connection:
    """One keep-alive connection to 127.0.0.1:``port`` sending prepared requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, payload: bytes) -> tuple[int, bytes]:
        """Send ``payload`` (a whole HTTP/1.1 request) and read the status and body."""
        if self.reader is None or self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise ValueError("response without Content-Length")
        return status, await self.reader.readexactly(length)


def rule_snapshot(tmp: Path) -> tuple[Path, str]:
    """A copy of ``rules/`` taken now (edits during a run do not reach the servers) and a label
    for the report; ``tests/data/mini-pack`` when ``rules/`` does not validate."""
    from cds.errors import RulePackError
    from cds.rules.pack import load_pack

    snapshot = tmp / "rules"
    shutil.copytree(ROOT / "rules", snapshot)
    try:
        pack = load_pack(snapshot)
    except RulePackError as exc:
        first = str(exc).splitlines()[0]
        mini = ROOT / "tests" / "data" / "mini-pack"
        pack = load_pack(mini)
        label = f"tests/data/mini-pack (rules/ does not validate: {first})"
        return mini, f"{label}; {len(pack.live_rules)} rules"
    return snapshot, f"rules/ snapshot, {len(pack.live_rules)} live rules, pack {pack.pack_hash}"


async def on_schedule(
    rate: float,
    seconds: float,
    conns: Sequence[Connection],
    send: Callable[[Connection, float, int], Awaitable[None]],
    *,
    grace_s: float,
) -> int:
    """Request ``i`` falls due at ``start + i / rate``; the first free connection of ``conns``
    sends it with ``send(conn, due, i)``. Latency measured from ``due`` charges a request for
    the wait when every connection is busy (no coordinated omission). Gives up ``grace_s``
    after the schedule ends; returns how many requests fell due."""
    loop = asyncio.get_running_loop()
    total = max(1, round(rate * seconds))
    queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
    start = loop.time() + 0.05

    async def produce() -> None:
        for i in range(total):
            due = start + i / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.put_nowait((due, i))
        for _ in conns:
            queue.put_nowait(None)

    async def work(conn: Connection) -> None:
        while (item := await queue.get()) is not None:
            await send(conn, *item)

    with suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(produce(), *(work(c) for c in conns)), seconds + grace_s
        )
    return total


def percentile_ms(seconds: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of latencies in seconds, in milliseconds."""
    if not seconds:
        return float("nan")
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000
