"""Whether a FHIR OperationOutcome says that an operation failed.

CDS Hooks 2.0 (Prefetch Template): "If the CDS Client encounters errors prefetching the
requested data, OperationOutcome(s) SHOULD be used to communicate those errors … CDS Services
SHOULD check any prefetched data for the existence of OperationOutcomes." A search Bundle can
carry them as entries (``search.mode = "outcome"``) beside its results: a warning or an
information ("a parameter was ignored") leaves the results whole; an error or a fatal issue
means the results are not the whole answer, so a rule about the absence of a result must not
read them as complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["FAILED_SEVERITIES", "reports_failure"]

#: ``OperationOutcome.issue.severity`` values that mean the operation did not succeed.
FAILED_SEVERITIES: Final = frozenset({"error", "fatal"})


def reports_failure(resource: Mapping[str, Any]) -> bool:
    """True for an OperationOutcome with an issue of severity error or fatal."""
    if resource.get("resourceType") != "OperationOutcome":
        return False
    issues = resource.get("issue")
    return isinstance(issues, list) and any(
        isinstance(issue, Mapping) and issue.get("severity") in FAILED_SEVERITIES
        for issue in issues
    )
