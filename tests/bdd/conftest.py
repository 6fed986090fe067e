"""Step definitions for the clinical features in ``features/``.

Steps describe patients in clinical words and what the clinician sees; they build FHIR resources
(``clinical.py``), send a real CDS Hooks request to a real running service, and read its cards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clinical import Chart, ago, code_for
from pytest_bdd import given, parsers, then, when
from service import running_service

# Area-specific steps live in their own modules; importing them here makes them visible to every
# scenario (pytest-bdd registers steps as fixtures of the module that imports them).
from steps_drugs import *  # noqa: F403
from steps_monitoring import *  # noqa: F403
from steps_supplements import *  # noqa: F403

from cds.ehr import hook_request as ehr_request
from cds.rules.pack import load_pack

RULES = Path(__file__).resolve().parents[2] / "rules"
SERVICE = {
    "patient-view": "neurosteroid-patient-view",
    "order-select": "neurosteroid-order-select",
    "order-sign": "neurosteroid-order-sign",
}
PER_DAY = {"once": 1, "twice": 2, "three times": 3}


class Clock:
    """The service's "now", pinned by each scenario's Background."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


CLOCK = Clock()


@pytest.fixture(scope="session")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pack = load_pack(RULES)
    with running_service(tmp_path_factory.mktemp("bdd"), pack=pack, clock=CLOCK) as url:
        yield url


@dataclass
class Visit:
    chart: Chart = field(default_factory=lambda: Chart(CLOCK.now))
    cards: list[dict[str, Any]] = field(default_factory=list)
    card: dict[str, Any] | None = None
    # changes to what the EHR sends, applied to the prefetch of every later call (a history
    # the EHR could not return in full)
    prefetch_edits: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)


@pytest.fixture
def visit() -> Visit:
    return Visit()


# -- Given: the patient ------------------------------------------------------------------------


@given(parsers.re(r"today is (?P<day>\d{4}-\d{2}-\d{2})"))
def today_is(visit: Visit, day: str) -> None:
    CLOCK.now = datetime.fromisoformat(day).replace(hour=9, tzinfo=UTC)
    visit.chart = Chart(CLOCK.now)


@given(parsers.re(r"an? (?P<age>\d+)[- ]year[- ]old (?P<sex>woman|man|girl|boy)"))
def patient(visit: Visit, age: str, sex: str) -> None:
    visit.chart.set_patient(int(age), sex)


@given(parsers.re(r'(?:she|he) reports taking "(?P<text>[^"]+)" for (?P<span>.+)'))
def reports_taking(visit: Visit, text: str, span: str) -> None:
    visit.chart.self_reported(text, ago(f"{span} ago", CLOCK.now), dose_mg=_mg(text))


@given(parsers.re(r'(?:she|he) reports taking "(?P<text>[^"]+)" as prescribed for (?P<span>.+)'))
def reports_taking_as_prescribed(visit: Visit, text: str, span: str) -> None:
    """A self-reported statement linked to a prescription (``basedOn`` a MedicationRequest
    written elsewhere): documented oversight, though no order is in this chart."""
    since = ago(f"{span} ago", CLOCK.now)
    visit.chart.self_reported(text, since, dose_mg=_mg(text), based_on_prescription=True)


@given(parsers.re(r'(?:she|he) reported taking "(?P<text>[^"]+)" but stopped (?P<when>.+)'))
def stopped_taking(visit: Visit, text: str, when: str) -> None:
    stopped = ago(when, CLOCK.now)
    visit.chart.self_reported(text, ago("1 year ago", CLOCK.now), stopped=stopped)


@given(
    parsers.re(
        r"(?:she|he) is prescribed (?P<drug>[a-zA-Z -]+?)(?: (?P<dose>[\d.]+) mg "
        r"(?P<freq>once|twice|three times) daily)?(?: since (?P<since>.+))?$"
    )
)
def prescribed(
    visit: Visit, drug: str, dose: str | None, freq: str | None, since: str | None
) -> None:
    start = ago(since, CLOCK.now) if since else ago("3 months ago", CLOCK.now)
    visit.chart.prescribed(
        drug, start, dose_mg=float(dose) if dose else None, per_day=PER_DAY.get(freq or "once", 1)
    )


@given(parsers.re(r"(?:she|he) was prescribed (?P<drug>[a-zA-Z -]+?) but it was stopped"))
def prescribed_stopped(visit: Visit, drug: str) -> None:
    visit.chart.prescribed(drug, ago("6 months ago", CLOCK.now), status="stopped")


@given(
    parsers.re(
        r"a draft order for (?P<drug>[a-zA-Z -]+?)(?: (?P<dose>[\d.]+) mg "
        r"(?P<freq>once|twice|three times) daily)?(?: for (?P<days>\d+) days)?$"
    )
)
def draft_order(
    visit: Visit, drug: str, dose: str | None, freq: str | None, days: str | None
) -> None:
    visit.chart.draft_order(
        drug,
        dose_mg=float(dose) if dose else None,
        per_day=PER_DAY.get(freq or "once", 1),
        supply_days=int(days) if days else None,
    )


@given(parsers.re(r"(?:she|he) has (?P<name>.+?)(?: since (?P<since>.+))?$"))
def has_condition(visit: Visit, name: str, since: str | None) -> None:
    visit.chart.condition(name, onset=ago(since, CLOCK.now) if since else None)


@given(parsers.re(r"(?:she|he) had (?P<name>.+?), now (?P<status>resolved|in remission)"))
def had_condition(visit: Visit, name: str, status: str) -> None:
    visit.chart.condition(
        name,
        status="resolved" if status == "resolved" else "remission",
        onset=ago("5 years ago", CLOCK.now),
    )


