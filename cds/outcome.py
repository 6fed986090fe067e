"""FHIR OperationOutcome bodies for error responses."""

from __future__ import annotations

from typing import Any

from cds.responses import JSONResponse


def operation_outcome(
    status: int, code: str, message: str, expression: str | None = None
) -> JSONResponse:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = [expression]
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type="application/fhir+json",
    )
