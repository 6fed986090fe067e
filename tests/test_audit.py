"""The audit writer (cds/audit.py): rows queued by requests reach the store in batches, a flush
waits for what was submitted before it, stopping writes what is queued, and neither a full
queue nor a bad row costs the other rows."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from cds.audit import AuditWriter
from cds.storage import InvocationRecord, IssuedCardRecord, Store
from cds.storage.models import InvocationRow, IssuedCardRow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
    store.migrate()
    yield store
    store.close()


class CountingStore:
    """A store that records each batch it is given (and can refuse one hook instance)."""

    def __init__(self, store: Store, refuse: str | None = None) -> None:
        self.store = store
        self.refuse = refuse
        self.batches: list[int] = []

    def record_invocations(
        self, batch: Sequence[tuple[InvocationRecord, Sequence[IssuedCardRecord]]]
    ) -> None:
        if any(inv.hook_instance == self.refuse for inv, _ in batch):
            raise RuntimeError("refused")
        self.batches.append(len(batch))
        self.store.record_invocations(batch)

    def record_invocation(
        self, invocation: InvocationRecord, cards: Sequence[IssuedCardRecord]
    ) -> None:
        self.record_invocations([(invocation, cards)])


def call(hook_instance: str | None = None, cards: int = 0) -> tuple[InvocationRecord, list[Any]]:
    instance = hook_instance or str(uuid.uuid4())
    record = InvocationRecord(
        hook_instance=instance,
        service_id="neurosteroid-patient-view",
        hook="patient-view",
        patient_key="k" * 64,
        rules_fired=["dhea-s-high@1.0.0"] if cards else [],
        pack_hash="p",
        latency_ms=1.0,
        status_code=200,
        outcome="cards" if cards else "no-cards",
    )
    issued = [
        IssuedCardRecord(str(uuid.uuid4()), "dhea-s-high", "1.0.0", f"{instance}-{n}")
        for n in range(cards)
    ]
    return record, issued


def rows(store: Store) -> tuple[int, int]:
    with store.engine.connect() as connection:
        invocations = connection.execute(select(func.count()).select_from(InvocationRow))
        cards = connection.execute(select(func.count()).select_from(IssuedCardRow))
        return invocations.scalar_one(), cards.scalar_one()


def make_writer(store: Store, **options: Any) -> tuple[AuditWriter, CountingStore]:
    counting = CountingStore(store)
    return AuditWriter(counting, **options), counting


def test_flush_waits_for_every_row_submitted_before_it(store: Store) -> None:
    writer, _ = make_writer(store, interval_s=30.0)  # only the flush can make it write
    writer.start()
    try:
        for n in range(25):
            writer.submit(*call(cards=n % 3))
        assert writer.flush(timeout_s=5.0)
        assert rows(store) == (25, sum(n % 3 for n in range(25)))
        writer.submit(*call())  # and again: the writer goes on after a flush
        assert writer.flush(timeout_s=5.0)
        assert rows(store)[0] == 26
    finally:
        writer.stop()


def test_rows_are_written_in_batches_without_a_flush(store: Store) -> None:
    writer, counting = make_writer(store, interval_s=0.05, max_batch=40)
    for _ in range(100):  # queued before the writer runs: as under load, between two wakes
        writer._queue.append(call())
    writer.start()
    try:
        deadline = time.monotonic() + 5
        while rows(store)[0] < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rows(store)[0] == 100
        assert counting.batches == [40, 40, 20]
    finally:
        writer.stop()


def test_stop_writes_what_is_queued(store: Store) -> None:
    writer, _ = make_writer(store, interval_s=30.0)
    writer.start()
    for _ in range(10):
        writer.submit(*call())
    writer.stop()
    assert rows(store) == (10, 0)


def submit_slowly(writer: AuditWriter, times: int) -> None:
    for _ in range(times):
        writer.submit(*call())
        time.sleep(0.001)  # over several of the writer's wakes


def test_rows_submitted_from_many_threads_are_all_written(store: Store) -> None:
    writer, _ = make_writer(store, interval_s=0.01)
    writer.start()
    try:
        threads = [threading.Thread(target=submit_slowly, args=(writer, 50)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert writer.flush()
        assert rows(store) == (200, 0)
    finally:
        writer.stop()


def test_a_full_queue_drops_and_counts_but_keeps_what_it_holds(store: Store) -> None:
    writer, _ = make_writer(store, interval_s=30.0, max_queued=3)
    writer.start()
    try:
        for _ in range(5):
            writer.submit(*call())
        assert writer.dropped == 2
        assert writer.flush()
        assert rows(store) == (3, 0)
    finally:
        writer.stop()


def test_one_row_the_store_refuses_does_not_cost_the_others(store: Store) -> None:
    counting = CountingStore(store, refuse="poison")
    writer = AuditWriter(counting, interval_s=30.0)
    writer.start()
    try:
        writer.submit(*call())
        writer.submit(*call("poison"))
        writer.submit(*call())
        assert writer.flush()
        assert rows(store) == (2, 0)
        assert writer.dropped == 1
    finally:
        writer.stop()


def test_without_start_each_row_is_written_at_once(store: Store) -> None:
    writer, _ = make_writer(store)
    writer.submit(*call(cards=2))
    assert rows(store) == (1, 2)
    assert writer.flush()
