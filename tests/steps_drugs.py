"""Clinical steps for the drugs features (see conftest.py for the shared ones).

Zuranolone, brexanolone and ganaxolone scenarios need a few facts the shared steps do not give:
an eGFR or SpO2 written the way a clinician reads it, a negative pregnancy test, "not
breastfeeding", a running infusion, and drugs that are deliberately in no value set (a moderate
CYP3A4 inhibitor, an unrelated order), named with their RxNorm code.

The wording is chosen so that no step here can also match a shared step of the conftest. No
``__all__``: the conftest star-imports this module, and pytest-bdd keeps each step as a generated
module-level fixture that a star import must carry along.
"""

from __future__ import annotations

from typing import Any, Protocol

from clinical import Chart, ago, code_for, iso
from pytest_bdd import given, parsers

_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_UCUM = "http://unitsofmeasure.org"
_EGFR_UNIT = "mL/min/{1.73_m2}"
_PER_DAY = {"once": 1, "twice": 2, "three times": 3}
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


class _Visit(Protocol):
    """The part of the conftest's ``Visit`` these steps use."""

    chart: Chart


def _medication_request(
    chart: Chart, drug: str, code: str, *, status: str, dose: str | None, freq: str | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": chart.new_id("draft" if status == "draft" else "mr"),
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": _RXNORM, "code": code, "display": drug}],
            "text": drug,
        },
        "subject": chart.ref(),
        "authoredOn": iso(chart.now if status == "draft" else ago("1 month ago", chart.now)),
    }
    if dose:
        per_day = _PER_DAY[freq or "once"]
        resource["dosageInstruction"] = [
            {
                "text": f"{dose} mg {freq or 'once'} daily",
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": float(dose),
                            "unit": "mg",
                            "system": _UCUM,
                            "code": "mg",
                        }
                    }
                ],
            }
        ]
    return resource


_RXNORM_DRUG = (
    r"(?P<drug>[a-zA-Z -]+?) \(RxNorm (?P<code>\d+)\)"
    r"(?: (?P<dose>[\d.]+) mg (?P<freq>once|twice|three times) daily)?"
)


@given(parsers.re(r"(?:she|he) is prescribed " + _RXNORM_DRUG))
def prescribed_rxnorm(
    visit: _Visit, drug: str, code: str, dose: str | None, freq: str | None
) -> None:
    """An active prescription for a drug outside every value set of the pack."""
    chart = visit.chart
    chart.resources.append(
        _medication_request(chart, drug, code, status="active", dose=dose, freq=freq)
    )


@given(parsers.re(r"a draft order for " + _RXNORM_DRUG))
def draft_order_rxnorm(
    visit: _Visit, drug: str, code: str, dose: str | None, freq: str | None
) -> None:
    """A draft order (the order being placed) for a drug outside every value set."""
    chart = visit.chart
    chart.drafts.append(
        _medication_request(chart, drug, code, status="draft", dose=dose, freq=freq)
    )


@given(parsers.re(r"(?:she|he) is receiving an? (?P<drug>[a-z]+) infusion started (?P<when>.+)"))
def infusion_running(visit: _Visit, drug: str, when: str) -> None:
    """An infusion in progress: an active order started ``when``."""
    chart = visit.chart
    chart.prescribed(drug, ago(when, chart.now))


def _lab(chart: Chart, name: str, value: float, unit: str, when: str) -> None:
    chart.lab(name, value, unit, ago(when, chart.now))


@given(parsers.re(r"(?:her|his) eGFR is (?P<value>[\d.]+) mL/min/1\.73 m2, measured (?P<when>.+)"))
def egfr_result(visit: _Visit, value: str, when: str) -> None:
    _lab(visit.chart, "eGFR", float(value), _EGFR_UNIT, when)


@given(
    parsers.re(r"(?:her|his) SpO2 is (?P<value>[\d.]+)% on pulse oximetry, measured (?P<when>.+)")
)
def spo2_result(visit: _Visit, value: str, when: str) -> None:
    _lab(visit.chart, "SpO2", float(value), "%", when)


@given(parsers.re(r"(?:her|his) urine pregnancy test was negative (?P<when>.+)"))
def pregnancy_test_negative(visit: _Visit, when: str) -> None:
    """A qualitative urine hCG reported negative (interpretation N, value "Negative")."""
    chart = visit.chart
    entry = code_for("hcg", "lab")
    chart.resources.append(
        {
            "resourceType": "Observation",
            "id": chart.new_id("obs"),
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
            "code": {
                "coding": [{"system": entry.system, "code": entry.code, "display": entry.display}],
                "text": "Urine pregnancy test",
            },
            "subject": chart.ref(),
            "effectiveDateTime": iso(ago(when, chart.now)),
            "valueString": "Negative",
            "interpretation": [
                {"coding": [{"system": _INTERPRETATION, "code": "NEG", "display": "Negative"}]}
            ],
        }
    )


@given(parsers.re(r"(?:she|he) is not breastfeeding"))
def breastfeeding_no(visit: _Visit) -> None:
    """A breastfeeding-status observation recorded today answering no."""
    chart = visit.chart
    chart.observation(code_for("breastfeeding-status"), chart.now, value=False)


@given(parsers.re(r"(?:she|he) attempted suicide (?P<when>.+?), recorded as resolved"))
def past_suicide_attempt(visit: _Visit, when: str) -> None:
    """A suicide attempt on the problem list, clinical status resolved."""
    chart = visit.chart
    chart.condition("suicide attempt", status="resolved", onset=ago(when, chart.now))
