"""The engine asserts only the facts some pattern could bind (``cds/relevance.py``).

Leaving a fact out must never change a result: checked here against the independent oracle on the
real pack and every sample patient, and on a hand-made history where old scores fall outside
every window. The random-pack property test (``test_engine_oracle.py``) covers other shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hookrequests import sample
from oracle import evaluate as oracle_evaluate
from packbuilder import make_pack, rule

from cds.context.normalise import PatientData, build_facts
from cds.engine import RuleEngine
from cds.facts import (
    Fact,
    LabFact,
    MedicationFact,
    ObservationFact,
    OrderFact,
    engine_view,
    to_day,
)
from cds.relevance import Relevance
from cds.rules.pack import RulePack, load_pack

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
TODAY = to_day(NOW)
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p.stem for p in (ROOT / "samples" / "patients").glob("*.json"))


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(ROOT / "rules")


@pytest.fixture(scope="module")
def engine(pack: RulePack) -> RuleEngine:
    return RuleEngine(pack)


def _facts(pack: RulePack, name: str) -> list[Fact]:
    data = PatientData.from_bundle(sample(name))
    return list(build_facts(data, now=NOW, terminology=pack.terminology).facts)


@pytest.mark.parametrize("name", SAMPLES)
def test_the_engine_agrees_with_the_oracle_on_every_sample_patient(
    pack: RulePack, engine: RuleEngine, name: str
) -> None:
    facts = _facts(pack, name)
    got = {f.key for f in engine.evaluate(facts, hook="patient-view", now=NOW)}
    rules = pack.hook_rules["patient-view"]
    assert got == set(oracle_evaluate(rules, [engine_view(f) for f in facts]))


def test_every_fact_of_every_oracle_match_is_kept(pack: RulePack) -> None:
    """On the history-heavy patient most facts go, and none that a match binds."""
    facts = _facts(pack, "history-heavy")
    rules = pack.hook_rules["patient-view"]
    kept = {facts[i].id for i in Relevance(rules).select(facts)[0]}
    bound = {
        fact_id
        for _, pairs in oracle_evaluate(rules, [engine_view(f) for f in facts])
        for _, fact_id in pairs
    }
    assert bound <= kept
    assert len(kept) < len(facts) / 4, f"{len(kept)} of {len(facts)} facts kept"


def _gad7(days_ago: float, value: float, *, latest: bool = False) -> ObservationFact:
    return ObservationFact(
        id=f"gad7-{days_ago:g}",
        valuesets=("gad7-total",),
        concept="gad7-total",
        display="GAD-7 total",
        value=value,
        day=TODAY - days_ago,
        days_ago=days_ago,
        latest=latest,
    )


def test_scores_outside_every_window_are_not_asserted(pack: RulePack) -> None:
    """DHEA began 200 days ago: the baseline window is [290, 193] days ago. A score from two
    years ago is in no window and not the latest, so no pattern can bind it."""
    dhea = MedicationFact(
        id="dhea",
        valuesets=("dhea-systemic",),
        concept="dhea",
        display="DHEA 50 mg",
        active=True,
        route="oral",
        episode_start_day=TODAY - 200,
        episode_days=200,
    )
    old, baseline, latest = _gad7(700, 4), _gad7(250, 5), _gad7(10, 12, latest=True)
    facts: list[Fact] = [dhea, old, baseline, latest]
    kept = {facts[i].id for i in Relevance(pack.hook_rules["patient-view"]).select(facts)[0]}
    assert kept == {"dhea", baseline.id, latest.id}
    engine = RuleEngine(pack)
    fired = {f.rule_id for f in engine.evaluate(facts, hook="patient-view", now=NOW)}
    assert "precursor-mood-worsening-gad7" in fired  # 5 -> 12, the old score did not matter


def test_facts_of_two_types_with_the_same_value_sets_are_tested_as_their_type(
    tmp_path: Path,
) -> None:
    """A DHEA-S order and DHEA-S results share their value sets (the same LOINC code): each is
    tested against its own type's patterns, in any order of arrival."""
    order = {"fact": "order", "as": "o", "in": "dhea-s", "where": {"draft": True}}
    lab = {"fact": "lab", "as": "l", "in": "dhea-s", "where": {"latest": True}}
    pack = load_pack(
        make_pack(
            tmp_path,
            [rule("draft-dhea-s-order", [order]), rule("latest-dhea-s", [lab])],
            real_terminology=True,
        )
    )
    shared = ("dhea-s",)

    def result(fact_id: str, *, latest: bool) -> LabFact:
        return LabFact(id=fact_id, valuesets=shared, concept="dhea-s", latest=latest, day=TODAY)

    draft = OrderFact(id="draft:0", valuesets=shared, concept="dhea-s", draft=True, day=TODAY)
    on_record = OrderFact(id="order", valuesets=shared, concept="dhea-s", draft=False, day=TODAY)
    facts: list[Fact] = [
        on_record,
        result("old", latest=False),
        draft,
        result("new", latest=True),
    ]
    for arrangement in (facts, facts[::-1], facts[1:] + facts[:1]):
        relevance = Relevance(pack.hook_rules["patient-view"])
        kept, index = relevance.select(arrangement)
        assert {arrangement[i].id for i in kept} == {"draft:0", "new"}
        assert kept == sorted(kept)
        assert {f.id for f in index.facts("order", ["dhea-s"])} == {"draft:0", "order"}
        assert {f.id for f in index.facts("lab", ["dhea-s"])} == {"old", "new"}
        fired = RuleEngine(pack).evaluate(arrangement, hook="patient-view", now=NOW)
        assert {(f.rule_id, f.key[1][0][1]) for f in fired} == {
            ("draft-dhea-s-order", "draft:0"),
            ("latest-dhea-s", "new"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class _PointOfCareLab(LabFact):
    """A subclass shares its base class's fact type (and must share its group)."""

    device: str = ""


def test_a_subclass_of_a_fact_class_is_grouped_with_it(pack: RulePack) -> None:
    facts: list[Fact] = [
        LabFact(id="a", valuesets=("dhea-s",), concept="dhea-s"),
        _PointOfCareLab(id="b", valuesets=("dhea-s",), concept="dhea-s"),
        LabFact(id="c", valuesets=("dhea-s",), concept="dhea-s"),
    ]
    _, index = Relevance(pack.hook_rules["patient-view"]).select(facts)
    assert sorted(f.id for f in index.facts("lab", ["dhea-s"])) == ["a", "b", "c"]
