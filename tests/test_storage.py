"""The CDS store against SQLite and a real (throwaway) PostgreSQL server."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from postgres_server import (
    PostgresUnavailableError,
    create_database,
    find_postgres_bindir,
    postgres_server,
)
from sqlalchemy import inspect, select, text

from cds.facts import EPOCH
from cds.privacy import patient_key
from cds.storage import (
    FeedbackItem,
    InvocationRecord,
    IssuedCardRecord,
    OverrideReasonCount,
    StorageError,
    Store,
)
from cds.storage.models import Base, InvocationRow, IssuedCardRow
from cds.storage.store import _INHERITED

SECRET = b"test-secret-not-for-production"
RAW_PATIENT_ID = "raw-patient-id-7Qx93ZkP"
OTHER_RAW_PATIENT_ID = "raw-patient-id-Lm42VvTa"
T0 = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)
SERVICE = "neurosteroid-patient-view"
ITEM9 = "neurosteroid-phq9-item9"
WORSENING = "precursor-mood-worsening"
SNOMED = "http://snomed.info/sct"

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/var/cds.db"
    server: str = request.getfixturevalue("postgres_url")
    return create_database(server, f"t{next(_db_counter)}_{uuid.uuid4().hex[:8]}")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url, clock=lambda: T0 + timedelta(hours=1))
    s.migrate()
    yield s
    s.close()


def pkey(raw: str = RAW_PATIENT_ID) -> str:
    return patient_key(raw, SECRET)


def invocation(
    *, patient: str | None = None, at: datetime = T0, rules: tuple[str, ...] = ()
) -> InvocationRecord:
    return InvocationRecord(
        hook_instance=str(uuid.uuid4()),
        service_id=SERVICE,
        hook="patient-view",
        patient_key=patient if patient is not None else pkey(),
        rules_fired=rules,
        pack_hash="sha256:abc123",
        latency_ms=12.5,
        status_code=200,
        outcome="cards" if rules else "no-cards",
        created_at=at,
    )


def issue(
    store: Store,
    rule_id: str = ITEM9,
    *,
    version: str = "1.0.0",
    patient: str | None = None,
    at: datetime = T0,
    finding: str | None = None,
) -> str:
    card = IssuedCardRecord(str(uuid.uuid4()), rule_id, version, finding_key=finding)
    store.record_invocation(
        invocation(patient=patient, at=at, rules=(f"{rule_id}@{version}",)), [card]
    )
    return card.card_uuid


def accepted(card: str, at: datetime = T0, suggestions: list[str] | None = None) -> FeedbackItem:
    return FeedbackItem(card, "accepted", suggestions or [], None, None, None, None, at)


def overridden(
    card: str,
    at: datetime = T0,
    *,
    system: str | None = SNOMED,
    code: str | None = "1234",
    display: str | None = "Not clinically relevant",
    comment: str | None = None,
) -> FeedbackItem:
    return FeedbackItem(card, "overridden", [], system, code, display, comment, at)


# --------------------------------------------------------------------------------------------
# Schema and lifecycle
# --------------------------------------------------------------------------------------------


def test_migrate_twice_is_idempotent(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.migrate()
        store.migrate()
        tables = set(inspect(store.engine).get_table_names())
        assert tables == {"issued_cards", "feedback", "invocations", "alembic_version"}
        with store.engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert versions == [("0001_initial",)]
    finally:
        store.close()


def test_migration_matches_models(store: Store) -> None:
    inspector = inspect(store.engine)
    for table in Base.metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert set(columns) == set(table.columns.keys()), table.name
        for column in table.columns:
            assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
        indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes(table.name)}
        for index in table.indexes:
            assert indexes[index.name] == tuple(c.name for c in index.columns)
    index_columns = {
        tuple(i["column_names"])
        for name in ("feedback", "issued_cards")
        for i in inspector.get_indexes(name)
    }
    assert ("patient_key", "rule_id", "outcome_timestamp") in index_columns
    assert ("rule_id", "created_at") in index_columns


def test_concurrent_migrations_do_not_collide(store_url: str) -> None:
    stores = [Store(store_url) for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def run(s: Store) -> None:
        try:
            barrier.wait()
            s.migrate()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == []
        assert stores[0].ping()
        issue(stores[0])
    finally:
        for s in stores:
            s.close()


def test_missing_postgres_binaries_fail_with_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PostgresUnavailableError, match=r"scripts/install-test-deps\.sh"):
        find_postgres_bindir(tmp_path)


def test_ping_and_close(store: Store) -> None:
    assert store.ping()
    store.close()
    assert store.ping()  # the pool reconnects after close()


def test_ping_false_when_unreachable() -> None:
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        assert store.ping() is False
    finally:
        store.close()


def test_sqlite_file_settings(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "cds.db"
    store = Store(f"sqlite:///{path}")
    try:
        store.migrate()
        assert path.parent.is_dir()
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    finally:
        store.close()


def test_sqlite_in_memory_is_shared_across_threads() -> None:
    store = Store("sqlite://")
    try:
        store.migrate()
        worker = threading.Thread(target=issue, args=(store,))
        worker.start()
        worker.join()
        assert len(store.rule_stats(T0 - timedelta(days=1), T0 + timedelta(days=1))) == 1
    finally:
        store.close()


# --------------------------------------------------------------------------------------------
# Invocations and cards
# --------------------------------------------------------------------------------------------


def test_record_invocation_with_cards(store: Store) -> None:
    new_york = timezone(timedelta(hours=-5))  # stored in UTC whatever zone it comes in
    record = invocation(rules=(f"{ITEM9}@1.0.0", f"{WORSENING}@2.1.0"), at=T0.astimezone(new_york))
    cards = [
        IssuedCardRecord(str(uuid.uuid4()), ITEM9, "1.0.0", finding_key="obs-hash-1"),
        IssuedCardRecord(str(uuid.uuid4()), WORSENING, "2.1.0"),
    ]
    store.record_invocation(record, cards)
    with store.engine.connect() as conn:
        inv = conn.execute(
            text("SELECT hook, rules_fired, cards_count, status_code, outcome FROM invocations")
        ).one()
        rows = conn.execute(
            text(
                "SELECT card_uuid, rule_id, rule_version, patient_key, finding_key, hook_instance"
                " FROM issued_cards ORDER BY rule_id"
            )
        ).all()
    assert inv.hook == "patient-view"
    assert inv.cards_count == 2
    assert inv.status_code == 200
    assert inv.outcome == "cards"
    # A raw query returns JSON as text on SQLite and decoded on PostgreSQL.
    rules_fired = (
        json.loads(inv.rules_fired) if isinstance(inv.rules_fired, str) else inv.rules_fired
    )
    assert rules_fired == [f"{ITEM9}@1.0.0", f"{WORSENING}@2.1.0"]
    assert [(r.rule_id, r.rule_version, r.finding_key) for r in rows] == [
        (ITEM9, "1.0.0", "obs-hash-1"),
        (WORSENING, "2.1.0", None),
    ]
    assert all(r.patient_key == pkey() and r.hook_instance == record.hook_instance for r in rows)
    # read back through the models' types: stored as SQLAlchemy itself stores them
    with store.engine.connect() as conn:
        typed = conn.execute(select(InvocationRow.created_at, InvocationRow.rules_fired)).one()
        card_times = conn.execute(select(IssuedCardRow.created_at)).scalars().all()
    assert typed.created_at == record.created_at
    assert typed.rules_fired == list(record.rules_fired)
    assert card_times == [record.created_at] * 2


def test_record_invocation_without_cards_or_patient(store: Store) -> None:
    store.record_invocation(
        InvocationRecord(
            hook_instance=str(uuid.uuid4()),
            service_id=SERVICE,
            hook="patient-view",
            patient_key=None,
            rules_fired=[],
            pack_hash="sha256:abc123",
            latency_ms=3.0,
            status_code=412,
            outcome="412",
            created_at=T0,
        ),
        [],
    )
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM invocations")).scalar() == 1
        assert conn.execute(text("SELECT count(*) FROM issued_cards")).scalar() == 0


def test_record_invocation_is_one_transaction(store: Store) -> None:
    card = issue(store)
    duplicate = IssuedCardRecord(card, ITEM9, "1.0.0")
    with pytest.raises(StorageError):
        store.record_invocation(invocation(rules=(f"{ITEM9}@1.0.0",)), [duplicate])
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM invocations")).scalar() == 1


def test_cards_need_a_patient(store: Store) -> None:
    record = InvocationRecord(
        str(uuid.uuid4()), SERVICE, "patient-view", None, [], "h", 1.0, 200, "cards", T0
    )
    with pytest.raises(ValueError, match="patient_key"):
        store.record_invocation(record, [IssuedCardRecord(str(uuid.uuid4()), ITEM9, "1")])


# --------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------


def test_feedback_copies_rule_from_issued_card(store: Store) -> None:
    card = issue(store, ITEM9, version="1.2.0", finding="obs-hash-9")
    assert store.record_feedback(SERVICE, [accepted(card, suggestions=["sugg-1"])]) == [ITEM9]
    [fb] = store.feedback_for(pkey(), ITEM9, T0 - timedelta(days=1))
    assert (fb.rule_id, fb.rule_version, fb.patient_key, fb.finding_key) == (
        ITEM9,
        "1.2.0",
        pkey(),
        "obs-hash-9",
    )
    assert fb.card_uuid == card
    assert fb.service_id == SERVICE
    assert fb.outcome == "accepted"
    assert fb.accepted_suggestions == ("sugg-1",)
    assert fb.outcome_timestamp == T0
    assert fb.received_at == T0 + timedelta(hours=1)


def test_feedback_for_unknown_card_is_stored(store: Store) -> None:
    unknown = str(uuid.uuid4())
    assert store.record_feedback(SERVICE, [overridden(unknown)]) == [None]
    with store.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT card_uuid, rule_id, rule_version, patient_key, finding_key, outcome"
                " FROM feedback"
            )
        ).one()
    assert tuple(row) == (unknown, None, None, None, None, "overridden")


def test_feedback_shapes_real_clients_send(store: Store) -> None:
    card = issue(store)
    items = [
        accepted(card, T0),  # accepted with no suggestions
        overridden(card, T0 + timedelta(minutes=1), display=None),  # sandbox: no display
        overridden(card, T0 + timedelta(minutes=2), system=None, code=None, display=None),
        overridden(
            card, T0 + timedelta(minutes=3), system=None, code=None, display=None, comment="n/a"
        ),
        accepted(card, T0 + timedelta(minutes=4), suggestions=["a", "b"]),
    ]
    assert len(store.record_feedback(SERVICE, items)) == 5
    stored = store.feedback_for(pkey(), ITEM9, T0)
    assert [
        (
            f.outcome,
            f.accepted_suggestions,
            f.override_reason_system,
            f.override_reason_code,
            f.override_reason_display,
            f.override_comment,
        )
        for f in stored
    ] == [
        ("accepted", (), None, None, None, None),
        ("overridden", (), SNOMED, "1234", None, None),
        ("overridden", (), None, None, None, None),
        ("overridden", (), None, None, None, "n/a"),
        ("accepted", ("a", "b"), None, None, None, None),
    ]


def test_feedback_same_card_twice_and_empty_batch(store: Store) -> None:
    card = issue(store)
    assert len(store.record_feedback(SERVICE, [])) == 0
    assert len(store.record_feedback(SERVICE, [accepted(card), accepted(card)])) == 2
    assert len(store.feedback_for(pkey(), ITEM9, T0)) == 2


def test_feedback_durable_across_store_instances(store_url: str) -> None:
    first = Store(store_url)
    first.migrate()
    card = issue(first)
    first.record_feedback(SERVICE, [accepted(card)])
    first.close()
    second = Store(store_url)
    try:
        assert [f.card_uuid for f in second.feedback_for(pkey(), ITEM9, T0)] == [card]
    finally:
        second.close()


def test_feedback_timestamps_normalised_to_utc(store: Store) -> None:
    card = issue(store)
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 2, 20, 11, 30, tzinfo=plus_two)  # == T0
    store.record_feedback(SERVICE, [accepted(card, local)])
    [fb] = store.feedback_for(pkey(), ITEM9, datetime(2026, 2, 20, 11, 29, tzinfo=plus_two))
    assert fb.outcome_timestamp == T0
    assert fb.outcome_timestamp.utcoffset() == timedelta(0)


def test_feedback_item_validation() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FeedbackItem("c", "accepted", [], None, None, None, None, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="outcome"):
        FeedbackItem("c", "ignored", [], None, None, None, None, T0)  # type: ignore[arg-type]


def test_feedback_for_window_filtering(store: Store) -> None:
    me_item9 = issue(store, ITEM9)
    me_worse = issue(store, WORSENING)
    other_item9 = issue(store, ITEM9, patient=pkey(OTHER_RAW_PATIENT_ID))
    store.record_feedback(
        SERVICE,
        [
            overridden(me_item9, T0 - timedelta(days=200)),  # too old
            accepted(me_item9, T0 - timedelta(days=10)),
            overridden(me_item9, T0),  # exactly at `since` + 10 days: included
            accepted(me_worse, T0),  # other rule
            accepted(other_item9, T0),  # other patient
            accepted(str(uuid.uuid4()), T0),  # unknown card: no patient
        ],
    )
    since = T0 - timedelta(days=10)
    got = store.feedback_for(pkey(), ITEM9, since)
    assert [(f.outcome, f.outcome_timestamp) for f in got] == [
        ("accepted", since),
        ("overridden", T0),
    ]
    assert all(f.card_uuid == me_item9 for f in got)
    assert store.feedback_for(pkey(), ITEM9, T0 + timedelta(seconds=1)) == []
    assert len(store.feedback_for(pkey(), ITEM9, T0 - timedelta(days=365))) == 3


def test_memory_for_reads_rules_patient_and_window(store: Store) -> None:
    """Card memory's read (a plain sqlite3 connection on SQLite, SQLAlchemy on PostgreSQL):
    the same rows and times as ``feedback_for``, across rules, in one query."""
    me_item9 = issue(store, ITEM9, finding="lab:Observation/1")
    me_worse = issue(store, WORSENING)
    other = issue(store, ITEM9, patient=pkey(OTHER_RAW_PATIENT_ID))
    assert store.memory_for(pkey(), [ITEM9, WORSENING], EPOCH) == []
    paris = timezone(timedelta(hours=2))
    store.record_feedback(
        SERVICE,
        [
            overridden(me_item9, T0 - timedelta(days=200)),
            accepted(me_item9, (T0 - timedelta(days=10)).astimezone(paris)),
            accepted(me_worse, T0),
            accepted(other, T0),
        ],
    )
    since = T0 - timedelta(days=10)
    # read again on the same thread: the reader sees what was committed after its first read
    got = sorted(store.memory_for(pkey(), [WORSENING, ITEM9, ITEM9], since))
    assert got == [(ITEM9, "lab:Observation/1", since), (WORSENING, None, T0)]
    assert all(at.utcoffset() == timedelta(0) for _, _, at in got)
    assert store.memory_for(pkey(), [ITEM9], since + timedelta(microseconds=1)) == []
    assert len(store.memory_for(pkey(), [ITEM9], EPOCH)) == 2
    assert len(store.memory_for(pkey(), [ITEM9], datetime(999, 1, 1, tzinfo=UTC))) == 2
    assert store.memory_for(pkey(), [], EPOCH) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        store.memory_for(pkey(), [ITEM9], datetime(2026, 1, 1))


def test_memory_for_from_many_threads_and_after_close(store: Store) -> None:
    card = issue(store, ITEM9)
    store.record_feedback(SERVICE, [accepted(card, T0)])
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: len(store.memory_for(pkey(), [ITEM9], EPOCH)), range(40)))
    assert counts == [1] * 40
    store.close()
    assert len(store.memory_for(pkey(), [ITEM9], EPOCH)) == 1


def test_memory_for_in_a_forked_child_leaves_the_parents_connection(tmp_path: Path) -> None:
    """A forked worker opens its own connection (SQLite forbids using one across fork())."""
    store = Store(f"sqlite:///{tmp_path}/cds.db")
    store.migrate()
    card = issue(store, ITEM9)
    store.record_feedback(SERVICE, [accepted(card, T0)])
    assert len(store.memory_for(pkey(), [ITEM9], EPOCH)) == 1  # the parent's connection is open
    reader = store._reader  # what a forked worker must not reuse
    assert reader is not None
    parents = reader._connection
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            found = len(store.memory_for(pkey(), [ITEM9], EPOCH))
            own = reader._connection is not parents and _INHERITED[-1] is parents
            code = 0 if found == 1 and own else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(store.memory_for(pkey(), [ITEM9], EPOCH)) == 1
    store.close()


def test_feedback_for_needs_aware_since(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.feedback_for(pkey(), ITEM9, datetime(2026, 1, 1))


# --------------------------------------------------------------------------------------------
# Analytics
# --------------------------------------------------------------------------------------------


def test_rule_stats_counts_and_reasons(store: Store) -> None:
    since, until = T0 - timedelta(days=7), T0 + timedelta(days=1)
    a, b, c, d = (issue(store, ITEM9, at=T0 - timedelta(hours=h)) for h in range(4))
    w1 = issue(store, WORSENING, version="2.0.0")
    issue(store, WORSENING, version="2.0.0")
    old = issue(store, ITEM9, at=since - timedelta(days=1))  # issued before the window
    issue(store, ITEM9, at=until)  # `until` is exclusive
    store.record_feedback(
        SERVICE,
        [
            accepted(a),
            accepted(a),  # repeated feedback counts once
            overridden(b, code="R1", display="Patient declined"),
            overridden(c, code="R1", display=None),  # same reason without display
            overridden(d, code="R2", display="Already addressed"),
            overridden(old),  # card from before the window, feedback inside it: counted
            overridden(w1, system=None, code=None, display=None),  # no reason given
            accepted(str(uuid.uuid4())),  # unknown card: no rule, not counted
            accepted(a, until),  # outside the window
        ],
    )
    stats = {(s.rule_id, s.rule_version): s for s in store.rule_stats(since, until)}
    assert set(stats) == {(ITEM9, "1.0.0"), (WORSENING, "2.0.0")}
    item9 = stats[(ITEM9, "1.0.0")]
    assert (item9.cards_issued, item9.accepted, item9.overridden) == (4, 1, 4)
    assert item9.override_reasons == (
        OverrideReasonCount(SNOMED, "R1", "Patient declined", 2),
        OverrideReasonCount(SNOMED, "1234", "Not clinically relevant", 1),
        OverrideReasonCount(SNOMED, "R2", "Already addressed", 1),
    )
    worse = stats[(WORSENING, "2.0.0")]
    assert (worse.cards_issued, worse.accepted, worse.overridden) == (2, 0, 1)
    assert worse.override_reasons == (OverrideReasonCount(None, None, None, 1),)


def test_rule_stats_separates_versions_and_empty_window(store: Store) -> None:
    issue(store, ITEM9, version="1.0.0")
    issue(store, ITEM9, version="1.1.0")
    stats = store.rule_stats(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [(s.rule_id, s.rule_version, s.cards_issued) for s in stats] == [
        (ITEM9, "1.0.0", 1),
        (ITEM9, "1.1.0", 1),
    ]
    assert store.rule_stats(T0 + timedelta(days=1), T0 + timedelta(days=2)) == []


# --------------------------------------------------------------------------------------------
# Privacy
# --------------------------------------------------------------------------------------------


def test_patient_key_is_keyed_stable_and_not_the_raw_id() -> None:
    key = patient_key(RAW_PATIENT_ID, SECRET)
    assert key == patient_key(RAW_PATIENT_ID, SECRET)
    assert len(key) == 64
    assert all(ch in "0123456789abcdef" for ch in key)
    assert RAW_PATIENT_ID not in key
    assert key != patient_key(RAW_PATIENT_ID, b"another-secret")
    assert key != patient_key(OTHER_RAW_PATIENT_ID, SECRET)
    # Known HMAC-SHA256 vector (RFC 4231 test case 2).
    assert patient_key("what do ya want for nothing?", b"Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )
    with pytest.raises(ValueError, match="secret"):
        patient_key(RAW_PATIENT_ID, b"")


def test_nothing_stored_contains_the_raw_patient_id(store: Store) -> None:
    card = issue(store, ITEM9, finding="obs-hash-1")
    issue(store, WORSENING, patient=pkey(OTHER_RAW_PATIENT_ID))
    store.record_feedback(
        SERVICE, [accepted(card, suggestions=["s1"]), overridden(card, comment="seen")]
    )
    dumped: list[str] = []
    with store.engine.connect() as conn:
        for table in ("issued_cards", "feedback", "invocations"):
            rows = conn.execute(text(f"SELECT * FROM {table}")).all()
            assert rows, table
            dumped.extend(repr(tuple(row)) for row in rows)
    blob = "\n".join(dumped)
    assert pkey() in blob
    for raw in (RAW_PATIENT_ID, OTHER_RAW_PATIENT_ID):
        assert raw not in blob
        assert raw.lower() not in blob.lower()


def test_sqlite_file_does_not_contain_raw_patient_id(tmp_path: Path) -> None:
    path = tmp_path / "cds.db"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    card = issue(store)
    store.record_feedback(SERVICE, [accepted(card)])
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw_bytes = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert pkey().encode() in raw_bytes
    assert RAW_PATIENT_ID.encode() not in raw_bytes
