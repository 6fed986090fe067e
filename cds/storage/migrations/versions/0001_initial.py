"""Initial schema: issued_cards, feedback, invocations.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(36), primary_key=True),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=False),
        sa.Column("rule_version", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("finding_key", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_issued_cards_rule_created", "issued_cards", ["rule_id", "created_at"])

    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(255), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("rule_id", sa.String(128), nullable=True),
        sa.Column("rule_version", sa.String(64), nullable=True),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("finding_key", sa.String(255), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_reason_system", sa.Text, nullable=True),
        sa.Column("override_reason_code", sa.Text, nullable=True),
        sa.Column("override_reason_display", sa.Text, nullable=True),
        sa.Column("override_comment", sa.Text, nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("outcome IN ('accepted', 'overridden')", name="ck_feedback_outcome"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index(
        "ix_feedback_patient_rule_time", "feedback", ["patient_key", "rule_id", "outcome_timestamp"]
    )

    op.create_table(
        "invocations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("hook_instance", sa.String(128), nullable=False),
        sa.Column("service_id", sa.String(128), nullable=False),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("patient_key", sa.String(64), nullable=True),
        sa.Column("rules_fired", sa.JSON, nullable=False),
        sa.Column("pack_hash", sa.String(128), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("cards_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_invocations_created", "invocations", ["created_at"])


def downgrade() -> None:
    op.drop_table("invocations")
    op.drop_table("feedback")
    op.drop_table("issued_cards")
