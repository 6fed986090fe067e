"""Pseudonymisation helpers: raw patient identifiers never reach storage or logs.

A patient is stored as a keyed hash (HMAC-SHA256) of its FHIR id. Without the secret the key cannot
be reversed or recomputed from a guessed id, and it is stable for one secret, so card memory keeps
working across restarts. Rotating the secret starts card memory afresh.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["patient_key"]


def patient_key(patient_id: str, secret: bytes) -> str:
    """Return the keyed hash (HMAC-SHA256, lowercase hex, 64 characters) of ``patient_id``."""
    if not secret:
        raise ValueError("patient_key needs a non-empty secret")
    return hmac.new(secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()
