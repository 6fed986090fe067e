"""The rule-file format, as pydantic models (the JSON Schema in ``rules/schema/`` comes from here).

A rule file is YAML that clinical informaticists write and pharmacists review. Names follow FHIR
PlanDefinition / CRMI where one exists, so a rule can be exported later. Conditions are written
over normalised facts (see :mod:`cds.facts`), never over raw FHIR.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: Rule, value-set and derived-fact ids: lower-case words joined by hyphens.
ID_PATTERN = r"[a-z0-9]+(?:-[a-z0-9]+)*"
RuleId = Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$", max_length=64)]
SemVer = Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")]
Binding = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,30}$")]
IsoDuration = Annotated[str, StringConstraints(pattern=r"^-?P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?$")]

HOOKS = ("patient-view", "order-select", "order-sign")
Hook = Literal["patient-view", "order-select", "order-sign"]
FactType = Literal["patient", "lab", "medication", "condition", "observation", "order", "derived"]
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "exists")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Status(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Quality(StrEnum):
    """cqf-qualityOfEvidence (http://terminology.hl7.org/CodeSystem/evidence-quality)."""

    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"
    VERY_LOW = "very-low"


class Strength(StrEnum):
    """cqf-strengthOfRecommendation (http://terminology.hl7.org/CodeSystem/recommendation-strength)."""

    STRONG = "strong"
    WEAK = "weak"


# The knowledge table's evidence tags, in plain words for the card.
GRADE_WORDS: dict[str, str] = {
    "L": "FDA label",
    "R": "trial or pharmacokinetic data",
    "C": "case reports",
    "M": "monograph or expert opinion",
    "T": "theoretical, in-vitro or animal data",
    "X": "conflicting sources",
    "E": "this project's own expert-opinion proposal, with no published source",
}
Grade = Literal["L", "R", "C", "M", "T", "X", "E"]


class Evidence(_Strict):
    grades: list[Grade] = Field(min_length=1, description="Evidence tags: L R C M T X E")
    quality: Quality
    strength: Strength
    note: str | None = Field(None, description="One plain sentence on how strong this is")


class Citation(_Strict):
    label: str
    url: Annotated[str, StringConstraints(pattern=r"^https?://")]
    section: str = Field(description="Exact label section, monograph section or page")
    revision: str | None = None


class Effective(_Strict):
    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Effective:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end: the rule would never be in effect")
        return self


class Operand(_Strict):
    """A reference to a field of another bound fact, optionally shifted (joins)."""

    ref: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")]
    offset: float | IsoDuration | None = Field(
        None,
        description="Added to the referenced value: a number, or an ISO 8601 duration for days",
    )


Scalar = bool | float | int | str
WHERE_DOC = (
    "Field tests, all must hold. A scalar means equality; otherwise an object of operators "
    "eq, ne, gt, gte, lt, lte (a number, '30 mg', '10 umol/L', P12M for durations, or "
    "{ref: binding.field, offset: ...}), in (a list of values) and exists (true/false)."
)


class Window(_Strict):
    """Date window on the fact's date, anchored to now (``within``) or to another fact."""

    field: str = Field("day", description="The day-valued field the window applies to")
    after: Operand | None = None
    before: Operand | None = None


class Pattern(_Strict):
    fact: FactType
    name: str | None = Field(None, description="For derived facts: the derived fact's name")
    as_: Binding | None = Field(
        None, alias="as", description="Binding name used by joins and card text"
    )
    in_: str | Annotated[list[str], Field(min_length=1)] | None = Field(
        None, alias="in", description="Value-set membership (any of); `in: []` would match all"
    )
    where: dict[str, Any] = Field(default_factory=dict, description=WHERE_DOC)
    within: IsoDuration | None = Field(None, description="Look-back window from now, e.g. P12M")
    window: Window | None = None
    absent: bool = Field(False, description="The rule holds only if NO fact matches this pattern")


class Derive(_Strict):
    name: RuleId
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Field name → 'binding.field' copied into the derived fact",
    )


class Coding(_Strict):
    system: str
    code: str
    display: str


class SuggestionAction(_Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = Field(None, description="FHIR resource template (create)")
    from_binding: Binding | None = Field(
        None, description="update: the bound draft order to change"
    )
    set: dict[str, Any] | None = Field(
        None, description="update: dotted paths and their new values"
    )


class Suggestion(_Strict):
    label: str
    is_recommended: bool = False
    actions: list[SuggestionAction] = Field(default_factory=list)


class Link(_Strict):
    label: str
    url: Annotated[str, StringConstraints(pattern=r"^https?://")]


class Source(_Strict):
    label: str
    url: Annotated[str, StringConstraints(pattern=r"^https?://")] | None = None


class Card(_Strict):
    indicator: Indicator
    summary: str = Field(description="One sentence, at most 140 characters after interpolation")
    detail: str = Field(description="Markdown; {binding.field} placeholders are filled in")
    source: Source | None = Field(None, description="Defaults to the first citation")
    links: list[Link] = Field(default_factory=list)
    suggestions: list[Suggestion] = Field(default_factory=list)
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: list[Coding] = Field(default_factory=list)


class MissingData(_Strict):
    """CDS Connect's errorStatement: what the rule does when its inputs could not be obtained."""

    needs: list[Literal["patient", "labs", "medications", "conditions", "observations"]] = Field(
        min_length=1
    )
    if_unavailable: Literal["silent", "note"] = Field(
        description="silent: no card; note: the card fires and says which data was missing"
    )
    note: str | None = None


class Memory(_Strict):
    """Card memory, fed by CDS Hooks feedback (accepted or overridden)."""

    once_per: list[Binding] = Field(
        default_factory=list, description="Bindings whose fact ids key it"
    )
    quiet_after_feedback: IsoDuration | None = None


class OnOrderHooks(_Strict):
    """How the rule behaves on order-select / order-sign (conventions §6.1)."""

    draft: Binding | list[Binding] = Field(
        description="On order hooks, the medication bound by this name (or by any one of these "
        "names) must be a draft order, so the card follows the order being placed"
    )


class Rule(_Strict):
    id: RuleId
    version: SemVer
    status: Status
    title: str
    description: str = Field(description="Plain-language When / Then")
    area: str
    hooks: list[Hook] = Field(min_length=1)
    on_order_hooks: OnOrderHooks | None = None
    priority: int = Field(50, ge=0, le=100, description="Higher first among cards of one indicator")
    experimental: bool = False
    authors: list[str] = Field(min_length=1)
    reviewers: list[str] = Field(default_factory=list)
    approval_date: date | None = None
    last_review_date: date | None = None
    next_review_date: date | None = None
    effective: Effective = Field(default_factory=Effective)
    evidence: Evidence
    citations: list[Citation] = Field(default_factory=list)
    when: list[Pattern] = Field(description="All patterns must match (separate facts)")
    derive: Derive | None = None
    card: Card | None = None
    missing_data: MissingData
    memory: Memory | None = None

    @model_validator(mode="after")
    def _derive_or_card(self) -> Rule:
        if self.card is None and self.derive is None:
            raise ValueError("a rule needs a card, a derive, or both")
        return self


PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*)\}")
