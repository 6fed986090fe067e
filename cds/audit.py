"""Write-behind for the audit trail: hook calls are recorded off the request path.

A commit per request costs about 1 ms on SQLite (WAL, synchronous=FULL) — more than the rules
engine. Audit rows are instead queued and written in batches by one background thread, one
transaction per batch. What a crash can lose is the queue of the last few tens of milliseconds
of *audit* rows; feedback is never queued (it is written before the client gets its 200), and
the feedback endpoint first waits for the queue to drain so that the cards it refers to are on
record.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence

from cds.observability import log
from cds.storage import InvocationRecord, IssuedCardRecord, Store

Entry = tuple[InvocationRecord, Sequence[IssuedCardRecord]]


class AuditWriter:
    def __init__(self, store: Store, *, max_batch: int = 500, interval_s: float = 0.05) -> None:
        self._store = store
        self._queue: queue.Queue[Entry | None] = queue.Queue(maxsize=100_000)
        self._max_batch = max_batch
        self._interval = interval_s
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self._submitted = 0
        self._written = 0
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def submit(self, invocation: InvocationRecord, cards: Sequence[IssuedCardRecord]) -> None:
        """Queue one hook call; never blocks the request (a full queue drops and counts)."""
        if self._thread is None:  # not started (e.g. a test app without lifespan): write now
            self._store.record_invocation(invocation, cards)
            return
        try:
            self._queue.put_nowait((invocation, cards))
        except queue.Full:
            self.dropped += 1
            log.warning("audit_dropped", dropped=self.dropped)
            return
        with self._done:
            self._submitted += 1

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        with self._done:
            target = self._submitted
            return self._done.wait_for(lambda: self._written >= target, timeout=timeout_s)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            try:
                first = self._queue.get(timeout=self._interval)
            except queue.Empty:
                continue
            batch: list[Entry] = []
            if first is None:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)

    def _write(self, batch: list[Entry]) -> None:
        try:
            self._store.record_invocations(batch)
        except Exception:  # the audit must never take the service down
            if len(batch) > 1:  # one bad row must not cost the others: write them one by one
                for entry in batch:
                    self._write_one(entry)
            else:
                self._write_one(batch[0])
        with self._done:
            self._written += len(batch)
            self._done.notify_all()

    def _write_one(self, entry: Entry) -> None:
        try:
            self._store.record_invocations([entry])
        except Exception as exc:  # the audit must never take the service down
            self.dropped += 1
            log.error("audit_write_failed", rows=1, error=type(exc).__name__)
