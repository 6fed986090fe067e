"""SQLAlchemy 2 table models of the CDS store.

Three tables, none of which holds a raw patient id or a token:

- ``issued_cards``: one row per card we returned (the card's uuid names it in feedback);
- ``feedback``: what the EHR told us about a card (accepted / overridden), the source of card memory
  (``monitoring-rules.md`` §3 item 7, §5 item 12) and of the analytics page;
- ``invocations``: the audit trail of hook calls.

Patients appear only as :func:`cds.privacy.patient_key` values. The schema itself is created by the
Alembic migrations in ``cds/storage/migrations``; these models are the runtime view of it and must
match the latest migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, CheckConstraint, DateTime, Dialect, Float, Index, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "FeedbackRow", "InvocationRow", "IssuedCardRow", "UTCDateTime"]

OUTCOMES = ("accepted", "overridden")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite has no zone, so values are normalised to UTC before
    they are written (keeping text comparison correct) and marked UTC when read. Naive datetimes
    are refused: their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use a timezone-aware one")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class IssuedCardRow(Base):
    """A card we returned to an EHR."""

    __tablename__ = "issued_cards"
    __table_args__ = (Index("ix_issued_cards_rule_created", "rule_id", "created_at"),)

    card_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    hook_instance: Mapped[str] = mapped_column(String(128))
    service_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(128))
    rule_version: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str] = mapped_column(String(64))
    finding_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime]


class FeedbackRow(Base):
    """One feedback item as received (a card may get several)."""

    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
        Index("ix_feedback_card_uuid", "card_uuid"),
        Index("ix_feedback_patient_rule_time", "patient_key", "rule_id", "outcome_timestamp"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # Not a foreign key: feedback may arrive for cards we never issued or no longer hold.
    card_uuid: Mapped[str] = mapped_column(String(255))
    service_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str | None] = mapped_column(String(128))
    rule_version: Mapped[str | None] = mapped_column(String(64))
    patient_key: Mapped[str | None] = mapped_column(String(64))
    finding_key: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON)
    override_reason_system: Mapped[str | None] = mapped_column(Text)
    override_reason_code: Mapped[str | None] = mapped_column(Text)
    override_reason_display: Mapped[str | None] = mapped_column(Text)
    override_comment: Mapped[str | None] = mapped_column(Text)
    outcome_timestamp: Mapped[datetime]
    received_at: Mapped[datetime]


class InvocationRow(Base):
    """The audit record of one hook call."""

    __tablename__ = "invocations"
    __table_args__ = (Index("ix_invocations_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    hook_instance: Mapped[str] = mapped_column(String(128))
    service_id: Mapped[str] = mapped_column(String(128))
    hook: Mapped[str] = mapped_column(String(64))
    patient_key: Mapped[str | None] = mapped_column(String(64))
    rules_fired: Mapped[list[str]] = mapped_column(JSON)
    pack_hash: Mapped[str] = mapped_column(String(128))
    latency_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(32))
    cards_count: Mapped[int]
    created_at: Mapped[datetime]
