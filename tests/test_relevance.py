"""The engine asserts only the facts some pattern could bind (``cds/relevance.py``).

Leaving a fact out must never change a result: checked here against the independent oracle on the
real pack and every sample patient, and on a hand-made history where old scores fall outside
every window. The random-pack property test (``test_engine_oracle.py``) covers other shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hookrequests import sample
from oracle import evaluate as oracle_evaluate

from cds.context.normalise import PatientData, build_facts
from cds.engine import RuleEngine
from cds.facts import Fact, MedicationFact, ObservationFact, engine_view, to_day
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