@given(parsers.re(r"(?P<name>.+?) was ruled out"))
def refuted_condition(visit: Visit, name: str) -> None:
    visit.chart.condition(name, verification="refuted")


@given(
    parsers.re(
        r"(?:her|his) (?P<saliva>salivary )?(?P<lab>[A-Za-z0-9 -]+?) was "
        r"(?P<comparator>[<>]=?)?(?P<value>[\d.]+) "
        r"(?P<unit>\S+) (?P<when>.+?)(?: \(reference range (?P<low>[\d.]+)[–-](?P<high>[\d.]+) "
        r"\S+\))?$"
    )
)
def lab_result(
    visit: Visit,
    saliva: str | None,
    lab: str,
    comparator: str | None,
    value: str,
    unit: str,
    when: str,
    low: str | None,
    high: str | None,
) -> None:
    visit.chart.lab(
        lab,
        float(value),
        unit.replace("µ", "u"),
        ago(when, CLOCK.now),
        low=float(low) if low else None,
        high=float(high) if high else None,
        specimen="saliva" if saliva else None,
        comparator=comparator,
    )


@given(parsers.re(r"(?:she|he) is pregnant"))
def pregnant(visit: Visit) -> None:
    visit.chart.observation(
        code_for("pregnancy-status"), CLOCK.now, answer=code_for("pregnant-answer")
    )


@given(parsers.re(r"pregnancy is on (?:her|his) problem list(?: since (?P<since>.+))?"))
def pregnancy_diagnosis(visit: Visit, since: str | None) -> None:
    """An active pregnancy Condition (a diagnosis), not a pregnancy-status answer."""
    onset = ago(since, CLOCK.now) if since else None
    visit.chart.condition("pregnancy", onset=onset)


@given(parsers.re(r"(?:she|he) is breastfeeding"))
def breastfeeding(visit: Visit) -> None:
    visit.chart.observation(code_for("breastfeeding-status"), CLOCK.now, value=True)


# -- When: the clinician's action ---------------------------------------------------------------


def _call(visit: Visit, url: str, hook: str, selected: str | None = None) -> None:
    chart = visit.chart
    assert chart.patient, "describe the patient first ('Given a 45 year old woman')"
    body = ehr_request(hook, chart.patient, chart.resources, drafts=chart.drafts)
    if selected is not None:  # one order chosen among the session's drafts
        chosen = [
            f"MedicationRequest/{d['id']}"
            for d in chart.drafts
            if selected.lower() in json.dumps(d.get("medicationCodeableConcept", {})).lower()
        ]
        assert len(chosen) == 1, f"no single draft order for {selected!r}"
        body["context"]["selections"] = chosen
    for edit in visit.prefetch_edits:
        edit(body["prefetch"])
    response = httpx.post(f"{url}/cds-services/{SERVICE[hook]}", json=body, timeout=30)
    assert response.status_code == 200, response.text
    visit.cards = response.json()["cards"]


@when(parsers.re(r"(?:her|his) chart is opened"))
def chart_opened(visit: Visit, service_url: str) -> None:
    _call(visit, service_url, "patient-view")


@when("the clinician selects the draft order")
def order_selected(visit: Visit, service_url: str) -> None:
    _call(visit, service_url, "order-select")


@when(parsers.re(r"the clinician selects (?P<drug>[a-zA-Z -]+?) among the draft orders"))
def one_order_selected(visit: Visit, service_url: str, drug: str) -> None:
    """order-select with several unsigned orders: ``context.selections`` names one of them."""
    _call(visit, service_url, "order-select", selected=drug)


@when("the clinician signs the draft order")
def order_signed(visit: Visit, service_url: str) -> None:
    _call(visit, service_url, "order-sign")


# -- Then: what the clinician sees --------------------------------------------------------------


def _rule(card: dict[str, Any]) -> str:
    return str(card["extension"]["neurosteroid-cds"]["ruleId"])


@then(
    parsers.re(
        r"the clinician sees an? (?P<indicator>info|warning|critical) card from rule "
        r'"(?P<rule_id>[a-z0-9-]+)"'
    )
)
def sees_card(visit: Visit, indicator: str, rule_id: str) -> None:
    found = [c for c in visit.cards if _rule(c) == rule_id]
    assert found, f"no card from {rule_id}; cards from {[_rule(c) for c in visit.cards]}"
    assert found[0]["indicator"] == indicator
    visit.card = found[0]


@then(parsers.re(r'the clinician sees no card from rule "(?P<rule_id>[a-z0-9-]+)"'))
def no_card(visit: Visit, rule_id: str) -> None:
    assert rule_id not in [_rule(c) for c in visit.cards]


@then("the clinician sees no cards")
def no_cards(visit: Visit) -> None:
    assert visit.cards == [], [_rule(c) for c in visit.cards]


@then(parsers.re(r'the card says "(?P<text>[^"]+)"'))
def card_says(visit: Visit, text: str) -> None:
    assert visit.card is not None, "name the card first"
    words = " ".join((visit.card["summary"] + " " + visit.card.get("detail", "")).lower().split())
    assert " ".join(text.lower().split()) in words, visit.card


@then(parsers.re(r'the card suggests "(?P<label>[^"]+)"'))
def card_suggests(visit: Visit, label: str) -> None:
    assert visit.card is not None, "name the card first"
    labels = [s["label"] for s in visit.card.get("suggestions", [])]
    assert any(label.lower() in item.lower() for item in labels), labels


def _mg(text: str) -> float | None:
    match = re.search(r"([\d.]+)\s*mg", text)
    return float(match.group(1)) if match else None
