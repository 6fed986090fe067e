"""Value sets, lab concepts, reference ranges and text synonyms: the terminology rules speak in.

OpenCDS keeps terminology bindings apart from rule logic; so do we. Rules name value sets
("benzodiazepines"); the files in ``rules/valuesets/`` list their codes per system with their
source and verification status. :class:`Terminology` is the compiled, read-only lookup the
normaliser uses on every request, so it is built once with plain dicts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from cds.rules.codesystems import ICD10CM, LOINC, RXNORM, SNOMED, code_problem, system_problem
from cds.rules.durations import duration_days
from cds.rules.model import ID_PATTERN

SYSTEM_ALIASES = {"rxnorm": RXNORM, "snomed": SNOMED, "loinc": LOINC, "icd10cm": ICD10CM}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _checked_code(code: str, info: ValidationInfo) -> str:
    """A code that cannot exist in its system would never match: refused with the reason."""
    system = info.data.get("system")
    if isinstance(system, str) and (problem := code_problem(system, code)):
        raise ValueError(f"{code!r} {problem}")
    return code


def _checked_system(system: str) -> str:
    if problem := system_problem(system):
        raise ValueError(f"{system!r} {problem}")
    return system


CodeSystem = Annotated[str, AfterValidator(_checked_system)]
SystemCode = Annotated[str, AfterValidator(_checked_code)]


class CodeEntry(_Strict):
    system: CodeSystem
    code: SystemCode
    display: str
    concept: str | None = None
    source: str
    verified: bool
    note: str | None = None
    include_prefix: bool = Field(False, description="ICD-10-CM only: the code and its children")
    score: float | None = Field(None, description="For answer codes: the ordinal score")


class ValueSet(_Strict):
    id: Annotated[str, StringConstraints(pattern=rf"^{ID_PATTERN}$")]
    version: str
    title: str
    description: str
    kind: Literal["medication", "condition", "lab", "observation", "answer", "procedure"]
    source: str
    exclude_valuesets: list[str] = Field(default_factory=list)
    codes: list[CodeEntry] = Field(min_length=1)


class RangeSource(_Strict):
    label: str
    url: str
    section: str | None = None


def _age(text: str) -> str:
    if duration_days(text) < 0:  # raises ValueError for anything but an ISO 8601 duration
        raise ValueError(f"an age is not negative: {text!r}")
    return text


AgeDuration = Annotated[str, AfterValidator(_age)]


class RangeBand(_Strict):
    sex: Literal["male", "female", "any"]
    min_age: AgeDuration = Field("P0D", description="ISO 8601, e.g. P18Y, P6M, P7D")
    max_age: AgeDuration | None = None
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RangeBand:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low is above high")
        return self


class ReferenceRangeTable(_Strict):
    id: str
    version: str
    analyte: str
    unit: str
    source: RangeSource
    note: str | None = None
    ranges: list[RangeBand] = Field(min_length=1)
    tanner_ranges_note: str | None = None
    tanner_ranges: list[dict[str, Any]] = Field(
        default_factory=list, description="Informational; the engine matches by age only"
    )


class LabConcept(_Strict):
    concept: str
    valueset: str
    unit: str | None
    molar_mass_g_per_mol: float | None = None
    display: str


class LabCatalog(_Strict):
    version: str
    labs: list[LabConcept]


class CodeRef(_Strict):
    system: CodeSystem
    code: SystemCode


class SynonymEntry(_Strict):
    concept: str
    maps_to: CodeRef
    terms: list[str] = Field(min_length=1)
    not_terms: list[str] = Field(default_factory=list)
    note: str | None = None


class SynonymList(_Strict):
    version: str
    entries: list[SynonymEntry]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    valuesets: tuple[str, ...]
    concept: str | None
    display: str
    score: float | None


@dataclass(frozen=True, slots=True)
class ReferenceRange:
    low: float | None
    high: float | None
    unit: str
    table_id: str


@dataclass
class Terminology:
    """Read-only lookups built once from the terminology files."""

    valuesets: dict[str, ValueSet]
    labs: dict[str, LabConcept]  # concept -> lab
    ranges: dict[str, ReferenceRangeTable]  # analyte -> table
    synonyms: list[SynonymEntry]
    _codes: dict[tuple[str, str], CodeInfo] = field(default_factory=dict, repr=False)
    _prefixes: list[tuple[str, CodeInfo]] = field(default_factory=list, repr=False)
    _lab_by_vs: dict[str, LabConcept] = field(default_factory=dict, repr=False)
    _synonym_patterns: list[tuple[re.Pattern[str], re.Pattern[str] | None, SynonymEntry]] = field(
        default_factory=list, repr=False
    )

    def __post_init__(self) -> None:
        members: dict[tuple[str, str], list[str]] = {}
        first: dict[tuple[str, str], CodeEntry] = {}
        prefix_members: dict[str, list[str]] = {}
        prefix_first: dict[str, CodeEntry] = {}
        for vs in self.valuesets.values():
            code_entry: CodeEntry
            for code_entry in vs.codes:
                key = (code_entry.system, code_entry.code)
                members.setdefault(key, []).append(vs.id)
                first.setdefault(key, code_entry)
                if code_entry.include_prefix and code_entry.system == ICD10CM:
                    prefix_members.setdefault(code_entry.code, []).append(vs.id)
                    prefix_first.setdefault(code_entry.code, code_entry)
        for key, ids in members.items():
            self._codes[key] = self._info(ids, first[key])
        for prefix, ids in prefix_members.items():
            self._prefixes.append((prefix, self._info(ids, prefix_first[prefix])))
        self._prefixes.sort(key=lambda item: -len(item[0]))
        self._lab_by_vs = {lab.valueset: lab for lab in self.labs.values()}
        for entry in self.synonyms:
            terms = "|".join(re.escape(t) for t in sorted(entry.terms, key=len, reverse=True))
            bad = "|".join(re.escape(t) for t in entry.not_terms)
            self._synonym_patterns.append(
                (
                    re.compile(rf"(?<![\w-])(?:{terms})(?![\w-])", re.IGNORECASE),
                    re.compile(bad, re.IGNORECASE) if bad else None,
                    entry,
                )
            )

    def _info(self, ids: list[str], entry: CodeEntry) -> CodeInfo:
        kept = set(ids)
        for vs_id in ids:
            if kept & set(self.valuesets[vs_id].exclude_valuesets):
                kept.discard(vs_id)
        return CodeInfo(tuple(sorted(kept)), entry.concept, entry.display, entry.score)

    def code_signatures(self) -> set[frozenset[str]]:
        """Every distinct set of value sets one code belongs to."""
        out = {frozenset(info.valuesets) for info in self._codes.values()}
        out.update(frozenset(info.valuesets) for _, info in self._prefixes)
        return out

    def lookup(self, system: str, code: str) -> CodeInfo | None:
        """Value sets and concept of one code (ICD-10-CM also by prefix)."""
        info = self._codes.get((system, code))
        if info is None and system == ICD10CM:
            for prefix, prefix_info in self._prefixes:
                if code.startswith(prefix):
                    return prefix_info
        return info

    def lookup_codes(self, codes: list[tuple[str, str]]) -> CodeInfo | None:
        """Merge the value sets of every coding of one CodeableConcept (RxNorm at any level)."""
        infos = [info for system, code in codes if (info := self.lookup(system, code))]
        if not infos:
            return None
        if len(infos) == 1:
            return infos[0]
        ids = sorted({vs for info in infos for vs in info.valuesets})
        excluded = {x for vs in ids for x in self.valuesets[vs].exclude_valuesets}
        concept = next((i.concept for i in infos if i.concept), None)
        kept = tuple(vs for vs in ids if vs not in excluded)
        return CodeInfo(kept, concept, infos[0].display, infos[0].score)

    def match_text(self, text: str) -> CodeRef | None:
        """The code a free-text medication means, by the maintained synonym list."""
        for pattern, not_pattern, entry in self._synonym_patterns:
            if pattern.search(text) and not (not_pattern and not_pattern.search(text)):
                return entry.maps_to
        return None

    def lab_for_valuesets(self, valuesets: tuple[str, ...]) -> LabConcept | None:
        for vs in valuesets:
            lab = self._lab_by_vs.get(vs)
            if lab is not None:
                return lab
        return None

    def reference_range(self, analyte: str, sex: str, age_days: float) -> ReferenceRange | None:
        """The fallback range by sex at birth and age on the result's date."""
        table = self.ranges.get(analyte)
        if table is None:
            return None
        for band in table.ranges:
            if band.sex not in ("any", sex):
                continue
            lo = duration_days(band.min_age)
            hi = duration_days(band.max_age) if band.max_age else float("inf")
            if lo <= age_days < hi:
                return ReferenceRange(band.low, band.high, table.unit, table.id)
        return None
