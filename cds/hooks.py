"""CDS Hooks 2.0 request and feedback models (what EHRs send us).

Lenient where real clients differ from the spec (extra fields allowed, the sandbox's
``overrideReason.reason`` without ``display``), strict where a wrong value would change an answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL characters

SERVICES: dict[str, tuple[str, str, str]] = {
    # id: (hook, title, description)
    "neurosteroid-patient-view": (
        "patient-view",
        "Neurosteroid risks when a chart is opened",
        "Warns about DHEA and pregnenolone use without oversight, out-of-range DHEA-S and sex "
        "hormones, interactions and contraindications of zuranolone, brexanolone and ganaxolone.",
    ),
    "neurosteroid-order-select": (
        "order-select",
        "Neurosteroid risks of a selected order",
        "Checks a draft order for zuranolone, brexanolone, ganaxolone, DHEA/prasterone or "
        "pregnenolone against the patient's medications, conditions, labs and pregnancy status.",
    ),
    "neurosteroid-order-sign": (
        "order-sign",
        "Neurosteroid risks before an order is signed",
        "Checks draft orders before signing, as order-select does, for all draft orders at once.",
    ),
}


class FieldError(ValueError):
    """A check across fields, raised in a model validator, with the field it blames (pydantic
    locates such errors at the model itself; the 400's expression names this field instead)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_Lenient):
    access_token: str = Field(min_length=1)
    token_type: str
    expires_in: int | None = None
    scope: str
    subject: str
    patient: str | None = None


class HookContext(_Lenient):
    userId: str = Field(min_length=1)  # noqa: N815 - CDS Hooks field names
    patientId: str = Field(min_length=1, max_length=64)  # noqa: N815 - a FHIR id: ≤ 64
    encounterId: str | None = None  # noqa: N815
    selections: list[str] | None = None
    draftOrders: dict[str, Any] | None = None  # noqa: N815


#: What a ``hookInstance`` may be to be stored: audit rows hold up to 128 characters.
HookInstance = Annotated[str, Field(min_length=1, max_length=128, pattern=NO_NUL)]


class HookRequest(_Lenient):
    hook: str
    hookInstance: HookInstance  # noqa: N815
    fhirServer: str | None = Field(None, pattern=r"^https?://")  # noqa: N815
    fhirAuthorization: FhirAuthorization | None = None  # noqa: N815
    context: HookContext
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise FieldError(
                "fhirServer", "fhirServer is required when fhirAuthorization is present"
            )
        if self.hook in ("order-select", "order-sign"):
            orders = self.context.draftOrders
            if not isinstance(orders, dict) or orders.get("resourceType") != "Bundle":
                raise FieldError(
                    "context.draftOrders",
                    f"context.draftOrders must be a FHIR Bundle for {self.hook}",
                )
        if self.hook == "order-select" and not self.context.selections:
            raise FieldError(
                "context.selections", "context.selections is required for order-select"
            )
        return self


class ReasonCoding(_Lenient):
    code: str | None = Field(None, max_length=1024, pattern=NO_NUL)
    system: str | None = Field(None, max_length=1024, pattern=NO_NUL)
    display: str | None = Field(None, max_length=4096, pattern=NO_NUL)


class OverrideReason(_Lenient):
    reason: ReasonCoding | None = None
    userComment: str | None = Field(None, max_length=10_000, pattern=NO_NUL)  # noqa: N815


class AcceptedSuggestion(_Lenient):
    id: str = Field(max_length=255, pattern=NO_NUL)


class FeedbackEntry(_Lenient):
    card: str = Field(min_length=1, max_length=255, pattern=NO_NUL)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list)  # noqa: N815
    overrideReason: OverrideReason | None = None  # noqa: N815
    outcomeTimestamp: datetime  # noqa: N815

    @field_validator("outcomeTimestamp")
    @classmethod
    def _storable(cls, moment: datetime) -> datetime:
        """A timestamp must convert to UTC (0001-01-01T00:00+01:00 cannot)."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("outcomeTimestamp is outside the representable range") from exc


class FeedbackBody(_Lenient):
    feedback: list[FeedbackEntry] = Field(min_length=1)
