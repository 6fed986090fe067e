"""The CDS store: issued cards, feedback (card memory, analytics) and the invocation audit trail.

Synchronous SQLAlchemy on purpose: the web layer calls it from a thread pool. SQLite (one file, WAL)
serves a single node; PostgreSQL serves several. One exception: card memory's read, on every hook
call, goes through a plain ``sqlite3`` connection on SQLite (:class:`_SqliteReader`). No raw
patient id and no token is ever stored: patients appear only as :func:`cds.privacy.patient_key`
values, computed by the caller.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, bindparam, create_engine, event, func, insert, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from cds.errors import CDSError
from cds.storage.models import FeedbackRow, InvocationRow, IssuedCardRow

#: (rule id, rule version, system, code) → the display the rule's card offered, if any.
ReasonDisplay = Callable[[str, str, str, str], str | None]

__all__ = [
    "FeedbackItem",
    "FeedbackOutcome",
    "InvocationRecord",
    "IssuedCardRecord",
    "OverrideReasonCount",
    "RuleStats",
    "StorageError",
    "Store",
    "StoredFeedback",
]

FeedbackOutcome = Literal["accepted", "overridden"]
_OUTCOMES: Final = frozenset(get_args(FeedbackOutcome))

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises migrations (any constant bigint works).
_MIGRATION_LOCK_KEY: Final = 0x4E53_4344_535F_4D47  # "NSCDS_MG"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")


class StorageError(CDSError):
    """The database failed (unreachable, constraint violated, migration failed)."""


# --------------------------------------------------------------------------------------------
# Records passed in and out (frozen: the store never mutates what it is given)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssuedCardRecord:
    """A card about to be returned. Hook instance, service, patient and time come from the
    :class:`InvocationRecord` it is recorded with.

    ``finding_key`` names the triggering result or period (e.g. a hashed Observation id, or
    ``"2026-H1"``) for rules that fire "once per result/period"; ``None`` for the others.
    """

    card_uuid: str
    rule_id: str
    rule_version: str
    finding_key: str | None = None


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """The audit record of one hook call. ``rules_fired`` holds ``"id@version"`` strings;
    ``outcome`` is e.g. ``"cards"``, ``"no-cards"``, ``"412"``. The number of cards stored is the
    number of :class:`IssuedCardRecord` recorded with it."""

    hook_instance: str
    service_id: str
    hook: str
    patient_key: str | None
    rules_fired: Sequence[str]
    pack_hash: str
    latency_ms: float
    status_code: int
    outcome: str
    created_at: datetime = field(default_factory=_utcnow)

    def __post_init__(self) -> None:
        _require_aware("created_at", self.created_at)


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    """One item of a CDS Hooks feedback body, as real clients send it.

    ``accepted_suggestions`` may be empty for an accepted card; an override reason may lack its
    display (the sandbox sends ``reason`` without ``display``) or be absent altogether.
    """

    card_uuid: str
    outcome: FeedbackOutcome
    accepted_suggestions: list[str]
    override_reason_system: str | None
    override_reason_code: str | None
    override_reason_display: str | None
    override_comment: str | None
    outcome_timestamp: datetime

    def __post_init__(self) -> None:
        if self.outcome not in _OUTCOMES:
            raise ValueError(f"outcome must be accepted or overridden, got {self.outcome!r}")
        _require_aware("outcome_timestamp", self.outcome_timestamp)


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    """A stored feedback row. Rule, patient and finding are ``None`` when the card was unknown."""

    card_uuid: str
    service_id: str
    rule_id: str | None
    rule_version: str | None
    patient_key: str | None
    finding_key: str | None
    outcome: FeedbackOutcome
    accepted_suggestions: tuple[str, ...]
    override_reason_system: str | None
    override_reason_code: str | None
    override_reason_display: str | None
    override_comment: str | None
    outcome_timestamp: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class OverrideReasonCount:
    """How many distinct cards were overridden with one reason (``code`` ``None``: no reason)."""

    system: str | None
    code: str | None
    display: str | None
    count: int


@dataclass(frozen=True, slots=True)
class RuleStats:
    """Per (rule id, rule version) figures for a time window.

    ``cards_issued`` counts cards created in the window; ``accepted`` / ``overridden`` count
    distinct cards with feedback of that outcome whose ``outcome_timestamp`` lies in the window
    (feedback repeated for one card counts once). Feedback for unknown cards has no rule and is
    not counted. ``override_reasons`` is sorted by count, most frequent first.
    """

    rule_id: str
    rule_version: str
    cards_issued: int
    accepted: int
    overridden: int
    override_reasons: tuple[OverrideReasonCount, ...]


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL waits for a concurrent process.
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # durable at commit, WAL included
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


_MEMORY_QUERY = select(
    FeedbackRow.rule_id, FeedbackRow.finding_key, FeedbackRow.outcome_timestamp
).where(
    FeedbackRow.patient_key == bindparam("patient_key"),
    FeedbackRow.rule_id.in_(bindparam("rule_ids", expanding=True)),
    FeedbackRow.outcome_timestamp >= bindparam("since"),
)
"""Card memory's query, built once: building it per request cost 4x its execution (~170 µs of
statement construction and cache-key generation on every hook call)."""


def _sqlite_time(moment: datetime) -> str:
    """A timestamp as SQLAlchemy's SQLite dialect stores ``UTCDateTime``: UTC, fixed width
    (``0999-01-01 00:00:00.000000``), so text order is time order."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child inherited: kept, never used nor closed (SQLite: a connection must
