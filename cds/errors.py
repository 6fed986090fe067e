"""The exception hierarchy of Neurosteroid CDS.

Every error the service raises on purpose derives from :class:`CDSError`, so callers can catch
one type. The HTTP layer maps each family to a status code:

- :class:`RequestError` (bad input from a client) → 400 with an OperationOutcome;
- :class:`AuthError` → 401 with no detail;
- :class:`DataUnavailableError` (prefetch or FHIR fetch failed) → 412;
- :class:`RulePackError` (the rule pack is invalid) → refuse to start or keep the last good pack;
- :class:`EngineError` (the rules engine failed) → 500, the one case that is our fault.
"""

from __future__ import annotations


class CDSError(Exception):
    """Base class of every error raised on purpose by Neurosteroid CDS."""


class RequestError(CDSError):
    """A client sent something malformed. ``location`` names the bad field (FHIRPath-like)."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location


class AuthError(CDSError):
    """A bearer token is missing or invalid. Its message is logged, never sent to the client."""


class DataUnavailableError(CDSError):
    """Data the rules need could not be obtained (prefetch key ``key``)."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


class FetchError(CDSError):
    """A FHIR fetch failed (timeout, HTTP error, unparsable body, page cap reached)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class RulePackError(CDSError):
    """A rule pack failed validation. ``problems`` holds every problem found, not just the first."""

    def __init__(self, problems: list[object]) -> None:
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the rule pack:\n{shown}{more}")
        self.problems = problems


class EngineError(CDSError):
    """The rules engine failed while evaluating (an action raised, or the C engine errored)."""
