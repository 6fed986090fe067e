"""Clinical steps for the monitoring features (see conftest.py for the shared ones).

Histories are written as a clinician would: "her PHQ-9 scores: 8 three months ago, 15 last week",
"her DHEA-S results: 180 µg/dL eight months ago, 410 µg/dL last week". Phrases are chosen so that
no shared step also matches them (pytest-bdd gives no precedence between two matching steps).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from clinical import ago, code_for, iso
from pytest_bdd import given, parsers

_INSTRUMENTS = {"PHQ-9": "phq9-total", "GAD-7": "gad7-total", "EPDS": "epds-total", "ISI": "isi"}
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "eighteen": 18,
}  # fmt: skip
_WHEN = r"(?:today|yesterday|last week|last month|(?:\d+|an?|[a-z]+) (?:day|week|month|year)s? ago)"
_PIECE = re.compile(rf"^\s*(?:and\s+|then\s+)?(?P<head>.+?)\s+(?P<when>{_WHEN})\s*$")


def _at(text: str, now: datetime) -> datetime:
    """Like ``clinical.ago``, and number words too ("eight months ago")."""
    words = text.strip().lower().split()
    if words and words[0] in _NUMBER_WORDS:
        words[0] = str(_NUMBER_WORDS[words[0]])
    return ago(" ".join(words), now)


def _history(text: str) -> list[tuple[str, str]]:
    """'8 three months ago, 15 last week' → [('8', 'three months ago'), ('15', 'last week')]."""
    out = []
    for piece in re.split(r",\s*|\s+and\s+|\s+then\s+", text):
        if not piece.strip():
            continue
        match = _PIECE.match(piece)
        assert match, f"cannot read {piece!r}: write e.g. '8 three months ago'"
        out.append((match.group("head"), match.group("when")))
    return out


def _chart(visit: Any) -> Any:
    return visit.chart


# -- questionnaires ------------------------------------------------------------------------------


@given(
    parsers.re(
        r"(?:her|his) (?P<instrument>PHQ-9|GAD-7|EPDS|ISI) (?:total )?scores?: (?P<history>.+)"
    )
)
def score_history(visit: Any, instrument: str, history: str) -> None:
    chart = _chart(visit)
    code = code_for(_INSTRUMENTS[instrument], "observation")
    for score, moment in _history(history):
        chart.observation(code, _at(moment, chart.now), value=int(score))


@given(
    parsers.re(
        r'(?:she|he) answered "(?P<answer>Not at all|Several days|More than half the days|'
        r'Nearly every day)" to PHQ-9 question 9 (?P<moment>.+)'
    )
)
def answered_item9(visit: Any, answer: str, moment: str) -> None:
    chart = _chart(visit)
    chart.observation(
        code_for("phq9-item9", "observation"),
        _at(moment, chart.now),
        answer=code_for(answer, "answer"),
    )


# -- labs and lab orders -------------------------------------------------------------------------


@given(
    parsers.re(
        r"(?:her|his) (?P<lab>DHEA-S|testosterone|estradiol|pregnenolone) results?: (?P<history>.+)"
    )
)
def lab_history(visit: Any, lab: str, history: str) -> None:
    """'180 µg/dL eight months ago, 410 µg/dL last week' (serum results)."""
    chart = _chart(visit)
    for head, moment in _history(history):
        value, _, unit = head.partition(" ")
        chart.lab(lab, float(value), unit.strip().replace("µ", "u"), _at(moment, chart.now))


def _service_request(chart: Any, code: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": chart.new_id("sr"),
        "status": "draft",
        "intent": "order",
        "code": code,
        "subject": chart.ref(),
        "authoredOn": iso(chart.now),
    }


@given(parsers.re(r"a draft lab order for (?P<test>[A-Za-z0-9 -]+?)(?P<saliva> in saliva)?"))
def draft_lab_order(visit: Any, test: str, saliva: str | None) -> None:
    chart = _chart(visit)
    entry = code_for(test, "lab")
    coding = {"system": entry.system, "code": entry.code, "display": entry.display}
    text = f"{test}, saliva" if saliva else test
    chart.drafts.append(_service_request(chart, {"coding": [coding], "text": text}))


@given(parsers.re(r'a draft lab order written as "(?P<text>[^"]+)"'))
def draft_lab_order_text(visit: Any, text: str) -> None:
    """An uncoded order, as orders for tests without a LOINC code arrive."""
    chart = _chart(visit)
    chart.drafts.append(_service_request(chart, {"text": text}))


# -- medications ---------------------------------------------------------------------------------


@given(parsers.re(r'(?:she|he) took "(?P<text>[^"]+)" from (?P<start>.+?) until (?P<end>.+)'))
def took_until(visit: Any, text: str, start: str, end: str) -> None:
    """A finished self-reported episode (for gaps between episodes)."""
    chart = _chart(visit)
    chart.self_reported(text, _at(start, chart.now), stopped=_at(end, chart.now))


def _biotin(chart: Any, dosage: list[dict[str, Any]], text: str) -> None:
    since = chart.now - timedelta(days=180)
    chart.resources.append(
        {
            "resourceType": "MedicationStatement",
            "id": chart.new_id("ms"),
            "status": "active",
            "medicationCodeableConcept": {"text": text},
            "subject": chart.ref(),
            "effectivePeriod": {"start": iso(since)},
            "dateAsserted": iso(since),
            "informationSource": chart.ref(),
            **({"dosage": dosage} if dosage else {}),
        }
    )


@given(parsers.re(r"(?:she|he) takes biotin (?P<dose>[\d,.]+) (?P<unit>mg|mcg) daily"))
def biotin_dose(visit: Any, dose: str, unit: str) -> None:
    value = float(dose.replace(",", ""))
    dosage = [
        {
            "text": f"{dose} {unit} once daily",
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [
                {
                    "doseQuantity": {
                        "value": value,
                        "unit": unit,
                        "system": "http://unitsofmeasure.org",
                        "code": "ug" if unit == "mcg" else unit,
                    }
                }
            ],
        }
    ]
    _biotin(_chart(visit), dosage, f"Biotin {dose} {unit}")


@given(parsers.re(r"(?:she|he) takes biotin, dose not recorded"))
def biotin_no_dose(visit: Any) -> None:
    _biotin(_chart(visit), [], "Biotin")


@given(
    parsers.re(
        r"(?:she|he) completed a (?P<days>\d+)-day course of zuranolone (?P<dose>\d+) mg "
        r"started (?P<moment>.+)"
    )
)
def completed_course(visit: Any, days: str, dose: str, moment: str) -> None:
    chart = _chart(visit)
    resource = chart.prescribed(
        "zuranolone", _at(moment, chart.now), dose_mg=float(dose), status="completed"
    )
    resource["dispenseRequest"] = {
        "expectedSupplyDuration": {
            "value": int(days),
            "unit": "days",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        }
    }


# -- a history the EHR could not return in full (§5.11) ------------------------------------------

# The prefetch keys (cds.context.prefetch.PREFETCH_TEMPLATES) that carry each history.
_HISTORY_KEYS = {
    "lab": ("labs",),
    "medication": ("medicationRequests", "medicationStatements"),
    "questionnaire": ("observations", "questionnaires"),
}
_CUT_SHORT = "the EHR's search stopped after the first page"
_FAILED = "the EHR's query failed"
_NOT_SENT = "the EHR did not send it"
_OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "timeout", "diagnostics": "search timed out"}],
}


@given(
    parsers.re(
        r"(?:her|his) (?P<history>lab|medication|questionnaire) history could not be retrieved "
        rf"in full: (?P<how>{re.escape(_CUT_SHORT)}|{re.escape(_FAILED)}|{re.escape(_NOT_SENT)})"
    )
)
def history_not_in_full(visit: Any, history: str, how: str) -> None:
    """What the EHR sends for that history, as the service would receive it (no ``fhirServer``,
    so the service cannot fetch the rest itself): a searchset with a ``next`` link it cannot
    follow (INCOMPLETE), an OperationOutcome in place of the result, or no such key (both
    UNAVAILABLE)."""
    keys = _HISTORY_KEYS[history]

    def withhold(prefetch: dict[str, Any]) -> None:
        for key in keys:
            assert key in prefetch, f"no prefetch key {key!r} to withhold"
            if how == _CUT_SHORT:
                page2 = f"https://ehr.invalid/fhir/{key}?page=2"
                prefetch[key]["link"] = [{"relation": "next", "url": page2}]
            elif how == _FAILED:
                prefetch[key] = dict(_OUTCOME)
            else:
                del prefetch[key]

    visit.prefetch_edits.append(withhold)
