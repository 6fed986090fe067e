"""Clinical steps for the supplements features (see conftest.py for the shared ones).

The ``visit`` fixture is the conftest's ``Visit`` (it cannot be imported from here: the conftest
star-imports this module), so it is typed ``Any``; only its ``chart`` (a ``clinical.Chart``)
is used.
Dates are relative to the chart's "now", which the Background's ``today is …`` step pins.
"""

from __future__ import annotations

from typing import Any

from clinical import Chart, ago, code_for
from pytest_bdd import given, parsers


def _chart(visit: Any) -> Chart:
    chart = visit.chart
    assert isinstance(chart, Chart), "the visit has no chart"
    return chart


@given(
    parsers.re(
        r"(?:her|his) (?:urine |serum )?pregnancy test was (?P<result>positive|negative) "
        r"(?P<when>.+)"
    )
)
def pregnancy_test(visit: Any, result: str, when: str) -> None:
    """A qualitative hCG result (LOINC 2106-3) answering positive or negative."""
    chart = _chart(visit)
    answer = code_for("positive", "answer") if result == "positive" else None
    chart.observation(
        code_for("hcg", "lab"),
        ago(when, chart.now),
        answer=answer,
        text=f"Pregnancy test (hCG), {result}",
    )
    if answer is None:
        # no value set lists the "negative" answer: record it as the lab's own words
        chart.resources[-1]["valueString"] = "Negative"


@given(parsers.re(r"(?:she|he) reported breastfeeding (?P<when>.+? ago|last month|last week)"))
def breastfeeding_reported(visit: Any, when: str) -> None:
    """A breastfeeding-status Observation answering yes, recorded at that time (not today)."""
    chart = _chart(visit)
    chart.observation(code_for("breastfeeding-status"), ago(when, chart.now), value=True)
