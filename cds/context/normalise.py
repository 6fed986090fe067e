"""Turn FHIR R4 patient data into the facts rules match (:mod:`cds.facts`).

This runs on every request, so it reads the parsed JSON directly with small typed helpers (no
per-resource model validation; see :mod:`cds.context.fhir_models` for the elements read and
``bench/context.py`` for the cost). Nothing here raises for bad data: a resource that cannot be
used becomes a :class:`Skipped` entry with a short reason, and the rest of the request goes on.

Decisions (the knowledge files and the brief leave these open):

- **Observations are classified by code, not by the prefetch key they came in.** A code in a value
  set of kind ``lab`` gives a :class:`~cds.facts.LabFact` (its concept from ``labs.yaml``); a code
  in a value set of kind ``observation`` gives an :class:`~cds.facts.ObservationFact`. Scores
  (PHQ-9, GAD-7, EPDS totals and items) are value sets of kind ``observation``, so they are
  ObservationFacts even though ``labs.yaml`` lists their ``{score}`` unit.
- **Lab status.** Only ``final``, ``amended`` and ``corrected`` results become facts (clinical
  conventions §6.6, binding: "latest" means one of those, and a LabFact carries no status that a
  rule could test). ``preliminary`` results are skipped with a reason; ``entered-in-error`` and
  ``cancelled`` ones "do not exist". Non-lab observations also accept ``preliminary``.
- **Units.** Values are converted to the concept's canonical unit (``cds.units.convert``, molar
  mass from ``labs.yaml``). When the unit is missing or unknown the *result still exists* (it
  counts as "a DHEA-S was taken", e.g. for baseline rules) but its number cannot be compared: the
  fact keeps ``value=None``, ``range_status="unknown"``, and a :class:`Skipped` entry records
  "value not used: …". Exceptions where no conversion is needed: a concept whose canonical unit is
  dimensionless (``{score}``, ``%``) takes a unit-less number as is, and a ``valueString`` such as
  ``"<15"`` takes the unit of the result's own ``referenceRange`` when that has one. Concepts with
  no canonical unit (qualitative hCG, salivary steroids) keep the number and unit as reported.
- **Comparators.** ``"<15"`` gives ``value=15, comparator="<"``; such a value is never ``high``
  (conventions §6.6), it is ``low`` only when 15 is at or below the low limit.
- **Reference range.** The result's own ``referenceRange`` (first one that is untyped or typed
  ``normal``, converted) → ``ref_source="lab"``; else the versioned table by sex at birth and age
  on the result's date (the table is looked up by concept, then by the lab's value-set id) →
  ``"table"``; else ``"none"``.
- **Specimen.** ``saliva`` when a referenced Specimen's type, or the code's text/display, says
  saliva; a serum concept measured in saliva (DHEA-S, DHEA, estradiol, testosterone) is re-filed
  under the ``salivary-sex-steroids`` concept and value set, so it can never be "the latest serum
  DHEA-S". Otherwise the LOINC system axis in the code's display (``in Serum or Plasma``, ``in
  Urine``) decides, then the concept (serum hormones), else ``unknown``. Uncoded results whose text
  names a steroid and saliva (``"DHEA-S, saliva"``) are recognised the same way.
- **Pregnancy / lactation** (conventions §6.8). ``yes`` on any positive signal: an active
  pregnancy Condition, the latest pregnancy-status Observation of the last 294 days (42 weeks)
  answering "pregnant", a positive hCG in the last 30 days; for lactation the latest breastfeeding
  Observation of the last 183 days answering true / breastfeeding, or an active lactation
  Condition. ``no`` for male sex at birth, or when the latest status (30 days for pregnancy, 183
  days for lactation) or a negative hCG in 30 days says no and nothing says yes. Else ``unknown``.
  The "not pregnant" / "not breastfeeding" answer codes have no value set yet: they are the small
  constants below (UNVERIFIED, from memory).
- **Medication start** is ``effectivePeriod.start`` / ``effectiveDateTime`` (statements, falling
  back to ``dateAsserted``), ``authoredOn`` (requests), *now* for draft orders. A record's end is
  *now* when it is active, else ``effectivePeriod.end``, else start + supply days, else its start.
- **Episodes** (monitoring §5.2): records of the same ingredient concept merge when the gap is at
  most 30 days; vaginal prasterone is its own series (conventions §6.4). Draft orders take part
  as a record starting now: a renewal continues the current episode instead of faking a new start.
- **Dose.** ``doseQuantity`` in a mass unit (mg, g, mcg…) × frequency per day; a dose in units
  of the product (capsule, mL) is converted with the Medication's ingredient strength when that
  is known. Otherwise ``None`` (conventions §6.11: dose rules stay silent).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from cds.facts import (
    DATA_KEYS,
    DISPLAY_WIDTH,
    ConditionFact,
    DataStatus,
    Fact,
    LabFact,
    MedicationFact,
    ObservationFact,
    OrderFact,
    PatientFact,
    cut_at_word,
)
from cds.rules.codesystems import LOINC, SNOMED, implied_system
from cds.rules.terminology import CodeInfo, LabConcept, Terminology
from cds.units import UnitError, convert

__all__ = ["FactSet", "PatientData", "Skipped", "build_facts"]

Json = dict[str, Any]

BIRTHSEX_URL: Final = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
ORDINAL_URL: Final = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
LOCAL: Final = "urn:neurosteroid-cds:concept"

EPISODE_GAP_DAYS: Final = 30.0
PREGNANCY_STATUS_DAYS: Final = 294.0  # 42 weeks: a "pregnant" status older than this is over
PREGNANCY_NEGATIVE_DAYS: Final = 30.0
HCG_DAYS: Final = 30.0
LACTATION_DAYS: Final = 183.0  # "the last 6 months"
DAYS_PER_YEAR: Final = 365.25

LAB_STATUSES: Final = frozenset({"final", "amended", "corrected"})
OBSERVATION_STATUSES: Final = frozenset({"final", "amended", "corrected", "preliminary"})
GONE_STATUSES: Final = frozenset({"entered-in-error", "cancelled"})
REQUEST_ACTIVE: Final = frozenset({"active", "on-hold"})
STATEMENT_ACTIVE: Final = frozenset({"active", "intended"})
CONDITION_ACTIVE: Final = frozenset({"active", "recurrence", "relapse"})
CONDITION_IGNORED: Final = frozenset({"refuted", "entered-in-error"})
QR_STATUSES: Final = frozenset({"completed", "amended"})

# Answer codes with no value set yet (UNVERIFIED, from memory): negative evidence only.
NOT_PREGNANT: Final = frozenset({(LOINC, "LA26683-5"), (SNOMED, "60001007")})
NEGATIVE: Final = frozenset({(LOINC, "LA6577-6"), (SNOMED, "260385009"), (LOINC, "LA11883-8")})
BREASTFEEDING: Final = frozenset({(LOINC, "LA29252-6")})
NOT_BREASTFEEDING: Final = frozenset({(LOINC, "LA29253-4")})

ROUTES: Final[Mapping[str, str]] = {
    "26643006": "oral",
    "16857009": "vaginal",
    "47625008": "intravenous",
    "34206005": "subcutaneous",
    "45890007": "transdermal",
    "6064005": "topical",
    "37839007": "sublingual",
    "37161004": "rectal",
    "46713006": "nasal",
    "78421000": "other",  # intramuscular
    "447694001": "other",  # respiratory tract
}
_ROUTE_WORDS: Final = (
    (re.compile(r"vagina", re.I), "vaginal"),
    (re.compile(r"\b(?:by mouth|oral(?:ly)?|p\.?o\.?)\b", re.I), "oral"),
    (re.compile(r"\b(?:intravenous(?:ly)?|i\.?v\.?|infusion)\b", re.I), "intravenous"),
    (re.compile(r"\b(?:subcutaneous(?:ly)?|subq|s\.?c\.?)\b", re.I), "subcutaneous"),
    (re.compile(r"\btransdermal|\bpatch\b", re.I), "transdermal"),
    (re.compile(r"\bsublingual", re.I), "sublingual"),
)
_PERIOD_DAYS: Final[Mapping[str, float]] = {
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": DAYS_PER_YEAR / 12,
    "a": DAYS_PER_YEAR,
}
_DURATION_DAYS: Final[Mapping[str, float]] = {
    **_PERIOD_DAYS,
    "day": 1.0,
    "days": 1.0,
    "week": 7.0,
    "weeks": 7.0,
    "month": DAYS_PER_YEAR / 12,
    "months": DAYS_PER_YEAR / 12,
    "hour": 1 / 24,
    "hours": 1 / 24,
}
_TIMING_CODES: Final[Mapping[str, float]] = {  # v3 GTSAbbreviation → doses per day
    "QD": 1, "QAM": 1, "QPM": 1, "QHS": 1, "BID": 2, "TID": 3, "QID": 4, "QOD": 0.5,
    "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2, "WK": 1 / 7,
}  # fmt: skip
_MASS_UNITS: Final = frozenset({"mg", "g", "ug", "mcg", "µg", "μg", "ng", "kg"})
_NUMBER: Final = re.compile(r"^\s*(<=|>=|<|>|≤|≥)?\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*(.*?)\s*$")
_COMPARATORS: Final[Mapping[str, str]] = {"≤": "<=", "≥": ">="}
_SALIVA: Final = re.compile(r"saliva|oral fluid", re.I)
_SALIVARY_ANALYTES: Final = (
    (re.compile(r"dhea[\s-]*s\b|dhea[\s-]*so4|dehydroepiandrosterone[\s-]*sulf", re.I), "dhea-s"),
    (re.compile(r"\bdhea\b|dehydroepiandrosterone", re.I), "dhea"),
    (re.compile(r"estradiol|\be2\b", re.I), "estradiol"),
    (re.compile(r"progesterone", re.I), "progesterone"),
    (re.compile(r"testosterone", re.I), "testosterone"),
    (re.compile(r"cortisol", re.I), "cortisol"),
)
_SALIVARY_CODES: Final[Mapping[str, tuple[str, str]]] = {
    "dhea-s": (LOCAL, "salivary-dhea-s"),
    "dhea": (LOCAL, "salivary-dhea"),
    "estradiol": (LOCAL, "salivary-estradiol"),
    "progesterone": (LOCAL, "salivary-progesterone"),
    "testosterone": (LOCAL, "salivary-testosterone"),
    "cortisol": (LOINC, "2142-8"),
}
_SERUM_CONCEPTS: Final = frozenset(
    {"dhea-s", "dhea", "pregnenolone", "testosterone", "estradiol", "androstenedione", "shbg",
     "allopregnanolone", "egfr"}
)  # fmt: skip
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()


# --------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True, slots=True)
class Skipped:
    """A resource (or part of one) that gave no fact, or gave one without its value."""

    ref: str
    reason: str


def _all(status: DataStatus) -> dict[str, DataStatus]:
    return dict.fromkeys(DATA_KEYS, status)


@dataclass(slots=True)
class PatientData:
    """The patient's FHIR resources per data category, and whether each category is complete.

    The lists hold parsed FHIR JSON. Supporting resources (``Specimen``, ``Medication``,
    ``QuestionnaireResponse``) may sit in any list; Observations are classified by code, so it
    does not matter whether one arrives under ``labs`` or ``observations``.
    """

    patient: Json | None = None
    labs: list[Json] = field(default_factory=list)
    observations: list[Json] = field(default_factory=list)
    medications: list[Json] = field(default_factory=list)
    conditions: list[Json] = field(default_factory=list)
    status: dict[str, DataStatus] = field(default_factory=lambda: _all(DataStatus.UNAVAILABLE))

    @classmethod
    def from_resources(
        cls, resources: Iterable[Json], *, status: DataStatus = DataStatus.COMPLETE
    ) -> PatientData:
        """Sort loose resources (e.g. a Bundle's) into categories, every category ``status``."""
        data = cls(status=_all(status))
        for resource in resources:
            data.add(resource)
        return data

    @classmethod
    def from_bundle(
        cls, bundle: Mapping[str, Any], *, status: DataStatus = DataStatus.COMPLETE
    ) -> PatientData:
        entries = bundle.get("entry")
        resources = [
            e["resource"]
            for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
        return cls.from_resources(resources, status=status)

    def add(self, resource: Json, category: str | None = None) -> bool:
        """File one resource under its category (by type); False when no fact reads its type."""
        rtype = resource.get("resourceType")
        if rtype == "Patient":
            if self.patient is None:
                self.patient = resource
            return True
        target = category if category in ("labs", "observations") else None
        if rtype in ("Observation", "Specimen", "QuestionnaireResponse", "ServiceRequest"):
            (self.labs if target == "labs" else self.observations).append(resource)
        elif rtype in ("MedicationRequest", "MedicationStatement", "Medication"):
            self.medications.append(resource)
        elif rtype == "Condition":
            self.conditions.append(resource)
        else:
            return False
        return True


@dataclass(frozen=True, slots=True)
class FactSet:
    """Everything the engine gets about one patient for one request."""

    facts: list[Fact]
    skipped: list[Skipped]
    data_status: dict[str, DataStatus]


# --------------------------------------------------------------------------------------------
# Small typed readers of parsed JSON


def _obj(value: Any) -> Json:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _num(value: Any) -> float | None:
    kind = type(value)  # parsed JSON: exactly int or float (bool is neither)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        number = float(value)  # OverflowError beyond 1e308: the resource is skipped
        return number if math.isfinite(number) else None
    return None


def _codes(concept: Any) -> list[tuple[str, str]]:
    if type(concept) is not dict:
        return []
    codings = concept.get("coding")
    if type(codings) is not list:
        return []
    out = []
    for coding in codings:
        if type(coding) is dict:
            system, code = coding.get("system"), coding.get("code")
            if type(code) is str:
                if type(system) is str:
                    out.append((system, code))
                elif system is None and (implied := implied_system(code)):
                    out.append((implied, code))
    return out


def _first_code(concept: Any) -> str | None:
    """The code of the first coding (any system): status-like CodeableConcepts."""
    for coding in _list(_obj(concept).get("coding")):
        if isinstance(coding, dict) and isinstance(code := coding.get("code"), str):
            return code
    return None


def _texts(concept: Any) -> list[str]:
    cc = _obj(concept)
    out = [t] if (t := _str(cc.get("text"))) else []
    for coding in _list(cc.get("coding")):
        if isinstance(coding, dict) and (d := _str(coding.get("display"))):
            out.append(d)
    return out


def _fit(text: str) -> str:
    """A display name within ``DISPLAY_WIDTH``, cut at a word."""
    return cut_at_word(text, DISPLAY_WIDTH)


def _display(concept: Any, fallback: str = "") -> str:
    if type(concept) is dict and type(text := concept.get("text")) is str and text:
        return _fit(text)
    texts = _texts(concept)
    return _fit(texts[0] if texts else fallback)


def _day(value: Any) -> float | None:
    """Day number since 1970-01-01 UTC of a FHIR date/dateTime/instant (partial dates allowed)."""
    if type(value) is not str:
        return None
    try:
        size = len(value)
        if size == 10:
            return float(date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL)
        if size == 7:
            return float(date(int(value[:4]), int(value[5:7]), 1).toordinal() - _EPOCH_ORDINAL)
        if size == 4:
            return float(date(int(value), 1, 1).toordinal() - _EPOCH_ORDINAL)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() / 86400.0


_REPORTED_WIDTH: Final = 24  # LabFact.reported's max_len


def _reported(
    resource: Json, value: float | None, comparator: str, unit: str | None, from_string: bool
) -> str:
    """A lab result as the lab gave it (``12.5 umol/L``, ``<15 ug/dL``), for card text beside
    the value converted to the concept's unit."""
    if from_string:
        return cut_at_word(str(resource["valueString"]).strip(), _REPORTED_WIDTH)
    if value is None:
        return ""
    text = f"{'' if comparator == '=' else comparator}{value:g}"
    return cut_at_word(f"{text} {unit}" if unit else text, _REPORTED_WIDTH)


def _ref_of(resource: Json) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


def _ref_type(reference: Any) -> str | None:
    ref = _obj(reference)
    if t := _str(ref.get("type")):
        return t
    text = _str(ref.get("reference"))
    if text is None or "/" not in text:
        return None
    parts = text.split("/")
    return parts[-4] if len(parts) >= 4 and parts[-2] == "_history" else parts[-2]


def _local_ref(reference: Any) -> str | None:
    """``Type/id`` of a reference (absolute URLs and versions cut), or ``#id`` for contained."""
    text = _str(_obj(reference).get("reference"))
    if text is None:
        return None
    if text.startswith("#"):
        return text
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


# --------------------------------------------------------------------------------------------
# Terminology views built once per Terminology


@dataclass
class _Vocab:
    terminology: Terminology
    lab_vs: frozenset[str]
    observation_vs: frozenset[str]
    cache: dict[tuple[tuple[str, str], ...], CodeInfo | None] = field(default_factory=dict)
    specimens: dict[tuple[str, ...], str | None] = field(default_factory=dict)
    saliva: dict[tuple[str, ...], bool] = field(default_factory=dict)
    classes: dict[tuple[tuple[str, str], ...], tuple[CodeInfo | None, LabConcept | None, bool]] = (
        field(default_factory=dict)
    )

    def lookup(self, codes: Sequence[tuple[str, str]]) -> CodeInfo | None:
        key = tuple(codes)
        try:
            return self.cache[key]
        except KeyError:
            info = self.terminology.lookup_codes(list(codes)) if codes else None
            if info is not None and not info.valuesets:
                info = None
            if len(self.cache) < 50_000:
                self.cache[key] = info
            return info

    def code(self, system: str, code: str) -> CodeInfo | None:
        return self.lookup(((system, code),))

    def classify(
        self, codes: Sequence[tuple[str, str]]
    ) -> tuple[CodeInfo | None, LabConcept | None, bool]:
        """(value-set info, lab concept, is a non-lab observation) of an Observation's codes."""
        key = tuple(codes)
        try:
            return self.classes[key]
        except KeyError:
            info = self.lookup(key)
            found = self.classify_info(info) if info is not None else (None, None, False)
            if len(self.classes) < 50_000:
                self.classes[key] = found
            return found

    def classify_info(self, info: CodeInfo) -> tuple[CodeInfo, LabConcept | None, bool]:
        return info, self.lab(info), any(v in self.observation_vs for v in info.valuesets)

    def lab(self, info: CodeInfo) -> LabConcept | None:
        kinds = tuple(vs for vs in info.valuesets if vs in self.lab_vs)
        return self.terminology.lab_for_valuesets(kinds) if kinds else None

    def in_set(self, system: str, code: str, valueset: str) -> bool:
        info = self.code(system, code)
        return info is not None and valueset in info.valuesets


_VOCABS: list[_Vocab] = []


def _vocab(terminology: Terminology) -> _Vocab:
    for vocab in _VOCABS:
        if vocab.terminology is terminology:
            return vocab
    kinds: dict[str, set[str]] = {}
    for vs in terminology.valuesets.values():
        kinds.setdefault(vs.kind, set()).add(vs.id)
    vocab = _Vocab(
        terminology,
        frozenset(kinds.get("lab", ())),
        frozenset(kinds.get("observation", ())),
    )
    _VOCABS.insert(0, vocab)
    del _VOCABS[4:]  # a reloaded rule pack replaces the oldest
    return vocab


# --------------------------------------------------------------------------------------------
# The normaliser


@dataclass
class _Lab:
    fact: LabFact
    series: tuple[str, str]
    day: float
    order: float


@dataclass
class _Med:
    kw: dict[str, Any]
    key: tuple[str, bool]
    start: float | None
    end: float | None


@dataclass
class _Signals:
    pregnant_condition: bool = False
    lactation_condition: bool = False
    pregnancy_status: list[tuple[float, bool | None]] = field(default_factory=list)
    breastfeeding: list[tuple[float, bool | None]] = field(default_factory=list)
    hcg: list[tuple[float, bool | None]] = field(default_factory=list)


def _specimen_of_text(text: str, concept: str) -> str | None:
    if _SALIVA.search(text):
        return "saliva"
    if re.search(r"serum|plasma|\bblood\b", text, re.I):
        return "serum"
    if re.search(r"urine", text, re.I):
        return "urine"
    if concept in _SERUM_CONCEPTS:
        return "serum"
    return None


class _Builder:
    def __init__(self, vocab: _Vocab, now: datetime) -> None:
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self.vocab = vocab
        self.terminology = vocab.terminology
        self.now = now.timestamp() / 86400.0
        self.facts: list[Fact] = []
        self.skipped: list[Skipped] = []
        self.labs: list[_Lab] = []
        self.observations: list[ObservationFact] = []
        self.meds: list[_Med] = []
        self.signals = _Signals()
        self.index: dict[str, Json] = {}
        self.birth_day: float | None = None
        self.sex = "unknown"
        self._days: dict[str, float | None] = {}

    def day(self, value: Any) -> float | None:
        """:func:`_day`, remembered for this request: parsing was a fifth of fact building on a
        long history, and one patient's dates repeat (a questionnaire's items, a lab draw's
        results). Per request, so that no patient's dates outlive it."""
        if type(value) is not str:
            return None
        try:
            return self._days[value]
        except KeyError:
            day = self._days[value] = _day(value)
            return day

    def skip(self, ref: str, reason: str) -> None:
        self.skipped.append(Skipped(ref, reason))

    # -- patient -------------------------------------------------------------------------

    def read_patient(self, patient: Json | None) -> None:
        if patient is None:
            return
        self.birth_day = self.day(patient.get("birthDate"))
        for ext in _list(patient.get("extension")):
            if isinstance(ext, dict) and ext.get("url") == BIRTHSEX_URL:
                code = ext.get("valueCode")
                if code in ("F", "M"):
                    self.sex = "female" if code == "F" else "male"
                    return
        gender = patient.get("gender")
        if gender in ("female", "male"):
            self.sex = gender

    def patient_fact(self, patient: Json | None) -> PatientFact:
        age = None
        if self.birth_day is not None:
            age = round((self.now - self.birth_day) / DAYS_PER_YEAR, 4)
        return PatientFact(
            id="patient",
            source_ref=_ref_of(patient) if patient else "",
            age_years=age,
            sex_at_birth=self.sex,
            pregnant=self.pregnant(),
            lactating=self.lactating(),
        )

    def _recent(self, series: list[tuple[float, bool | None]], days: float) -> bool | None:
        """The latest signal of ``series`` within ``days`` (None: none, or it says nothing)."""
        recent = [s for s in series if self.now - s[0] <= days]
        return max(recent, key=lambda s: s[0])[1] if recent else None

    def pregnant(self) -> str:
        s = self.signals
        status = self._recent(s.pregnancy_status, PREGNANCY_STATUS_DAYS)
        hcg = [v for d, v in s.hcg if self.now - d <= HCG_DAYS]
        if s.pregnant_condition or status is True or True in hcg:
            return "yes"
        if self.sex == "male":
            return "no"
        if self._recent(s.pregnancy_status, PREGNANCY_NEGATIVE_DAYS) is False or False in hcg:
            return "no"
        return "unknown"

    def lactating(self) -> str:
        s = self.signals
        latest = self._recent(s.breastfeeding, LACTATION_DAYS)
        if s.lactation_condition or latest is True:
            return "yes"
        if self.sex == "male" or latest is False:
            return "no"
        return "unknown"

    # -- conditions ----------------------------------------------------------------------

    def condition(self, resource: Json, ref: str) -> None:
        info = self.vocab.lookup(_codes(resource.get("code")))
        if info is None:
            self.skip(ref, "not used by any rule")
            return
        verification = _first_code(resource.get("verificationStatus"))
        if verification in CONDITION_IGNORED:
            self.skip(ref, f"verificationStatus {verification}")
            return
        clinical = _first_code(resource.get("clinicalStatus"))
        if clinical:
            status = clinical[:12]
            active = status in CONDITION_ACTIVE
        else:  # no clinicalStatus: active unless it has abated
            status = "unknown"
            active = not any(k.startswith("abatement") for k in resource)
        onset = self.day(resource.get("onsetDateTime"))
        if onset is None:
            onset = self.day(_obj(resource.get("onsetPeriod")).get("start"))
        if onset is None:
            onset = self.day(resource.get("recordedDate"))
        if active and "pregnancy" in info.valuesets:
            self.signals.pregnant_condition = True
        if active and "lactation" in info.valuesets:
            self.signals.lactation_condition = True
        self.facts.append(
            ConditionFact(
                id=f"cond:{ref}",
                valuesets=info.valuesets,
                source_ref=ref,
                concept=info.concept or "",
                display=_display(resource.get("code"), info.display),
                clinical_status=status,
                active=active,
                onset_day=onset,
                onset_days_ago=None if onset is None else self.now - onset,
            )
        )

    # -- observations --------------------------------------------------------------------

    def _specimen(self, resource: Json) -> str | None:
        """``saliva``/``serum``/``urine``/``other`` from a referenced Specimen, if any."""
        target = _local_ref(resource.get("specimen"))
        if target is None:
            return None
        specimen = (
            self._contained(resource, target[1:]) if target.startswith("#") else None
        ) or self.index.get(target)
        if specimen is None:
            return None
        texts = " ".join(_texts(specimen.get("type")))
        codes = {c for _, c in _codes(specimen.get("type"))}
        if _SALIVA.search(texts) or "119342007" in codes:
            return "saliva"
        if re.search(r"serum|plasma|blood", texts, re.I) or codes & {"119364003", "119361006"}:
            return "serum"
        if re.search(r"urine", texts, re.I) or "122575003" in codes:
            return "urine"
        return "other"

    @staticmethod
    def _contained(resource: Json, wanted: str) -> Json | None:
        for item in _list(resource.get("contained")):
            if isinstance(item, dict) and item.get("id") == wanted:
                return item
        return None

    def observation(self, resource: Json, ref: str) -> None:
        code = resource.get("code")
        info, lab, is_observation = self.vocab.classify(_codes(code))
        specimen = self._specimen(resource) if "specimen" in resource else None
        saliva = specimen == "saliva"
        # the text is read only when it can change the answer (uncoded, or a steroid result)
        if saliva or info is None or (lab is not None and lab.concept in _SALIVARY_CODES):
            texts = _texts(code)
            saliva = saliva or self._saliva_text(texts)
            if saliva and (salivary := self._salivary(info, texts)) is not None:
                info, lab, is_observation = self.vocab.classify_info(salivary)
        if info is None:
            self.skip(ref, "not used by any rule")
            return
        status = resource.get("status")
        if status in GONE_STATUSES:
            self.skip(ref, f"status {status}: the result does not exist")
            return
        if lab is not None:
            self.lab(resource, ref, info, lab, "saliva" if saliva else specimen)
            return
        if not is_observation:
            self.skip(ref, "not used by any rule")
            return
        if status not in OBSERVATION_STATUSES:
            self.skip(ref, f"status {status}")
            return
        day = self._effective(resource)
        if day is None:
            self.skip(ref, "no effective date")
            return
        value, answer = self._obs_value(resource)
        self._signal_observation(info, day, resource, answer)
        self.observations.append(
            ObservationFact(
                id=f"obs:{ref}",
                valuesets=info.valuesets,
                source_ref=ref,
                concept=info.concept or "",
                display=_display(code, info.display),
                value=value,
                answer=answer,
                day=day,
                days_ago=self.now - day,
                latest=False,
            )
        )

    def _salivary(self, info: CodeInfo | None, texts: list[str]) -> CodeInfo | None:
        """The salivary concept of a steroid measured in saliva (None: not a salivary steroid)."""
        analyte: str | None = None
        if info is not None and info.concept in _SALIVARY_CODES:
            analyte = info.concept
        elif info is None or info.concept not in ("salivary-cortisol",):
            joined = " ".join(texts)
            analyte = next((a for rx, a in _SALIVARY_ANALYTES if rx.search(joined)), None)
        if analyte is None:
            return None
        return self.vocab.code(*_SALIVARY_CODES[analyte])

    def order(
        self, resource: Json, ref: str, *, draft_id: str | None = None, selected: bool = True
    ) -> None:
        """A ServiceRequest (lab order): coded via value sets, or by text (e.g. allopregnanolone,
        which has no LOINC)."""
        status = _str(resource.get("status")) or "unknown"
        if draft_id is None and status not in ("active", "on-hold", "draft", "completed"):
            self.skip(ref, f"order status {status}")
            return
        code = resource.get("code")
        info = self.vocab.lookup(_codes(code))
        texts = _texts(code)
        if info is None:
            matched = next((m for t in texts if (m := self.terminology.match_text(t))), None)
            if matched is not None:
                info = self.vocab.code(matched.system, matched.code)
        if info is None or not info.valuesets:
            self.skip(ref, "order not used by any rule")
            return
        lab = self.vocab.lab(info)
        saliva = self._saliva_text(texts) or any(
            "saliva" in t.lower() for t in _texts(_obj(resource).get("specimen"))
        )
        day = self.day(resource.get("authoredOn")) if draft_id is None else self.now
        if day is None:
            day = self.now
        concept = lab.concept if lab else (info.concept or info.valuesets[0])
        self.facts.append(
            OrderFact(
                id=draft_id or f"order:{ref}",
                source_ref=ref,
                valuesets=info.valuesets,
                concept=concept,
                display=_display(code, concept),
                draft=draft_id is not None and selected,
                status="draft" if draft_id else status,
                specimen="saliva" if saliva else ("serum" if lab else "unknown"),
                day=day,
                days_ago=self.now - day,
            )
        )

    def _effective(self, resource: Json) -> float | None:
        day = self.day(resource.get("effectiveDateTime"))
        if day is None and "effectivePeriod" in resource:
            period = _obj(resource.get("effectivePeriod"))
            day = self.day(period.get("start"))
            if day is None:
                day = self.day(period.get("end"))
        if day is None:
            day = self.day(resource.get("effectiveInstant"))
        if day is None:
            day = self.day(resource.get("issued"))
        return day

    def _obs_value(self, resource: Json) -> tuple[float | None, str | None]:
        if "valueInteger" in resource:
            return _num(resource["valueInteger"]), None
        if "valueQuantity" in resource:
            return _num(_obj(resource["valueQuantity"]).get("value")), None
        if "valueDecimal" in resource:
            return _num(resource["valueDecimal"]), None
        if "valueBoolean" in resource:
            flag = resource["valueBoolean"]
            return (1.0 if flag else 0.0) if isinstance(flag, bool) else None, None
        if "valueCodeableConcept" in resource:
            return self._answer(_obj(resource["valueCodeableConcept"]))
        if "valueString" in resource:
            match = _NUMBER.match(str(resource["valueString"]))
            return (float(match.group(2)) if match else None), None
        return None, None

    def _answer(self, concept: Json) -> tuple[float | None, str | None]:
        codings = [c for c in _list(concept.get("coding")) if isinstance(c, dict)]
        chosen: Json | None = None
        score: float | None = None
        for coding in codings:
            system, code = coding.get("system"), coding.get("code")
            if system is None and isinstance(code, str) and (implied := implied_system(code)):
                coding = {**coding, "system": implied}  # an answer sent without its system
                system = implied
            if not (isinstance(system, str) and isinstance(code, str)):
                continue
            info = self.vocab.code(system, code)
            if chosen is None or info is not None:
                chosen = coding
                score = info.score if info is not None else None
            if info is not None:
                break
        if chosen is None:
            return None, None
        if score is None:
            for ext in _list(chosen.get("extension")):
                if isinstance(ext, dict) and ext.get("url") == ORDINAL_URL:
                    score = _num(ext.get("valueDecimal"))
        return score, f"{chosen['system']}|{chosen['code']}"

    def _signal_observation(
        self, info: CodeInfo, day: float, resource: Json, answer: str | None
    ) -> None:
        is_status = "pregnancy-status" in info.valuesets
        is_feeding = "breastfeeding-status" in info.valuesets
        if not (is_status or is_feeding):
            return
        verdict: bool | None = None
        if isinstance(flag := resource.get("valueBoolean"), bool):
            verdict = flag
        else:
            for system, code in _codes(resource.get("valueCodeableConcept")):
                pair = (system, code)
                if is_status:
                    if self.vocab.in_set(system, code, "pregnant-answer"):
                        verdict = True
                    elif pair in NOT_PREGNANT:
                        verdict = False
                elif pair in BREASTFEEDING or self.vocab.in_set(system, code, "lactation"):
                    verdict = True
                elif pair in NOT_BREASTFEEDING:
                    verdict = False
                if verdict is not None:
                    break
        (self.signals.pregnancy_status if is_status else self.signals.breastfeeding).append(
            (day, verdict)
        )

    def questionnaire(self, resource: Json, ref: str) -> None:
        if resource.get("status") not in QR_STATUSES:
            self.skip(ref, f"status {resource.get('status')}")
            return
        day = self.day(resource.get("authored"))
        if day is None:
            self.skip(ref, "no authored date")
            return
        found = 0
        stack = list(_list(resource.get("item")))
        while stack:
            item = stack.pop()
            if not isinstance(item, dict):
                continue
            stack.extend(_list(item.get("item")))
            for answer in _list(item.get("answer")):
                if isinstance(answer, dict):
                    stack.extend(_list(answer.get("item")))
            codes = _codes({"coding": item.get("code")})
            link = _str(item.get("linkId"))
            if link and re.fullmatch(r"/?\d{1,7}-\d", link):
                codes.append((LOINC, link.lstrip("/")))
            info = None
            for pair in codes:
                info = self.vocab.code(*pair)
                if info is not None:
                    break
            if info is None or not any(v in self.vocab.observation_vs for v in info.valuesets):
                continue
            answers = [a for a in _list(item.get("answer")) if isinstance(a, dict)]
            if not answers:
                continue
            first = answers[0]
            value: float | None = None
            answer_code: str | None = None
            if "valueCoding" in first:
                value, answer_code = self._answer({"coding": [first["valueCoding"]]})
            else:
                value = _num(first.get("valueInteger", first.get("valueDecimal")))
            found += 1
            self.observations.append(
                ObservationFact(
                    id=f"obs:{ref}#{link or found}",
                    valuesets=info.valuesets,
                    source_ref=ref,
                    concept=info.concept or "",
                    display=_fit(_str(item.get("text")) or info.display),
                    value=value,
                    answer=answer_code,
                    day=day,
                    days_ago=self.now - day,
                    latest=False,
                )
            )
        if not found:
            self.skip(ref, "not used by any rule")

    # -- labs ----------------------------------------------------------------------------

    def lab(
        self, resource: Json, ref: str, info: CodeInfo, lab: LabConcept, specimen: str | None
    ) -> None:
        status = resource.get("status")
        if status not in LAB_STATUSES:
            self.skip(ref, f"status {status}: not a final result (conventions §6.6)")
            return
        day = self._effective(resource)
        if day is None:
            self.skip(ref, "no effective date")
            return
        canonical = lab.unit
        mm = lab.molar_mass_g_per_mol
        value: float | None = None
        comparator = "="
        unit: str | None = None
        from_string = False
        if "valueQuantity" in resource:
            vq = _obj(resource["valueQuantity"])
            value = _num(vq.get("value"))
            comparator = (
                _COMPARATORS.get(c, c) if isinstance(c := vq.get("comparator"), str) else "="
            )
            unit = _str(vq.get("code")) or _str(vq.get("unit"))
        elif "valueInteger" in resource:
            value = _num(resource["valueInteger"])
        elif "valueString" in resource:
            match = _NUMBER.match(str(resource["valueString"]))
            if match:
                value = float(match.group(2))
                comparator = _COMPARATORS.get(c, c) if (c := match.group(1)) else "="
                unit = match.group(3) or None
                from_string = True
        interpretation = self._interpretation(resource)
        if value is None and canonical is not None:
            if "valueString" in resource or "valueQuantity" in resource:
                self.skip(ref, "unparsable value")
            else:
                self.skip(ref, "no value")
            return
        ranges = _list(resource.get("referenceRange"))
        if unit is None and from_string and ranges:
            unit = self._range_unit(ranges)
        out_unit = canonical or unit or ""
        reported = _reported(resource, value, comparator, unit, from_string)
        if value is not None and canonical is not None:
            value = self._convert(ref, value, unit, canonical, mm)
        low = high = None
        ref_source = "none"
        if ranges:
            low, high = self._lab_range(ranges, unit, canonical, mm)
            if low is not None or high is not None:
                ref_source = "lab"
        if ref_source == "none" and canonical is not None and self.birth_day is not None:
            age_days = day - self.birth_day
            table = self.terminology.reference_range(lab.concept, self.sex, age_days)
            if table is None:
                table = self.terminology.reference_range(lab.valueset, self.sex, age_days)
            if table is not None:
                try:
                    low = (
                        None if table.low is None else convert(table.low, table.unit, canonical, mm)
                    )
                    high = (
                        None
                        if table.high is None
                        else convert(table.high, table.unit, canonical, mm)
                    )
                    ref_source = "table"
                except UnitError:
                    low = high = None
        if specimen is None or specimen == "other":
            specimen = self._specimen_from_code(info, lab, resource) or specimen or "unknown"
        if lab.concept == "hcg":
            self._signal_hcg(day, resource, interpretation)
        self.labs.append(
            _Lab(
                LabFact(
                    id=f"lab:{ref}",
                    valuesets=info.valuesets,
                    source_ref=ref,
                    concept=lab.concept,
                    display=_display(resource.get("code"), lab.display),
                    value=value,
                    comparator=comparator,
                    unit=out_unit,
                    reported=reported,
                    ref_low=low,
                    ref_high=high,
                    ref_source=ref_source,
                    range_status=_range_status(value, comparator, low, high),
                    interpretation=interpretation,
                    specimen=specimen,
                    day=day,
                    days_ago=self.now - day,
                    latest=False,
                    rank=0.0,
                ),
                (lab.concept, specimen),
                day,
                self.day(resource.get("issued")) or day,
            )
        )

    def _convert(
        self, ref: str, value: float, unit: str | None, canonical: str, mm: float | None
    ) -> float | None:
        if unit is None:
            if canonical in ("{score}", "%", "1"):
                return value
            self.skip(ref, "value not used: no unit")
            return None
        try:
            return convert(value, unit, canonical, mm)
        except UnitError:
            self.skip(ref, f"value not used: cannot convert {unit[:16]!r} to {canonical}")
            return None

    @staticmethod
    def _range_unit(ranges: list[Any]) -> str | None:
        for rr in ranges:
            for bound in ("low", "high"):
                q = _obj(_obj(rr).get(bound))
                if u := (_str(q.get("code")) or _str(q.get("unit"))):
                    return u
        return None

    @staticmethod
    def _lab_range(
        ranges: list[Any], unit: str | None, canonical: str | None, mm: float | None
    ) -> tuple[float | None, float | None]:
        for rr in ranges:
            rr = _obj(rr)
            rtype = _first_code(rr.get("type"))
            if rtype is not None and rtype != "normal":
                continue
            bounds: list[float | None] = []
            for name in ("low", "high"):
                q = _obj(rr.get(name))
                number = _num(q.get("value"))
                q_unit = _str(q.get("code")) or _str(q.get("unit")) or unit
                if number is not None and canonical is not None:
                    if q_unit is None:
                        number = number if canonical in ("{score}", "%", "1") else None
                    else:
                        try:
                            number = convert(number, q_unit, canonical, mm)
                        except UnitError:
                            number = None
                bounds.append(number)
            if bounds[0] is not None or bounds[1] is not None:
                return bounds[0], bounds[1]
        return None, None

    def _interpretation(self, resource: Json) -> str:
        for concept in _list(resource.get("interpretation")):
            if code := _first_code(concept):
                return code[:8]
        # a qualitative value stands in for a missing interpretation (hCG positive/negative)
        for system, code in _codes(resource.get("valueCodeableConcept")):
            if self.vocab.in_set(system, code, "positive-answer"):
                return "POS"
            if (system, code) in NEGATIVE:
                return "NEG"
        text = resource.get("valueString")
        if isinstance(text, str):
            low = text.strip().lower()
            if low.startswith(("negative", "not detected", "neg")):
                return "NEG"
            if low.startswith(("positive", "detected", "pos")):
                return "POS"
        return ""

    def _signal_hcg(self, day: float, resource: Json, interpretation: str) -> None:
        verdict: bool | None = None
        if interpretation in ("POS", "DET", "A", "H"):
            verdict = True
        elif interpretation in ("NEG", "ND", "N"):
            verdict = False
        self.signals.hcg.append((day, verdict))

    def _specimen_from_code(self, info: CodeInfo, lab: LabConcept, resource: Json) -> str | None:
        key = (info.display, lab.concept, *_texts(resource.get("code")))
        cache = self.vocab.specimens
        if key not in cache:
            if len(cache) > 20_000:
                cache.clear()
            cache[key] = _specimen_of_text(" ".join(key[:1] + key[2:]), lab.concept)
        return cache[key]

    def _saliva_text(self, texts: list[str]) -> bool:
        key = tuple(texts)
        cache = self.vocab.saliva
        if key not in cache:
            if len(cache) > 20_000:
                cache.clear()
            cache[key] = any(_SALIVA.search(t) for t in texts)
        return cache[key]

    # -- medications ---------------------------------------------------------------------

    def _medication(self, resource: Json) -> tuple[Json | None, list[tuple[str, str]], list[str]]:
        """The referenced Medication (if any), every coding and every text naming the drug."""
        codes: list[tuple[str, str]] = []
        texts: list[str] = []
        medication: Json | None = None
        if "medicationCodeableConcept" in resource:
            cc = resource["medicationCodeableConcept"]
            codes = _codes(cc)
            texts = _texts(cc)
        elif "medicationReference" in resource:
            mref = _obj(resource["medicationReference"])
            target = _local_ref(mref)
            if target is not None:
                medication = (
                    self._contained(resource, target[1:])
                    if target.startswith("#")
                    else self.index.get(target)
                )
            if medication is not None:
                codes = _codes(medication.get("code"))
                texts = _texts(medication.get("code"))
                for ing in _list(medication.get("ingredient")):
                    item = _obj(ing).get("itemCodeableConcept")
                    codes.extend(_codes(item))
                    texts.extend(_texts(item))
            if d := _str(mref.get("display")):
                texts.append(d)
        return medication, codes, texts

    def medication(
        self, resource: Json, ref: str, *, draft_id: str | None = None, selected: bool = True
    ) -> None:
        """A MedicationRequest or MedicationStatement; ``draft_id`` for an order of
        ``context.draftOrders`` (``selected=False``: one not among ``context.selections``)."""
        medication, codes, texts = self._medication(resource)
        info = self.vocab.lookup(codes) if codes else None
        if info is None:
            for text in texts:
                mapped = self.terminology.match_text(text)
                if mapped is not None:
                    info = self.vocab.code(mapped.system, mapped.code)
                    if info is not None:
                        break
        if info is None:
            self.skip(ref, "not used by any rule")
            return
        rtype = resource.get("resourceType")
        is_request = rtype == "MedicationRequest"
        status = str(resource.get("status") or "unknown")
        if draft_id is not None:
            status, active = "draft", True
        elif is_request:
            active = status in REQUEST_ACTIVE
        else:
            active = status in STATEMENT_ACTIVE
        if status == "entered-in-error":
            self.skip(ref, "status entered-in-error")
            return
        dosages = [
            d
            for d in _list(resource.get("dosageInstruction" if is_request else "dosage"))
            if isinstance(d, dict)
        ]
        route = _route(dosages, texts, info)
        per_day, dose_mg = _dose(dosages, medication)
        supply = (
            _supply(_obj(resource.get("dispenseRequest")), dosages, per_day) if is_request else None
        )
        if draft_id is not None:
            start: float | None = self.now
        elif is_request:
            start = self.day(resource.get("authoredOn"))
        else:
            start = self.day(resource.get("effectiveDateTime"))
            period = _obj(resource.get("effectivePeriod"))
            if start is None:
                start = self.day(period.get("start"))
            if start is None:
                start = self.day(resource.get("dateAsserted"))
        end: float | None
        if active:
            end = self.now
        else:
            end = None if is_request else self.day(_obj(resource.get("effectivePeriod")).get("end"))
            if end is None and start is not None:
                end = start + (supply or 0.0)
        if is_request or draft_id is not None:
            source = "prescribed"
            based_on = False
        else:
            informant = _ref_type(resource.get("informationSource"))
            source = (
                "self-reported" if informant in (None, "Patient", "RelatedPerson") else "prescribed"
            )
            based_on = any(
                _ref_type(r) == "MedicationRequest"
                for r in (*_list(resource.get("basedOn")), *_list(resource.get("derivedFrom")))
            )
        vaginal = route == "vaginal" or "prasterone-vaginal" in info.valuesets
        self.meds.append(
            _Med(
                {
                    "id": draft_id or f"med:{ref}",
                    "valuesets": info.valuesets,
                    "source_ref": ref,
                    "concept": info.concept or "",
                    "display": _fit(texts[0] if texts else info.display),
                    "status": status[:16],
                    "active": active,
                    "draft": draft_id is not None and selected,
                    "kind": "request" if is_request or draft_id is not None else "statement",
                    "source": source,
                    "based_on_request": based_on,
                    "route": route,
                    "dose_mg_per_day": dose_mg,
                    "start_day": start,
                    "start_days_ago": None if start is None else self.now - start,
                    "supply_days": supply,
                },
                (info.concept or "", vaginal),
                start,
                end,
            )
        )

    def episodes(self) -> None:
        by_key: dict[tuple[str, bool], list[_Med]] = {}
        for med in self.meds:
            if med.start is not None:
                by_key.setdefault(med.key, []).append(med)
        for meds in by_key.values():
            meds.sort(key=lambda m: m.start or 0.0)
            group: list[_Med] = []
            group_start = group_end = 0.0
            for med in meds:
                start = med.start or 0.0
                end = max(start, med.end if med.end is not None else start)
                if group and start - group_end <= EPISODE_GAP_DAYS:
                    group.append(med)
                    group_end = max(group_end, end)
                    continue
                self._close(group, group_start, group_end)
                group, group_start, group_end = [med], start, end
            self._close(group, group_start, group_end)
        for med in self.meds:
            self.facts.append(MedicationFact(**med.kw))

    def _close(self, group: list[_Med], start: float, end: float) -> None:
        length = max(0.0, min(end, self.now) - start)
        for med in group:
            med.kw["episode_start_day"] = start
            med.kw["episode_days"] = length

    # -- ranking -------------------------------------------------------------------------

    def rank(self) -> None:
        """Set ``latest``/``rank`` on the facts built above (they are not shared yet, so the
        frozen dataclasses are completed in place rather than rebuilt)."""
        series: dict[tuple[str, str], list[_Lab]] = {}
        for lab in self.labs:
            series.setdefault(lab.series, []).append(lab)
        for labs in series.values():
            labs.sort(key=lambda x: (x.day, x.order), reverse=True)
            for position, lab in enumerate(labs, start=1):
                _complete(lab.fact, "rank", float(position))
            _complete(labs[0].fact, "latest", True)
        self.facts.extend(lab.fact for lab in self.labs)
        newest: dict[str, ObservationFact] = {}
        for fact in self.observations:
            best = newest.get(fact.concept)
            if best is None or fact.day > best.day:
                newest[fact.concept] = fact
        for fact in newest.values():
            _complete(fact, "latest", True)
        self.facts.extend(self.observations)


def _complete(fact: Fact, name: str, value: object) -> None:
    object.__setattr__(fact, name, value)


def _range_status(
    value: float | None, comparator: str, low: float | None, high: float | None
) -> str:
    if value is None or (low is None and high is None):
        return "unknown"
    if comparator in ("<", "<="):  # the true value is below (or at) ``value``: never high
        if low is not None and (value <= low if comparator == "<" else value < low):
            return "low"
        if low is None and high is not None and value <= high:
            return "normal"
        return "unknown"
    if comparator in (">", ">="):
        if high is not None and (value >= high if comparator == ">" else value > high):
            return "high"
        if high is None and low is not None and value >= low:
            return "normal"
        return "unknown"
    if high is not None and value > high:
        return "high"
    if low is not None and value < low:
        return "low"
    return "normal"


def _route(dosages: list[Json], texts: list[str], info: CodeInfo) -> str:
    for dosage in dosages:
        route = dosage.get("route")
        for system, code in _codes(route):
            if system == SNOMED and code in ROUTES:
                return ROUTES[code]
        for text in (*_texts(route), _str(dosage.get("text")) or ""):
            for pattern, name in _ROUTE_WORDS:
                if pattern.search(text):
                    return name
    if "prasterone-vaginal" in info.valuesets:
        return "vaginal"
    for text in texts:
        for pattern, name in _ROUTE_WORDS:
            if pattern.search(text):
                return name
    return "unknown"


def _per_day(dosage: Json) -> float | None:
    timing = _obj(dosage.get("timing"))
    repeat = _obj(timing.get("repeat"))
    if repeat:
        frequency = _num(repeat.get("frequency"))
        period = _num(repeat.get("period"))
        unit = repeat.get("periodUnit")
        if period is None and frequency is None:
            return None
        days = _PERIOD_DAYS.get(unit) if isinstance(unit, str) else None
        if days is None or not period:
            return None
        return (frequency or 1.0) / (period * days)
    for _, code in _codes(timing.get("code")):
        if code in _TIMING_CODES:
            return _TIMING_CODES[code]
    return None


def _quantity(q: Any) -> tuple[float | None, str | None]:
    q = _obj(q)
    return _num(q.get("value")), _str(q.get("code")) or _str(q.get("unit"))


def _strength_mg(medication: Json | None, unit: str) -> float | None:
    """mg of ingredient per one ``unit`` of product (e.g. per capsule, per mL)."""
    if medication is None:
        return None
    for ing in _list(medication.get("ingredient")):
        strength = _obj(_obj(ing).get("strength"))
        num, num_unit = _quantity(strength.get("numerator"))
        den, den_unit = _quantity(strength.get("denominator"))
        if num is None or num_unit is None or not den or den_unit is None:
            continue
        if den_unit.lower() != unit.lower():
            try:
                den = convert(den, den_unit, unit)
            except UnitError:
                continue
        try:
            return convert(num, num_unit, "mg") / den
        except UnitError:
            continue
    return None


def _dose(dosages: list[Json], medication: Json | None) -> tuple[float | None, float | None]:
    """(product units per day, mg per day) over the dosages that apply at once."""
    if not dosages:
        return None, None
    sequences = [s for d in dosages if isinstance(s := d.get("sequence"), int)]
    first = min(sequences) if sequences else None
    current = [d for d in dosages if first is None or d.get("sequence") == first]
    units_total = 0.0
    mg_total: float | None = 0.0
    for dosage in current:
        per_day = _per_day(dosage)
        dose: float | None = None
        unit: str | None = None
        for dr in _list(dosage.get("doseAndRate")):
            dose, unit = _quantity(_obj(dr).get("doseQuantity"))
            if dose is not None:
                break
        if per_day is None or dose is None:
            return None, None
        units_total += dose * per_day
        mg: float | None = None
        if unit is not None:
            if unit.lower() in _MASS_UNITS:
                try:
                    mg = convert(dose, "ug" if unit.lower() in ("mcg", "µg", "μg") else unit, "mg")
                except UnitError:
                    mg = None
            else:
                strength = _strength_mg(medication, unit)
                mg = None if strength is None else dose * strength
        mg_total = None if mg is None or mg_total is None else mg_total + mg * per_day
    return units_total, (None if mg_total is None else round(mg_total, 6))


def _supply(dispense: Json, dosages: list[Json], per_day: float | None) -> float | None:
    duration = _obj(dispense.get("expectedSupplyDuration"))
    value = _num(duration.get("value"))
    unit = _str(duration.get("code")) or _str(duration.get("unit"))
    if value is not None and unit is not None and unit in _DURATION_DAYS:
        return value * _DURATION_DAYS[unit]
    quantity, q_unit = _quantity(dispense.get("quantity"))
    if quantity is None or not per_day or not dosages:
        return None
    dose_unit: str | None = None
    for dr in _list(dosages[0].get("doseAndRate")):
        _, dose_unit = _quantity(_obj(dr).get("doseQuantity"))
        break
    if q_unit is None or dose_unit is None:
        return None
    if q_unit.lower() != dose_unit.lower():
        try:
            quantity = convert(quantity, q_unit, dose_unit)
        except UnitError:
            return None
    return quantity / per_day


# --------------------------------------------------------------------------------------------


def build_facts(
    data: PatientData,
    *,
    now: datetime,
    terminology: Terminology,
    draft_orders: list[Json] | None = None,
    selections: Collection[str] | None = None,
) -> FactSet:
    """The facts of one patient at ``now``; never raises for bad data (see :class:`Skipped`).

    ``draft_orders`` are the resources of ``context.draftOrders`` (Bundle entries or their
    resources); each MedicationRequest among them becomes a draft MedicationFact ``draft:<n>``.

    ``selections`` (order-select's ``context.selections``, e.g. ``MedicationRequest/103``)
    names the orders just chosen. Only those are the draft being placed (``draft: true``, what
    ``on_order_hooks`` rules require); the session's other unsigned orders stay as prescribed
    requests (status ``draft``), so an interaction between the new selection and an earlier
    one is still found, but the cards of an earlier selection are not raised again. A draft
    without an id cannot be named, so it counts as selected; when no selection names a draft
    order (a client's slip), every draft does: a card too many rather than a warning missed.
    """
    builder = _Builder(_vocab(terminology), now)
    drafts: list[Json] = []
    for item in draft_orders or ():
        if isinstance(item, dict) and isinstance(item.get("resource"), dict):
            item = item["resource"]
        if isinstance(item, dict):
            drafts.append(item)
    draft_refs = {_ref_of(d) for d in drafts if d.get("id")}

    seen: set[str] = set()
    ordered: list[tuple[str, Json]] = []
    for group in (data.labs, data.observations, data.medications, data.conditions):
        for resource in group:
            if not isinstance(resource, dict):
                continue
            rtype = resource.get("resourceType")
            ref = _ref_of(resource)
            if rtype in ("Specimen", "Medication"):
                builder.index.setdefault(ref, resource)
                continue
            if ref in seen:
                continue
            seen.add(ref)
            ordered.append((ref, resource))

    builder.read_patient(data.patient)
    for ref, resource in ordered:
        rtype = resource.get("resourceType")
        try:
            if rtype == "Observation":
                builder.observation(resource, ref)
            elif rtype == "Condition":
                builder.condition(resource, ref)
            elif rtype in ("MedicationRequest", "MedicationStatement"):
                if ref in draft_refs:
                    builder.skip(ref, "superseded by the draft order in context.draftOrders")
                else:
                    builder.medication(resource, ref)
            elif rtype == "QuestionnaireResponse":
                builder.questionnaire(resource, ref)
            elif rtype == "ServiceRequest":
                builder.order(resource, ref)
            else:
                builder.skip(ref, "not used by any rule")
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            builder.skip(ref, f"unusable resource ({type(exc).__name__})")
    chosen = draft_refs.intersection(selections or ())
    for number, resource in enumerate(drafts):
        ref = _ref_of(resource)
        # a draft without an id cannot be named by a selection: it counts as selected
        selected = not chosen or ref in chosen or not resource.get("id")
        if resource.get("resourceType") == "ServiceRequest":
            builder.order(resource, ref, draft_id=f"draft:{number}", selected=selected)
            continue
        if resource.get("resourceType") != "MedicationRequest":
            builder.skip(ref, f"draft {resource.get('resourceType')}: no fact type for it")
            continue
        try:
            builder.medication(resource, ref, draft_id=f"draft:{number}", selected=selected)
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            builder.skip(ref, f"unusable draft order ({type(exc).__name__})")
    builder.episodes()
    builder.rank()
    builder.facts.insert(0, builder.patient_fact(data.patient))
    return FactSet(builder.facts, builder.skipped, dict(data.status))
