"""Turn clinical phrases from the feature files into FHIR R4 resources.

Names ("sertraline", "PCOS", "DHEA-S") are looked up in the rule pack's own value sets, so a
scenario exercises the same codes an EHR would send. Dates are relative to the scenario's "now".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from cds.rules.pack import load_terminology
from cds.rules.terminology import CodeEntry, Terminology

RULES = Path(__file__).resolve().parents[1] / "rules"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SYSTEM_PREFERENCE = {RXNORM: 0, "http://loinc.org": 0, "http://snomed.info/sct": 1}
_ids = itertools.count(1)


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    problems: list[Any] = []
    result = load_terminology(RULES, problems)
    assert not problems, problems
    return result


def code_for(name: str, kind: str | None = None) -> CodeEntry:
    """The code a clinical name means: a value set id or title, a concept or a display."""
    wanted = name.strip().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", wanted).strip("-")
    candidates: list[tuple[int, CodeEntry]] = []
    for vs in terminology().valuesets.values():
        if kind and vs.kind != kind:
            continue
        whole_set = slug in (vs.id, re.sub(r"[^a-z0-9]+", "-", vs.title.lower()).strip("-"))
        for entry in vs.codes:
            named = (entry.concept or "").lower() in (wanted, slug) or (
                entry.display.lower() == wanted
            )
            if whole_set or named:
                rank = SYSTEM_PREFERENCE.get(entry.system, 2) * 2 + (0 if entry.verified else 1)
                candidates.append((rank, entry))
    if not candidates:
        raise AssertionError(f"no code for {name!r} in rules/valuesets (kind {kind})")
    return min(candidates, key=lambda c: c[0])[1]


def ago(text: str, now: datetime) -> datetime:
    """'7 days ago', '3 weeks ago', '8 months ago', '2 years ago', 'today', 'yesterday',
    'last week', 'last month'."""
    text = text.strip().lower()
    fixed = {"today": 0, "yesterday": 1, "last week": 7, "last month": 30, "now": 0}
    if text in fixed:
        return now - timedelta(days=fixed[text])
    match = re.fullmatch(r"(\d+|a|an|one|two|three|six) (day|week|month|year)s? ago", text)
    if not match:
        raise AssertionError(f"cannot read the time {text!r}: write e.g. '8 months ago'")
    words = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "six": 6}
    count = int(words.get(match.group(1), 0) or match.group(1))
    days = {"day": 1, "week": 7, "month": 30.4375, "year": 365.25}[match.group(2)]
    return now - timedelta(days=count * days)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cc(entry: CodeEntry, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "coding": [{"system": entry.system, "code": entry.code, "display": entry.display}]
    }
    if text:
        out["text"] = text
    return out


def _dosage(dose_mg: float | None, per_day: int) -> list[dict[str, Any]]:
    if dose_mg is None:
        return []
    return [
        {
            "text": f"{dose_mg:g} mg {per_day} times daily",
            "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": dose_mg,
                        "unit": "mg",
                        "system": "http://unitsofmeasure.org",
                        "code": "mg",
                    }
                }
            ],
        }
    ]


@dataclass
class Chart:
    """The patient a scenario describes, as FHIR resources, and the draft orders."""

    now: datetime
    patient: dict[str, Any] = field(default_factory=dict)
    resources: list[dict[str, Any]] = field(default_factory=list)
    drafts: list[dict[str, Any]] = field(default_factory=list)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(_ids)}"

    def set_patient(self, age: int, sex: str) -> None:
        female = sex in ("woman", "girl", "female")
        birth = self.now - timedelta(days=age * 365.25 + 30)
        self.patient = {
            "resourceType": "Patient",
            "id": "pat-1",
            "gender": "female" if female else "male",
            "birthDate": birth.date().isoformat(),
            "extension": [
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": "F" if female else "M",
                }
            ],
        }

    def ref(self) -> dict[str, str]:
        return {"reference": "Patient/pat-1"}

    def self_reported(
        self,
        text: str,
        since: datetime,
        *,
        stopped: datetime | None = None,
        dose_mg: float | None = None,
        based_on_prescription: bool = False,
    ) -> None:
        """A supplement the patient reports, recorded as text (as most EHRs record them);
        ``based_on_prescription`` links it to a prescription written elsewhere."""
        period: dict[str, str] = {"start": iso(since)}
        if stopped:
            period["end"] = iso(stopped)
        if based_on_prescription:
            link = {"basedOn": [{"reference": "MedicationRequest/written-elsewhere"}]}
        else:
            link = {}
        self.resources.append(
            {
                **link,
                "resourceType": "MedicationStatement",
                "id": self.new_id("ms"),
                "status": "completed" if stopped else "active",
                "medicationCodeableConcept": {"text": text},
                "subject": self.ref(),
                "effectivePeriod": period,
                "dateAsserted": iso(since),
                "informationSource": self.ref(),
                **({"dosage": _dosage(dose_mg, 1)} if dose_mg else {}),
            }
        )

    def prescribed(
        self,
        drug: str,
        since: datetime,
        *,
        dose_mg: float | None = None,
        per_day: int = 1,
        status: str = "active",
    ) -> dict[str, Any]:
        entry = code_for(drug, "medication")
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.new_id("mr"),
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": _cc(entry, drug),
            "subject": self.ref(),
            "authoredOn": iso(since),
            "requester": {"reference": "Practitioner/example"},
        }
        dosage = _dosage(dose_mg, per_day)
        if dosage:
            resource["dosageInstruction"] = dosage
        self.resources.append(resource)
        return resource

    def draft_order(
        self, drug: str, *, dose_mg: float | None, per_day: int = 1, supply_days: int | None = None
    ) -> None:
        entry = code_for(drug, "medication")
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": self.new_id("draft"),
            "status": "draft",
            "intent": "order",
            "medicationCodeableConcept": _cc(entry, drug),
            "subject": self.ref(),
            "authoredOn": iso(self.now),
        }
        dosage = _dosage(dose_mg, per_day)
        if dosage:
            resource["dosageInstruction"] = dosage
        if supply_days:
            resource["dispenseRequest"] = {
                "expectedSupplyDuration": {
                    "value": supply_days,
                    "unit": "days",
                    "system": "http://unitsofmeasure.org",
                    "code": "d",
                }
            }
        self.drafts.append(resource)

    def condition(
        self,
        name: str,
        *,
        status: str = "active",
        onset: datetime | None = None,
        verification: str = "confirmed",
    ) -> None:
        entry = code_for(name, "condition")
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self.new_id("cond"),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": status,
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": verification,
                    }
                ]
            },
            "code": _cc(entry, name),
            "subject": self.ref(),
        }
        if onset:
            resource["onsetDateTime"] = iso(onset)
            resource["recordedDate"] = iso(onset)
        self.resources.append(resource)

    def lab(
        self,
        name: str,
        value: float,
        unit: str,
        when: datetime,
        *,
        low: float | None = None,
        high: float | None = None,
        specimen: str | None = None,
        comparator: str | None = None,
    ) -> None:
        entry = code_for(name, "lab")
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.new_id("obs"),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": _cc(entry, name),
            "subject": self.ref(),
            "effectiveDateTime": iso(when),
            "valueQuantity": {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }
        if comparator:
            resource["valueQuantity"]["comparator"] = comparator
        if low is not None or high is not None:
            rng: dict[str, Any] = {}
            if low is not None:
                rng["low"] = {
                    "value": low,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                }
            if high is not None:
                rng["high"] = {
                    "value": high,
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                }
            resource["referenceRange"] = [rng]
        if specimen:
            resource["specimen"] = {"display": specimen}
            resource["code"]["text"] = f"{name}, {specimen}"
        self.resources.append(resource)

    def observation(
        self,
        code: CodeEntry,
        when: datetime,
        *,
        value: Any = None,
        answer: CodeEntry | None = None,
        text: str | None = None,
    ) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self.new_id("obs"),
            "status": "final",
            "code": _cc(code, text),
            "subject": self.ref(),
            "effectiveDateTime": iso(when),
        }
        if answer is not None:
            resource["valueCodeableConcept"] = _cc(answer)
        elif isinstance(value, bool):
            resource["valueBoolean"] = value
        elif value is not None:
            resource["valueQuantity"] = {
                "value": value,
                "unit": "{score}",
                "system": "http://unitsofmeasure.org",
                "code": "{score}",
            }
        self.resources.append(resource)
