"""Differential test: the durable-rules engine and the naive oracle must agree exactly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import evaluate as oracle_evaluate
from packbuilder import make_pack, rule

from cds.engine import RuleEngine
from cds.facts import ConditionFact, Fact, LabFact, MedicationFact, engine_view
from cds.rules.pack import load_pack

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
MED_VS = ["dhea-systemic"]

med_where = st.fixed_dictionaries(
    {},
    optional={
        "active": st.booleans(),
        "source": st.sampled_from(["prescribed", "self-reported"]),
        "dose_mg_per_day": st.fixed_dictionaries(
            {}, optional={"gt": st.sampled_from([10, 25, 50]), "lte": st.sampled_from([25, 100])}
        ).filter(bool),
        "based_on_request": st.booleans(),
    },
)
lab_where = st.fixed_dictionaries(
    {},
    optional={
        "latest": st.booleans(),
        "range_status": st.sampled_from(["high", "low", "normal"]),
        "value": st.fixed_dictionaries(
            {}, optional={"gt": st.sampled_from([100, 250, 400]), "lt": st.sampled_from([200, 500])}
        ).filter(bool),
        "specimen": st.fixed_dictionaries({"ne": st.just("saliva")}),
    },
)
cond_where = st.fixed_dictionaries({}, optional={"active": st.booleans()})


@st.composite
def pattern(draw: st.DrawFn, binding: str, absent: bool, anchors: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["medication", "lab", "condition"]))
    out: dict[str, Any] = {"fact": kind}
    if not absent or draw(st.booleans()):
        out["as"] = binding
    if absent:
        out["absent"] = True
    if kind == "medication":
        out["in"] = "dhea-systemic"
        out["where"] = dict(draw(med_where))
        join: bool = draw(st.booleans())
        if anchors and join:  # a same-type join (checked by the adapter)
            anchor = draw(st.sampled_from(anchors))
            out["where"]["dose_mg_per_day"] = {"gt": {"ref": f"{anchor}.dose_mg_per_day"}}
    elif kind == "lab":
        out["in"] = "dhea-s"
        out["where"] = draw(lab_where)
        if draw(st.booleans()):
            out["within"] = draw(st.sampled_from(["P30D", "P6M", "P12M"]))
        windowed: bool = draw(st.booleans())
        if anchors and windowed:
            out["window"] = {
                "after": {
                    "ref": f"{draw(st.sampled_from(anchors))}.start_day",
                    "offset": draw(st.sampled_from(["-P90D", "P0D", "P7D"])),
                }
            }
    else:
        out["in"] = "pcos"
        out["where"] = draw(cond_where)
    return out


@st.composite
def pack_rules(draw: st.DrawFn) -> list[dict[str, Any]]:
    rules = []
    for i in range(draw(st.integers(1, 4))):
        patterns: list[dict[str, Any]] = []
        anchors: list[str] = []
        for j in range(draw(st.integers(1, 3))):
            p = draw(pattern(f"b{j}", False, anchors))
            if p["fact"] == "medication":
                anchors.append(p["as"])
            patterns.append(p)
        if draw(st.booleans()):
            p = draw(pattern("gone", True, anchors))
            p.pop("window", None)
            patterns.append(p)
        derive = draw(st.booleans()) and i < 2
        extra: dict[str, Any] = {}
        if derive:
            first = patterns[0]
            extra["derive"] = {"name": f"derived-{i}", "fields": {"src": f"{first['as']}.id"}}
        rules.append(rule(f"r{i}", patterns, **extra))
    # consumers of derived facts (forward chaining)
    for r in list(rules):
        if "derive" in r and draw(st.booleans()):
            name = r["derive"]["name"]
            extra_pattern = draw(pattern("x", False, []))
            rules.append(
                rule(f"{name}-user", [{"fact": "derived", "name": name, "as": "d"}, extra_pattern])
            )
    return rules


@st.composite
def patient(draw: st.DrawFn) -> list[Fact]:
    facts: list[Fact] = []
    for i in range(draw(st.integers(0, 4))):
        start = draw(st.sampled_from([None, 20000.0, 20300.0, 20400.0]))
        facts.append(
            MedicationFact(
                id=f"m{i}",
                valuesets=("dhea-systemic",) if draw(st.booleans()) else (),
                concept="dhea",
                active=draw(st.booleans()),
                source=draw(st.sampled_from(["prescribed", "self-reported", None])),  # type: ignore[arg-type]
                based_on_request=draw(st.booleans()),
                dose_mg_per_day=draw(st.sampled_from([None, 10.0, 25.0, 50.0])),
                start_day=start,
                start_days_ago=None if start is None else 20421.0 - start,
            )
        )
    for i in range(draw(st.integers(0, 5))):
        day = draw(st.sampled_from([19900.0, 20100.0, 20300.0, 20395.0, 20410.0]))
        facts.append(
            LabFact(
                id=f"l{i}",
                valuesets=("dhea-s",) if draw(st.booleans()) else (),
                concept="dhea-s",
                value=draw(st.sampled_from([None, 50.0, 150.0, 250.0, 400.0, 600.0])),
                range_status=draw(st.sampled_from(["high", "low", "normal", "unknown"])),
                specimen=draw(st.sampled_from(["serum", "saliva", None])),  # type: ignore[arg-type]
                latest=draw(st.booleans()),
                day=day,
                days_ago=20421.0 - day,
                rank=1.0,
            )
        )
    for i in range(draw(st.integers(0, 2))):
        facts.append(
            ConditionFact(
                id=f"c{i}", valuesets=("pcos",), concept="pcos", active=draw(st.booleans())
            )
        )
    return facts


_packs: dict[str, tuple[RuleEngine, Any]] = {}


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rules=pack_rules(), patients=st.lists(patient(), min_size=1, max_size=4))
def test_engine_agrees_with_oracle(
    tmp_path: Path, rules: list[dict[str, Any]], patients: list[list[Fact]]
) -> None:
    pack = load_pack(make_pack(tmp_path, rules))
    engine = RuleEngine(pack)
    for facts in patients:
        got = {f.key for f in engine.evaluate(facts, hook="patient-view", now=NOW)}
        expected = set(oracle_evaluate(pack.live_rules, [engine_view(f) for f in facts]))
        assert got == expected, (rules, facts)


def test_oracle_finds_what_the_mini_pack_promises() -> None:
    """A fixed example, so the oracle itself is checked against a hand-worked answer."""
    pack = load_pack(Path(__file__).parent / "data" / "mini-pack")
    facts: list[Fact] = [
        MedicationFact(
            id="m1",
            valuesets=("dhea-systemic",),
            concept="dhea",
            active=True,
            source="self-reported",
            based_on_request=False,
        ),
        LabFact(
            id="l1",
            valuesets=("dhea-s",),
            concept="dhea-s",
            value=410.0,
            range_status="high",
            latest=True,
            day=20414.0,
            days_ago=7.0,
            rank=1.0,
        ),
    ]
    found = {key[0] for key in oracle_evaluate(pack.live_rules, [engine_view(f) for f in facts])}
    assert found == {"dhea-unsupervised", "dhea-s-above-range", "dhea-s-high"}
