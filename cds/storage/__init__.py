"""Persistence of Neurosteroid CDS: issued cards, feedback (card memory, analytics), audit trail.

Usage::

    store = Store("sqlite:///./var/cds.db")   # or "postgresql+psycopg://user@host/db"
    store.migrate()                          # idempotent; safe when several processes start
    store.record_invocation(InvocationRecord(...), [IssuedCardRecord(...)])
    store.record_feedback("neurosteroid-patient-view", [FeedbackItem(...)])
    store.feedback_for(patient_key, "neurosteroid-phq9-item9", since)

Patients are stored only as :func:`cds.privacy.patient_key` values; tokens are never stored.
"""

from cds.storage.store import (
    FeedbackItem,
    FeedbackOutcome,
    InvocationRecord,
    IssuedCardRecord,
    OverrideReasonCount,
    RuleStats,
    StorageError,
    Store,
    StoredFeedback,
)

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
