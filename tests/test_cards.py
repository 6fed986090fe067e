"""Card text: how fact values read in a card (``cds.cards.fill``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds.cards import _fixed_parts, fill, shorten_summary
from cds.facts import LabFact, field_specs, render_width
from cds.rules.pack import load_pack

RULES = Path(__file__).resolve().parent.parent / "rules"
TEMPLATE = "DHEA-S {lab.value} {lab.unit} (upper limit {lab.ref_high})"


def _lab(value: float, comparator: str) -> dict[str, Any]:
    return {"value": value, "unit": "ug/dL", "ref_high": 256.0, "comparator": comparator}


@pytest.mark.parametrize(
    ("value", "comparator", "text"),
    [
        (560.0, "=", "DHEA-S 560 ug/dL (upper limit 256)"),
        (15.0, "<", "DHEA-S <15 ug/dL (upper limit 256)"),
        (1500.0, ">", "DHEA-S >1500 ug/dL (upper limit 256)"),
        (1500.0, ">=", "DHEA-S >=1500 ug/dL (upper limit 256)"),
    ],
)
def test_a_result_reported_as_a_bound_keeps_its_comparator(
    value: float, comparator: str, text: str
) -> None:
    assert fill(TEMPLATE, {"lab": _lab(value, comparator)}) == text


def test_a_missing_field_reads_unknown() -> None:
    assert fill("{lab.value} / {rx.display}", {"lab": {}}) == "unknown / unknown"


def test_the_width_budget_of_a_lab_value_counts_its_comparator() -> None:
    """Summaries must fit 140 characters: the checker budgets ``{lab.value}`` this wide."""
    spec = field_specs(LabFact.fact_type)["value"]
    assert render_width(spec) >= len(">=") + len(fill("{l.value}", {"l": {"value": 123456.7}}))


# Found by the conformance review: a summary made long by a filled placeholder was cut at 139
# characters mid-word.
def test_a_long_summary_is_cut_at_a_word_within_the_limit() -> None:
    text = "Zuranolone with a strong CYP3A4 inhibitor: " + "ketoconazole-containing " * 6
    short = shorten_summary(text)
    assert len(short) <= 139 < len(text)
    assert short.endswith("…")
    assert text.startswith(short[:-1])
    assert text[len(short) - 1] == " "  # the cut fell between words
    assert shorten_summary("DHEA-S above range") == "DHEA-S above range"


# Found by the issue 4/6 audit: citation link labels were cut at 100 characters mid-word
# ("... Endocrine Society guid").
def test_citation_link_labels_are_cut_at_a_word() -> None:
    pack = load_pack(RULES)
    cut = 0
    for rule_id, ir in pack.by_id.items():
        if ir.rule.card is None:
            continue
        labels = [link["label"] for link in _fixed_parts(pack, rule_id).links]
        for citation in ir.rule.citations:
            full = f"{citation.label} — {citation.section}"
            shown = next(label for label in labels if full.startswith(label.rstrip("…")))
            assert len(shown) <= 100
            if shown != full:
                cut += 1
                assert shown.endswith("…")
                assert full[len(shown) - 1] in " ,;:-"  # the cut fell between words
    assert cut  # the pack has long citations: the check above ran
