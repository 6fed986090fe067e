"""What ``bench/http.py`` and ``bench/load.py`` share (kept here, beside the helpers they share with
the tests, because ``bench/`` must stay off ``sys.path``: ``bench/http.py`` would shadow the
standard library's ``http``):

- :class:`Connection`: one keep-alive HTTP/1.1 connection on raw asyncio streams, a few
  microseconds per request where httpx costs several times more CPU, taken from the same two
  cores as the server under test. Responses must carry Content-Length (uvicorn's do).
- :func:`rule_snapshot`: the rule pack a benchmark serves.
"""

from __future__ import annotations

import asyncio
import shutil
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
