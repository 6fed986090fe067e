"""Zuranolone, brexanolone and ganaxolone rules (rules/zuranolone, rules/brexanolone,
rules/ganaxolone): for every rule one firing scenario and at least one near miss.

Facts are built by hand (no FHIR), evaluated by the real engine over the real pack, at a fixed
"now". Drug rules run on order hooks only when the drug is the draft order
(``on_order_hooks.draft``), and on patient-view when the drug is active (conventions §6.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds.cards import build_cards
from cds.engine import RuleEngine
from cds.facts import ConditionFact, Fact, LabFact, MedicationFact, PatientFact, to_day
from cds.rules.pack import RulePack, load_pack

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
TODAY = to_day(NOW)
PACK_DIR = Path(__file__).resolve().parent.parent / "rules"
AREAS = ("zuranolone", "brexanolone", "ganaxolone")
MY_RULES = frozenset(p.stem for area in AREAS for p in (PACK_DIR / area).glob("*.yaml"))


@pytest.fixture(scope="module")
def pack() -> RulePack:
    return load_pack(PACK_DIR)


@pytest.fixture(scope="module")
def engine(pack: RulePack) -> RuleEngine:
    return RuleEngine(pack)


# -- fact builders --------------------------------------------------------------------------


def med(
    fid: str,
    concept: str,
    *valuesets: str,
    active: bool = True,
    draft: bool = False,
    dose: float | None = None,
) -> MedicationFact:
    return MedicationFact(
        id=fid,
        valuesets=valuesets,
        source_ref=f"MedicationRequest/{fid}",
        concept=concept,
        display=f"{concept} (test)",
        status="draft" if draft else ("active" if active else "stopped"),
        active=active or draft,
        draft=draft,
        kind="request",
        source="prescribed",
        route="oral",
        dose_mg_per_day=dose,
        start_day=TODAY - (0 if draft else 5),
        start_days_ago=0.0 if draft else 5.0,
    )


def zur(*, draft: bool = False, active: bool = True, dose: float | None = 50.0) -> MedicationFact:
    return med("zur", "zuranolone", "zuranolone", active=active, draft=draft, dose=dose)


def brex(*, draft: bool = False, active: bool = True) -> MedicationFact:
    return med("brex", "brexanolone", "brexanolone", active=active, draft=draft)


def ganax(*, draft: bool = False, active: bool = True) -> MedicationFact:
    return med("ganax", "ganaxolone", "ganaxolone", active=active, draft=draft, dose=1800.0)


def patient(
    *,
    sex: str = "female",
    age: float | None = 29.0,
    pregnant: str = "no",
    lactating: str = "no",
) -> PatientFact:
    return PatientFact(
        id="pt", age_years=age, sex_at_birth=sex, pregnant=pregnant, lactating=lactating
    )


def lab(
    fid: str,
    concept: str,
    value: float,
    unit: str,
    *,
    days_ago: float = 10.0,
    latest: bool = True,
) -> LabFact:
    return LabFact(
        id=fid,
        valuesets=(concept,),
        source_ref=f"Observation/{fid}",
        concept=concept,
        display=concept,
        value=value,
        comparator="=",
        unit=unit,
        ref_source="none",
        range_status="unknown",
        specimen="other",
        day=TODAY - days_ago,
        days_ago=days_ago,
        latest=latest,
        rank=1.0 if latest else 2.0,
    )


def egfr(
    value: float, *, days_ago: float = 10.0, latest: bool = True, fid: str = "egfr"
) -> LabFact:
    return lab(fid, "egfr", value, "mL/min/{1.73_m2}", days_ago=days_ago, latest=latest)


def spo2(value: float, *, days_ago: float = 0.1, latest: bool = True, fid: str = "spo2") -> LabFact:
    return lab(fid, "spo2", value, "%", days_ago=days_ago, latest=latest)


def cond(fid: str, valueset: str, concept: str, *, active: bool = True) -> ConditionFact:
    return ConditionFact(
        id=fid,
        valuesets=(valueset,),
        source_ref=f"Condition/{fid}",
        concept=concept,
        display=concept,
        clinical_status="active" if active else "resolved",
        active=active,
        onset_day=TODAY - 400,
        onset_days_ago=400.0,
    )


# other drugs, with the value sets their codes really belong to in rules/valuesets
LORAZEPAM = med("lorazepam", "lorazepam", "benzodiazepines")
ZOLPIDEM = med("zolpidem", "zolpidem", "z-hypnotics")
OXYCODONE = med("oxycodone", "oxycodone", "opioids")
SERTRALINE = med("sertraline", "sertraline", "antidepressants")
CLOBAZAM = med("clobazam", "clobazam", "benzodiazepines", "antiseizure-drugs")
LEVETIRACETAM = med("levetiracetam", "levetiracetam", "antiseizure-drugs")
KETOCONAZOLE = med("ketoconazole", "ketoconazole", "cyp3a-strong-inhibitors")
FLUCONAZOLE = med("fluconazole", "fluconazole")  # moderate CYP3A4 inhibitor: in no value set
RIFAMPIN = med("rifampin", "rifampin", "cyp3a-inducers")
EFAVIRENZ = med("efavirenz", "efavirenz", "cyp3a-moderate-inducers")
CARBAMAZEPINE = med("carbamazepine", "carbamazepine", "cyp3a-inducers", "antiseizure-drugs")
SERTRALINE_DRAFT = med("sertraline-d", "sertraline", "antidepressants", draft=True)


def stopped(fact: MedicationFact) -> MedicationFact:
    return med(fact.id, fact.concept, *fact.valuesets, active=False)


def as_draft(fact: MedicationFact) -> MedicationFact:
    return med(fact.id, fact.concept, *fact.valuesets, draft=True, dose=fact.dose_mg_per_day)


AUD = cond("aud", "alcohol-use-disorder", "alcohol-use-disorder")
CHILD_PUGH_C = cond("cpc", "severe-hepatic-impairment", "severe-hepatic-impairment")
SUICIDE_ATTEMPT_HISTORY = cond("sa", "suicidality", "suicide-attempt", active=False)
DEPRESSION = cond("dep", "depression", "depression")

PV, OSEL, OSIGN = "patient-view", "order-select", "order-sign"


@dataclass(frozen=True)
class Case:
    name: str
    rule: str
    fires: bool
    hook: str
    facts: tuple[Fact, ...]


def case(name: str, rule: str, fires: bool, hook: str, *facts: Fact) -> Case:
    return Case(name, rule, fires, hook, facts)


CASES = [
    # zur-driving
    case("zur draft order", "zur-driving", True, OSIGN, zur(draft=True), patient()),
    case("zur active on chart open", "zur-driving", True, PV, zur(), patient()),
    case("pv: zur stopped", "zur-driving", False, PV, zur(active=False), patient()),
    case("sign: zur active, not the draft", "zur-driving", False, OSIGN, zur(), SERTRALINE_DRAFT),
    # zur-cns-depressant
    case("zur + lorazepam", "zur-cns-depressant", True, PV, zur(), LORAZEPAM),
    case("zur draft + zolpidem", "zur-cns-depressant", True, OSEL, zur(draft=True), ZOLPIDEM),
    case("zur + lorazepam stopped", "zur-cns-depressant", False, PV, zur(), stopped(LORAZEPAM)),
    case("zur + sertraline (not a depressant)", "zur-cns-depressant", False, PV, zur(), SERTRALINE),
    # zur-alcohol
    case("zur draft + AUD", "zur-alcohol", True, OSIGN, zur(draft=True), AUD),
    case(
        "zur + AUD resolved",
        "zur-alcohol",
        False,
        PV,
        zur(),
        cond("aud", "alcohol-use-disorder", "alcohol-use-disorder", active=False),
    ),
    # zur-strong-3a4-inhibitor
    case(
        "zur 50 + ketoconazole",
        "zur-strong-3a4-inhibitor",
        True,
        OSIGN,
        zur(draft=True),
        KETOCONAZOLE,
    ),
    case("pv: zur 50 + ketoconazole", "zur-strong-3a4-inhibitor", True, PV, zur(), KETOCONAZOLE),
    case(
        "draft at labelled 30 mg",
        "zur-strong-3a4-inhibitor",
        False,
        OSIGN,
        zur(draft=True, dose=30.0),
        KETOCONAZOLE,
    ),
    case(
        "moderate inhibitor", "zur-strong-3a4-inhibitor", False, OSIGN, zur(draft=True), FLUCONAZOLE
    ),
    case(
        "inhibitor stopped",
        "zur-strong-3a4-inhibitor",
        False,
        OSIGN,
        zur(draft=True),
        stopped(KETOCONAZOLE),
    ),
    case(
        "unknown zur dose: silent",
        "zur-strong-3a4-inhibitor",
        False,
        OSIGN,
        zur(draft=True, dose=None),
        KETOCONAZOLE,
    ),
    case(
        "sign: the inhibitor is ordered while on zuranolone 50 mg",
        "zur-strong-3a4-inhibitor",
        True,
        OSIGN,
        zur(),
        as_draft(KETOCONAZOLE),
    ),
    case(
        "sign: an unrelated draft while on zuranolone and the inhibitor",
        "zur-strong-3a4-inhibitor",
        False,
        OSIGN,
        zur(),
        KETOCONAZOLE,
        as_draft(RIFAMPIN),
    ),
    # zur-3a4-inducer
    case("zur + rifampin", "zur-3a4-inducer", True, OSIGN, zur(draft=True), RIFAMPIN),
    case("zur + efavirenz (moderate)", "zur-3a4-inducer", True, PV, zur(), EFAVIRENZ),
    case("zur + rifampin stopped", "zur-3a4-inducer", False, PV, zur(), stopped(RIFAMPIN)),
    # zur-pregnancy
    case(
        "status unknown", "zur-pregnancy", True, OSIGN, zur(draft=True), patient(pregnant="unknown")
    ),
    case("pregnant", "zur-pregnancy", True, PV, zur(), patient(pregnant="yes")),
    case(
        "male",
        "zur-pregnancy",
        False,
        OSIGN,
        zur(draft=True),
        patient(sex="male", pregnant="unknown"),
    ),
    case("not pregnant", "zur-pregnancy", False, OSIGN, zur(draft=True), patient(pregnant="no")),
    case(
        "age 51, outside the local band",
        "zur-pregnancy",
        False,
        OSIGN,
        zur(draft=True),
        patient(age=51.0, pregnant="unknown"),
    ),
    case(
        "age unknown",
        "zur-pregnancy",
        False,
        OSIGN,
        zur(draft=True),
        patient(age=None, pregnant="unknown"),
    ),
    # zur-lactation
    case("breastfeeding", "zur-lactation", True, OSIGN, zur(draft=True), patient(lactating="yes")),
    case("not breastfeeding", "zur-lactation", False, OSIGN, zur(draft=True), patient()),
    # zur-suicidality
    case(
        "past suicide attempt",
        "zur-suicidality",
        True,
        OSIGN,
        zur(draft=True),
        SUICIDE_ATTEMPT_HISTORY,
    ),
    case("depression only", "zur-suicidality", False, OSIGN, zur(draft=True), DEPRESSION),
    # zur-dose-context (eGFR)
    case("eGFR 45", "zur-dose-context", True, OSIGN, zur(draft=True), egfr(45.0)),
    case("eGFR 65", "zur-dose-context", False, OSIGN, zur(draft=True), egfr(65.0)),
    case(
        "eGFR 45, at 30 mg",
        "zur-dose-context",
        False,
        OSIGN,
        zur(draft=True, dose=30.0),
        egfr(45.0),
    ),
    case(
        "eGFR 45, dose unknown",
        "zur-dose-context",
        False,
        OSIGN,
        zur(draft=True, dose=None),
        egfr(45.0),
    ),
    case(
        "eGFR 45 but a later 65",
        "zur-dose-context",
        False,
        OSIGN,
        zur(draft=True),
        egfr(45.0, latest=False, days_ago=90, fid="old"),
        egfr(65.0),
    ),
    case(
        "eGFR 45 older than 12 months",
        "zur-dose-context",
        False,
        OSIGN,
        zur(draft=True),
        egfr(45.0, days_ago=400),
    ),
    # zur-dose-context-hepatic
    case("Child-Pugh C", "zur-dose-context-hepatic", True, PV, zur(), CHILD_PUGH_C),
    case(
        "Child-Pugh C, at 30 mg",
        "zur-dose-context-hepatic",
        False,
        PV,
        zur(dose=30.0),
        CHILD_PUGH_C,
    ),
    case(
        "hepatic failure resolved",
        "zur-dose-context-hepatic",
        False,
        PV,
        zur(),
        cond("cpc", "severe-hepatic-impairment", "severe-hepatic-impairment", active=False),
    ),
    # zur-dose-context-minor
    case("age 16", "zur-dose-context-minor", True, OSIGN, zur(draft=True), patient(age=16.0)),
    case("age 18", "zur-dose-context-minor", False, OSIGN, zur(draft=True), patient(age=18.0)),
    # brex-rems
    case("brex draft", "brex-rems", True, OSEL, brex(draft=True)),
    case("pv: brex infusion completed", "brex-rems", False, PV, brex(active=False)),
    # brex-hypoxia
    case("SpO2 88 during infusion", "brex-hypoxia", True, PV, brex(), spo2(88.0)),
    case("SpO2 92", "brex-hypoxia", False, PV, brex(), spo2(92.0)),
    case("SpO2 88 two days ago", "brex-hypoxia", False, PV, brex(), spo2(88.0, days_ago=2.0)),
    case(
        "SpO2 88 then 96",
        "brex-hypoxia",
        False,
        PV,
        brex(),
        spo2(88.0, latest=False, days_ago=0.5, fid="old"),
        spo2(96.0),
    ),
    case("SpO2 88, infusion stopped", "brex-hypoxia", False, PV, brex(active=False), spo2(88.0)),
    # brex-interactions
    case("brex + oxycodone", "brex-interactions", True, PV, brex(), OXYCODONE),
    case("brex + sertraline", "brex-interactions", True, OSIGN, brex(draft=True), SERTRALINE),
    case("brex + zolpidem (not listed)", "brex-interactions", False, PV, brex(), ZOLPIDEM),
    # brex-renal
    case("brex, eGFR 12", "brex-renal", True, OSIGN, brex(draft=True), egfr(12.0)),
    case("brex, eGFR 20", "brex-renal", False, OSIGN, brex(draft=True), egfr(20.0)),
    # ganax-cns
    case("ganax + clobazam", "ganax-cns", True, PV, ganax(), CLOBAZAM),
    case("ganax draft + levetiracetam", "ganax-cns", True, OSIGN, ganax(draft=True), LEVETIRACETAM),
    case("ganaxolone alone", "ganax-cns", False, PV, ganax()),
    case("ganax + levetiracetam stopped", "ganax-cns", False, PV, ganax(), stopped(LEVETIRACETAM)),
    # ganax-alcohol
    case("ganax + AUD", "ganax-alcohol", True, PV, ganax(), AUD),
    case("ganax stopped + AUD", "ganax-alcohol", False, PV, ganax(active=False), AUD),
    # ganax-inducer
    case("ganax + carbamazepine", "ganax-inducer", True, OSIGN, ganax(draft=True), CARBAMAZEPINE),
    case("ganax + efavirenz (moderate)", "ganax-inducer", True, PV, ganax(), EFAVIRENZ),
    case("ganax + ketoconazole (inhibitor)", "ganax-inducer", False, PV, ganax(), KETOCONAZOLE),
    # ganax-aed-class
    case("ganax draft", "ganax-aed-class", True, OSIGN, ganax(draft=True)),
    case("ganax active on chart open", "ganax-aed-class", True, PV, ganax()),
    case("pv: ganax stopped", "ganax-aed-class", False, PV, ganax(active=False)),
    case(
        "sign: ganax active, not the draft",
        "ganax-aed-class",
        False,
        OSIGN,
        ganax(),
        SERTRALINE_DRAFT,
    ),
]


def fired(engine: RuleEngine, facts: Sequence[Fact], hook: str) -> set[str]:
    return {f.rule_id for f in engine.evaluate(facts, hook=hook, now=NOW)}


@pytest.mark.parametrize("c", CASES, ids=lambda c: f"{c.rule}: {c.name}")
def test_rule_fires_or_not(engine: RuleEngine, c: Case) -> None:
    assert (c.rule in fired(engine, c.facts, c.hook)) is c.fires


def test_every_rule_has_a_firing_case_and_a_near_miss() -> None:
    assert {c.rule for c in CASES if c.fires} == MY_RULES
    assert {c.rule for c in CASES if not c.fires} == MY_RULES


@pytest.mark.parametrize(
    ("facts", "hook", "expected"),
    [
        ((zur(draft=True), patient()), OSIGN, {"zur-driving"}),
        ((brex(), patient()), PV, {"brex-rems"}),
        ((ganax(draft=True), patient()), OSEL, {"ganax-aed-class"}),
        ((patient(pregnant="unknown", lactating="yes"), LORAZEPAM, egfr(10.0)), PV, set()),
    ],
    ids=["zuranolone", "brexanolone", "ganaxolone", "no drug"],
)
def test_the_drug_alone_fires_only_its_base_rule(
    engine: RuleEngine, facts: tuple[Fact, ...], hook: str, expected: set[str]
) -> None:
    assert fired(engine, facts, hook) & MY_RULES == expected


def test_strong_inhibitor_card_suggests_30_mg_on_the_draft_order(
    engine: RuleEngine, pack: RulePack
) -> None:
    draft = zur(draft=True)
    findings = engine.evaluate([draft, KETOCONAZOLE], hook=OSIGN, now=NOW)
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "zur",
        "status": "draft",
        "dosageInstruction": [
            {"doseAndRate": [{"doseQuantity": {"value": 50, "unit": "mg"}}], "text": "50 mg qPM"}
        ],
    }
    cards = build_cards(findings, pack, draft_orders={draft.source_ref: resource})
    card = next(c.card for c in cards if c.rule_id == "zur-strong-3a4-inhibitor")
    assert "ketoconazole (test)" in card["detail"]
    (suggestion,) = card["suggestions"]
    # not recommended since 1.2.0 (pharmacist review): it changes the dose, not the product
    assert "isRecommended" not in suggestion
    assert "change the product too before signing" in card["detail"]
    (action,) = suggestion["actions"]
    assert action["type"] == "update"
    dosage = action["resource"]["dosageInstruction"][0]
    dose = dosage["doseAndRate"][0]["doseQuantity"]
    assert dose == {"value": 30, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    # the whole order says 30 mg (it kept "50 mg qPM" beside a 30 mg dose: found in review)
    assert "30 mg" in dosage["text"]
    assert "50 mg" not in dosage["text"]
    assert "30 mg capsule product" in action["description"]
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 50


# Found by the validator review: a set path the draft's shape does not fit raised TypeError in
# the card builder, a 500 that lost every card of the response.
@pytest.mark.parametrize(
    "dosage",
    [{"text": "50 mg qPM"}, "50 mg qPM", [{"doseAndRate": {"doseQuantity": {"value": 50}}}]],
    ids=["object-not-list", "text", "dose-and-rate-object"],
)
def test_a_draft_of_another_shape_gets_the_card_without_the_update(
    engine: RuleEngine, pack: RulePack, dosage: Any
) -> None:
    draft = zur(draft=True)
    findings = engine.evaluate([draft, KETOCONAZOLE], hook=OSIGN, now=NOW)
    resource = {"resourceType": "MedicationRequest", "id": "zur", "dosageInstruction": dosage}
    cards = build_cards(findings, pack, draft_orders={draft.source_ref: resource})
    card = next(c.card for c in cards if c.rule_id == "zur-strong-3a4-inhibitor")
    assert "suggestions" not in card
    assert resource["dosageInstruction"] == dosage  # the draft itself is never touched


def test_the_card_shows_the_daily_dose(engine: RuleEngine, pack: RulePack) -> None:
    findings = engine.evaluate([zur(draft=True), KETOCONAZOLE], hook=OSIGN, now=NOW)
    card = next(c.card for c in build_cards(findings, pack) if c.rule_id.startswith("zur-strong"))
    assert "zuranolone (test) at 50 mg/day" in card["detail"]


def test_brexanolone_cards_say_the_product_was_withdrawn(
    engine: RuleEngine, pack: RulePack
) -> None:
    facts = [brex(), OXYCODONE, spo2(85.0), egfr(10.0)]
    cards = build_cards(engine.evaluate(facts, hook=PV, now=NOW), pack)
    brex_cards = {c.rule_id: c.card for c in cards if c.rule_id.startswith("brex-")}
    assert set(brex_cards) == {"brex-rems", "brex-hypoxia", "brex-interactions", "brex-renal"}
    for card in brex_cards.values():
        assert "withdrawn" in (card["summary"] + card["detail"].split("\n", 1)[0]).lower()
    assert brex_cards["brex-hypoxia"]["indicator"] == "critical"
    assert cards[0].rule_id == "brex-hypoxia"  # the critical card comes first


def test_every_card_of_these_rules_renders_within_140_characters(
    engine: RuleEngine, pack: RulePack
) -> None:
    seen: set[str] = set()
    for c in CASES:
        if c.fires:
            for issued in build_cards(engine.evaluate(c.facts, hook=c.hook, now=NOW), pack):
                assert len(issued.card["summary"]) <= 140
                assert "unknown" not in issued.card["summary"]
                seen.add(issued.rule_id)
    assert seen >= MY_RULES