not be used across ``fork()``, and closing it counts as using it)."""


class _SqliteReader:
    """One plain ``sqlite3`` connection for card memory's read, on the SQLite file.

    The read runs on every hook call; through SQLAlchemy (pool checkout, reset on return,
    statement cache, result processing) it cost ~130 µs around a ~10 µs query. Autocommit
    (``isolation_level=None``) and fully fetched results leave no read transaction open, so
    every read sees the latest commit and WAL checkpoints are never held back. One connection
    under a lock (the service reads from its event loop; other threads wait their turn), opened
    on first use and again in a forked child, which leaves its parent's alone."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def read(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._pid != os.getpid():  # a forked child: the parent's lock and connection
            if self._connection is not None:
                _INHERITED.append(self._connection)
            self._pid, self._lock, self._connection = os.getpid(), threading.Lock(), None
        with self._lock:
            if self._connection is None:
                self._connection = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False
                )
                self._connection.execute("PRAGMA busy_timeout=5000")
            return self._connection.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection (the next read opens a new one)."""
        with self._lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None


class Store:
    """The CDS store over SQLite (``sqlite:///./var/cds.db``) or PostgreSQL
    (``postgresql+psycopg://user@host/db``). Thread-safe; call :meth:`migrate` once at start-up.

    ``clock`` supplies ``received_at`` for feedback (injectable for reproducible tests).
    """

    def __init__(self, url: str, *, clock: Callable[[], datetime] = _utcnow) -> None:
        parsed = make_url(url)
        self._clock = clock
        self._backend = parsed.get_backend_name()
        self._sqlite_file: Path | None = None
        if self._backend == "sqlite":
            self._sqlite_file = _sqlite_path(parsed)
            if self._sqlite_file is not None:
                self._sqlite_file.parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(parsed, connect_args={"check_same_thread": False})
            else:
                # In-memory: one shared connection, or every pooled connection sees its own db.
                engine = create_engine(
                    parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool
                )
            event.listen(engine, "connect", _on_sqlite_connect)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
        self._engine: Engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._reader = _SqliteReader(self._sqlite_file) if self._sqlite_file else None

    @property
    def engine(self) -> Engine:
        """The underlying engine (for health checks and tests)."""
        return self._engine

    # -- lifecycle ----------------------------------------------------------------------------

    def migrate(self) -> None:
        """Upgrade the schema to the latest revision. Idempotent; concurrent callers serialise on a
        PostgreSQL advisory lock (or a lock file beside the SQLite database)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("path_separator", "os")
        try:
            with self._migration_lock() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StorageError(f"migration failed: {exc}") from exc

    @contextmanager
    def _migration_lock(self) -> Iterator[Connection]:
        if self._backend == "postgresql":
            # One transaction: PostgreSQL DDL is transactional, and the lock is released at commit,
            # after which a waiting process sees the new alembic_version and does nothing.
            with self._engine.begin() as connection:
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                yield connection
            return
        if self._sqlite_file is None:
            with self._engine.begin() as connection:
                yield connection
            return
        lock_path = self._sqlite_file.with_name(self._sqlite_file.name + ".migrate.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._engine.begin() as connection:
                yield connection
        finally:
            os.close(fd)  # closing releases the lock

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        """Close every pooled connection (and card memory's SQLite one)."""
        if self._reader is not None:
            self._reader.close()
        self._engine.dispose()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise StorageError(f"{what} failed: {type(exc).__name__}") from exc

    # -- writes -------------------------------------------------------------------------------

    def record_invocation(
        self, invocation: InvocationRecord, cards: Sequence[IssuedCardRecord]
    ) -> None:
        """Store the audit record of a hook call and the cards it returned, in one transaction."""
        self.record_invocations([(invocation, cards)])

    def record_invocations(
        self, batch: Sequence[tuple[InvocationRecord, Sequence[IssuedCardRecord]]]
    ) -> None:
        """Store several hook calls and their cards in one transaction (the audit writer's
        batches: one commit, one fsync, for many requests)."""
        for invocation, cards in batch:
            if cards and invocation.patient_key is None:
                raise ValueError("cards need a patient: the invocation has no patient_key")
        invocations = [_invocation_values(inv, len(cards)) for inv, cards in batch]
        issued = [_card_values(inv, card) for inv, cards in batch for card in cards]
        # Core executemany on a connection, no ORM session: the audit of every request goes
        # through here, and the session's bulk-insert bookkeeping cost more than the inserts
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(InvocationRow), invocations)
                if issued:
                    connection.execute(insert(IssuedCardRow), issued)
        except SQLAlchemyError as exc:
            raise StorageError(f"record_invocation failed: {type(exc).__name__}") from exc

    def record_feedback(
        self,
        service_id: str,
        items: Sequence[FeedbackItem],
        reason_display: ReasonDisplay | None = None,
    ) -> list[str | None]:
        """Store feedback items in one transaction; return the rule id of each item's card
        (``None`` for a card we do not hold), in order.

        Rule id/version, patient key and finding key are copied from the issued card when we hold
        it; feedback for an unknown card is stored with those left empty. Durable on return.
        An override reason sent without its display (the spec's own example sends code and
        system only) gets the display the card offered, from ``reason_display(rule id, rule
        version, system, code)``.
        """
        if not items:
            return []
        received_at = self._clock()
        _require_aware("clock()", received_at)
        with self._transaction("record_feedback") as session:
            uuids = {item.card_uuid for item in items}
            known = {
                row.card_uuid: row
                for row in session.scalars(
                    select(IssuedCardRow).where(IssuedCardRow.card_uuid.in_(uuids))
                )
            }
            rule_ids = [row.rule_id if (row := known.get(u.card_uuid)) else None for u in items]
            for item in items:
                card = known.get(item.card_uuid)
                session.add(
                    FeedbackRow(
                        card_uuid=item.card_uuid,
                        service_id=service_id,
                        rule_id=card.rule_id if card else None,
                        rule_version=card.rule_version if card else None,
                        patient_key=card.patient_key if card else None,
                        finding_key=card.finding_key if card else None,
                        outcome=item.outcome,
                        accepted_suggestions=list(item.accepted_suggestions),
                        override_reason_system=item.override_reason_system,
                        override_reason_code=item.override_reason_code,
                        override_reason_display=item.override_reason_display
                        or _offered_display(card, item, reason_display),
                        override_comment=item.override_comment,
                        outcome_timestamp=item.outcome_timestamp,
                        received_at=received_at,
                    )
                )
        return rule_ids

    # -- reads --------------------------------------------------------------------------------

    @property
    def is_local(self) -> bool:
        """An embedded SQLite file: reads are cheap enough to make on the event loop."""
        return self._engine.dialect.name == "sqlite"

    def memory_for(
        self, patient_key: str, rule_ids: Sequence[str], since: datetime
    ) -> list[tuple[str, str | None, datetime]]:
        """(rule id, finding key, outcome time) of every feedback on these rules for one patient
        since ``since``: card memory for all remembered rules of a request in one light query."""
        _require_aware("since", since)
        if not rule_ids:
            return []
        ids = sorted(set(rule_ids))
        if self._reader is not None:
            return self._sqlite_memory(self._reader, patient_key, ids, since)
        params = {"patient_key": patient_key, "rule_ids": ids, "since": since}
        try:
            with self._engine.connect() as connection:
                return [(str(r), f, t) for r, f, t in connection.execute(_MEMORY_QUERY, params)]
        except SQLAlchemyError as exc:
            raise StorageError(f"memory_for failed: {type(exc).__name__}") from exc

    @staticmethod
    def _sqlite_memory(
        reader: _SqliteReader, patient_key: str, rule_ids: list[str], since: datetime
    ) -> list[tuple[str, str | None, datetime]]:
        """:meth:`memory_for` on the SQLite file, with the same query as ``_MEMORY_QUERY``."""
        marks = ", ".join("?" * len(rule_ids))  # the text holds no value: all are parameters
        sql = (
            f"SELECT rule_id, finding_key, outcome_timestamp FROM {FeedbackRow.__tablename__} "
            f"WHERE patient_key = ? AND rule_id IN ({marks}) AND outcome_timestamp >= ?"
        )
        try:
            rows = reader.read(sql, (patient_key, *rule_ids, _sqlite_time(since)))
        except (sqlite3.Error, OverflowError) as exc:
            raise StorageError(f"memory_for failed: {type(exc).__name__}") from exc
        return [
            (str(rule), finding, datetime.fromisoformat(at).replace(tzinfo=UTC))
            for rule, finding, at in rows
        ]

    def feedback_for(self, patient_key: str, rule_id: str, since: datetime) -> list[StoredFeedback]:
        """Feedback on ``rule_id`` cards for one patient with ``outcome_timestamp >= since``,
        oldest first (card memory: "once per result", "once per 6 months")."""
        _require_aware("since", since)
        query = (
            select(FeedbackRow)
            .where(
                FeedbackRow.patient_key == patient_key,
                FeedbackRow.rule_id == rule_id,
                FeedbackRow.outcome_timestamp >= since,
            )
            .order_by(FeedbackRow.outcome_timestamp, FeedbackRow.id)
        )
        with self._transaction("feedback_for") as session:
            return [_stored(row) for row in session.scalars(query)]

    def rule_stats(self, since: datetime, until: datetime) -> list[RuleStats]:
        """Per (rule id, version) counts for ``since <= t < until``: see :class:`RuleStats`."""
        _require_aware("since", since)
        _require_aware("until", until)
        issued_q = (
            select(IssuedCardRow.rule_id, IssuedCardRow.rule_version, func.count())
            .where(IssuedCardRow.created_at >= since, IssuedCardRow.created_at < until)
            .group_by(IssuedCardRow.rule_id, IssuedCardRow.rule_version)
        )
        in_window = (
            FeedbackRow.rule_id.is_not(None),
            FeedbackRow.rule_version.is_not(None),
            FeedbackRow.outcome_timestamp >= since,
            FeedbackRow.outcome_timestamp < until,
        )
        outcome_q = (
            select(
                FeedbackRow.rule_id,
                FeedbackRow.rule_version,
                FeedbackRow.outcome,
                func.count(FeedbackRow.card_uuid.distinct()),
            )
            .where(*in_window)
            .group_by(FeedbackRow.rule_id, FeedbackRow.rule_version, FeedbackRow.outcome)
        )
        reason_q = (
            select(
                FeedbackRow.rule_id,
                FeedbackRow.rule_version,
                FeedbackRow.override_reason_system,
                FeedbackRow.override_reason_code,
                func.max(FeedbackRow.override_reason_display),
                func.count(FeedbackRow.card_uuid.distinct()),
            )
            .where(*in_window, FeedbackRow.outcome == "overridden")
            .group_by(
                FeedbackRow.rule_id,
                FeedbackRow.rule_version,
                FeedbackRow.override_reason_system,
                FeedbackRow.override_reason_code,
            )
        )
        issued: dict[tuple[str, str], int] = defaultdict(int)
        outcomes: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        reasons: dict[tuple[str, str], list[OverrideReasonCount]] = defaultdict(list)
        with self._transaction("rule_stats") as session:
            for rule_id, version, count in session.execute(issued_q):
                issued[(rule_id, version)] = count
            for f_rule, f_version, outcome, count in session.execute(outcome_q):
                if f_rule is not None and f_version is not None:
                    outcomes[(f_rule, f_version)][outcome] = count
            for r_rule, r_version, system, code, display, count in session.execute(reason_q):
                if r_rule is not None and r_version is not None:
                    reasons[(r_rule, r_version)].append(
                        OverrideReasonCount(system=system, code=code, display=display, count=count)
                    )
        keys = sorted(set(issued) | set(outcomes))
        return [
            RuleStats(
                rule_id=rule_id,
                rule_version=version,
                cards_issued=issued.get((rule_id, version), 0),
                accepted=outcomes.get((rule_id, version), {}).get("accepted", 0),
                overridden=outcomes.get((rule_id, version), {}).get("overridden", 0),
                override_reasons=tuple(
                    sorted(
                        reasons.get((rule_id, version), []),
                        key=lambda r: (-r.count, r.system or "", r.code or ""),
                    )
                ),
            )
            for rule_id, version in keys
        ]


def _invocation_values(invocation: InvocationRecord, cards_count: int) -> dict[str, Any]:
    return {
        "hook_instance": invocation.hook_instance,
        "service_id": invocation.service_id,
        "hook": invocation.hook,
        "patient_key": invocation.patient_key,
        "rules_fired": list(invocation.rules_fired),
        "pack_hash": invocation.pack_hash,
        "latency_ms": invocation.latency_ms,
        "status_code": invocation.status_code,
        "outcome": invocation.outcome,
        "cards_count": cards_count,
        "created_at": invocation.created_at,
    }


def _card_values(invocation: InvocationRecord, card: IssuedCardRecord) -> dict[str, Any]:
    return {
        "card_uuid": card.card_uuid,
        "hook_instance": invocation.hook_instance,
        "service_id": invocation.service_id,
        "rule_id": card.rule_id,
        "rule_version": card.rule_version,
        "patient_key": invocation.patient_key,
        "finding_key": card.finding_key,
        "created_at": invocation.created_at,
    }


def _stored(row: FeedbackRow) -> StoredFeedback:
    outcome: FeedbackOutcome = "accepted" if row.outcome == "accepted" else "overridden"
    return StoredFeedback(
        card_uuid=row.card_uuid,
        service_id=row.service_id,
        rule_id=row.rule_id,
        rule_version=row.rule_version,
        patient_key=row.patient_key,
        finding_key=row.finding_key,
        outcome=outcome,
        accepted_suggestions=tuple(row.accepted_suggestions),
        override_reason_system=row.override_reason_system,
        override_reason_code=row.override_reason_code,
        override_reason_display=row.override_reason_display,
        override_comment=row.override_comment,
        outcome_timestamp=row.outcome_timestamp,
        received_at=row.received_at,
    )


def _offered_display(
    card: IssuedCardRow | None, item: FeedbackItem, reason_display: ReasonDisplay | None
) -> str | None:
    if card is None or reason_display is None:
        return None
    if item.override_reason_system is None or item.override_reason_code is None:
        return None
    return reason_display(
        card.rule_id, card.rule_version, item.override_reason_system, item.override_reason_code
    )
