"""build_facts: FHIR R4 patient data → facts, against the real terminology and sample patients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds.context.fhir_models import parse_resource
from cds.context.normalise import FactSet, PatientData, build_facts
from cds.facts import (
    ConditionFact,
    DataStatus,
    Fact,
    LabFact,
    MedicationFact,
    ObservationFact,
    PatientFact,
    to_day,
)
from cds.rules.pack import load_terminology
from cds.rules.problems import Problem
from cds.rules.terminology import Terminology

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "samples" / "patients").glob("*.json"))
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
Json = dict[str, Any]


@pytest.fixture(scope="module")
def terminology() -> Terminology:
    problems: list[Problem] = []
    term = load_terminology(ROOT / "rules", problems)
    assert not problems
    return term


def _sample(name: str) -> Json:
    data: Json = json.loads((ROOT / "samples" / "patients" / f"{name}.json").read_text())
    return data


def _build(
    terminology: Terminology, resources: list[Json], drafts: list[Json] | None = None
) -> FactSet:
    return build_facts(
        PatientData.from_resources(resources), now=NOW, terminology=terminology,
        draft_orders=drafts,
    )  # fmt: skip


def _of(facts: FactSet, kind: type[Fact]) -> list[Any]:
    return [f for f in facts.facts if isinstance(f, kind)]


def _one(facts: FactSet, fact_id: str) -> Any:
    found = [f for f in facts.facts if f.id == fact_id]
    assert len(found) == 1, [f.id for f in facts.facts]
    return found[0]


def _patient(**kw: Any) -> Json:
    return {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1990-01-01",
            **kw}  # fmt: skip


def _lab(rid: str, code: str, when: str, status: str = "final", **value: Any) -> Json:
    return {
        "resourceType": "Observation", "id": rid, "status": status,
        "code": {"coding": [{"system": LOINC, "code": code}], "text": code},
        "effectiveDateTime": when, **value,
    }  # fmt: skip


def _q(value: float, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _statement(rid: str, med: Json, start: str, *, status: str = "active", end: str | None = None,
               **extra: Any) -> Json:  # fmt: skip
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "MedicationStatement", "id": rid, "status": status,
            "medicationCodeableConcept": med, "effectivePeriod": period,
            "informationSource": {"reference": "Patient/p1"}, **extra}  # fmt: skip


def _rx(code: str, text: str = "") -> Json:
    return {"coding": [{"system": RXNORM, "code": code}], **({"text": text} if text else {})}


def _condition(rid: str, system: str, code: str, clinical: str = "active",
               verification: str = "confirmed") -> Json:  # fmt: skip
    return {
        "resourceType": "Condition", "id": rid,
        "clinicalStatus": {"coding": [{"code": clinical}]},
        "verificationStatus": {"coding": [{"code": verification}]},
        "code": {"coding": [{"system": system, "code": code}]}, "onsetDateTime": "2020-05-01",
    }  # fmt: skip


# --- the sample patients ------------------------------------------------------------------------


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_every_sample_builds(path: Path, terminology: Terminology) -> None:
    bundle = json.loads(path.read_text())
    facts = build_facts(PatientData.from_bundle(bundle), now=NOW, terminology=terminology)
    ids = [f.id for f in facts.facts]
    assert len(ids) == len(set(ids))
    assert isinstance(facts.facts[0], PatientFact)
    assert facts.data_status == dict.fromkeys(facts.data_status, DataStatus.COMPLETE)
    for fact in facts.facts[1:]:
        assert fact.valuesets, fact.id
        assert fact.source_ref
        assert fact.id.endswith(fact.source_ref.split("#")[0])
    # the lean models read every resource of the samples
    for entry in bundle["entry"]:
        parse_resource(entry["resource"])


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_samples_are_valid_fhir(path: Path) -> None:
    bundle_model = pytest.importorskip("fhir.resources.R4B.bundle")
    bundle_model.Bundle.model_validate(json.loads(path.read_text()))


def test_dhea_ssri_woman(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("dhea-ssri-woman")), now=NOW,
                        terminology=terminology)  # fmt: skip
    patient = facts.facts[0]
    assert isinstance(patient, PatientFact)
    assert patient.sex_at_birth == "female"
    assert 45 < (patient.age_years or 0) < 46
    dhea = _one(facts, "med:MedicationStatement/ms-dhea")
    assert dhea.concept == "prasterone"
    assert "dhea-systemic" in dhea.valuesets
    assert dhea.source == "self-reported"
    assert dhea.active
    assert not dhea.based_on_request
    assert dhea.dose_mg_per_day == 50
    assert dhea.route == "oral"
    assert dhea.episode_start_day == to_day(datetime(2026, 3, 29, tzinfo=UTC))
    latest = [f for f in _of(facts, LabFact) if f.concept == "dhea-s" and f.latest]
    assert len(latest) == 1
    assert latest[0].value == 410
    assert latest[0].ref_high == 256
    assert latest[0].ref_source == "lab"
    assert latest[0].range_status == "high"
    assert latest[0].specimen == "serum"
    older = _one(facts, "lab:Observation/obs-dheas-2026-03")
    assert (older.rank, older.ref_low, older.ref_high) == (2, 61, 337)
    phq = [f for f in _of(facts, ObservationFact) if f.concept == "phq9-total" and f.latest]
    assert [f.value for f in phq] == [14]


def test_postpartum_lactation_and_item9(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("postpartum-zuranolone-benzo")), now=NOW,
                        terminology=terminology)  # fmt: skip
    patient = facts.facts[0]
    assert isinstance(patient, PatientFact)
    assert (patient.pregnant, patient.lactating) == ("unknown", "yes")
    item9 = _one(facts, "obs:Observation/obs-phq9-item9")
    assert item9.answer == f"{LOINC}|LA6569-3"
    assert item9.value == 1
    assert item9.latest
    on_record = _one(facts, "med:MedicationRequest/mr-zuranolone-draft")
    assert on_record.status == "draft"
    assert not on_record.active
    lorazepam = _one(facts, "med:MedicationRequest/mr-lorazepam")
    assert lorazepam.dose_mg_per_day == pytest.approx(1.5)
    assert lorazepam.supply_days == 10


def test_pregnenolone_insomnia_salivary(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("pregnenolone-insomnia")), now=NOW,
                        terminology=terminology)  # fmt: skip
    saliva = _one(facts, "lab:Observation/obs-saliva-dheas")
    assert saliva.specimen == "saliva"
    assert saliva.concept == "salivary-sex-steroids"
    assert "dhea-s" not in saliva.valuesets
    biotin = _one(facts, "med:MedicationStatement/ms-biotin")
    assert biotin.concept == "biotin"
    assert biotin.dose_mg_per_day == 10
    assert _one(facts, "med:MedicationStatement/ms-pregnenolone").concept == "pregnenolone"


def test_history_heavy_episode_and_latest(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("history-heavy")), now=NOW,
                        terminology=terminology)  # fmt: skip
    meds = _of(facts, MedicationFact)
    assert {m.episode_start_day for m in meds} == {to_day(datetime(2023, 11, 17, tzinfo=UTC))}
    latest = {f.concept: f.value for f in _of(facts, LabFact) if f.latest}
    assert latest == {"dhea-s": 298, "testosterone": 44}
    assert sum(1 for f in _of(facts, LabFact) if f.concept == "dhea-s") == 27


# --- labs ---------------------------------------------------------------------------------------


def test_umol_per_litre_converted_with_table_range(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("dhea-umol-units")), now=NOW,
                        terminology=terminology)  # fmt: skip
    dheas = [f for f in _of(facts, LabFact) if f.concept == "dhea-s"]
    assert len(dheas) == 1  # the newer entered-in-error result does not exist
    assert dheas[0].value == pytest.approx(460.6, abs=0.05)
    assert dheas[0].unit == "ug/dL"
    assert dheas[0].reported == "12.5 umol/L"  # as the lab gave it (pharmacist review)
    assert (dheas[0].ref_low, dheas[0].ref_high, dheas[0].ref_source) == (99, 340, "table")
    assert dheas[0].range_status == "high"
    assert dheas[0].latest
    assert any(s.ref == "Observation/obs-dheas-eie" for s in facts.skipped)


def test_less_than_value(terminology: Terminology) -> None:
    obs = _lab("t1", "2986-8", "2026-11-20", valueString="<15 ng/dL",
               referenceRange=[{"low": _q(8, "ng/dL"), "high": _q(48, "ng/dL")}])  # fmt: skip
    low = _lab("t2", "2986-8", "2026-11-10", valueQuantity={**_q(5, "ng/dL"), "comparator": "<"},
               referenceRange=[{"low": _q(8, "ng/dL"), "high": _q(48, "ng/dL")}])  # fmt: skip
    facts = _build(terminology, [_patient(), obs, low])
    fact = _one(facts, "lab:Observation/t1")
    assert (fact.value, fact.comparator, fact.unit) == (15, "<", "ng/dL")
    assert fact.reported == "<15 ng/dL"
    assert fact.range_status == "unknown"  # below 15 is low or normal, never high
    assert _one(facts, "lab:Observation/t2").range_status == "low"
    assert _one(facts, "lab:Observation/t2").reported == "<5 ng/dL"


def test_less_than_takes_the_unit_of_its_reference_range(terminology: Terminology) -> None:
    obs = _lab("t1", "2986-8", "2026-11-20", valueString="<15",
               referenceRange=[{"high": _q(1.0, "nmol/L")}])  # fmt: skip
    fact = _one(_build(terminology, [_patient(), obs]), "lab:Observation/t1")
    assert fact.value == pytest.approx(15 * 28.842, rel=1e-3)
    assert fact.comparator == "<"
    assert fact.range_status != "high"


def test_missing_unit_keeps_the_result_without_its_value(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("dhea-umol-units")), now=NOW,
                        terminology=terminology)  # fmt: skip
    testosterone = _one(facts, "lab:Observation/obs-testosterone")
    assert testosterone.value is None
    assert testosterone.comparator == "<"
    assert testosterone.range_status == "unknown"
    assert any(s.ref == "Observation/obs-testosterone" and "no unit" in s.reason
               for s in facts.skipped)  # fmt: skip
    odd = _lab("x", "2191-5", "2026-11-20", valueQuantity=_q(3, "furlongs"))
    fact = _one(_build(terminology, [_patient(), odd]), "lab:Observation/x")
    assert fact.value is None
    assert fact.range_status == "unknown"


def test_unusable_labs_are_skipped(terminology: Terminology) -> None:
    resources = [
        _patient(),
        _lab("nodate", "2191-5", "", valueQuantity=_q(100, "ug/dL")),
        _lab("garbage", "2191-5", "2026-11-01", valueString="see report"),
        _lab("prelim", "2191-5", "2026-11-01", status="preliminary", valueQuantity=_q(1, "ug/dL")),
        _lab("cancelled", "2191-5", "2026-11-01", status="cancelled", valueQuantity=_q(1, "ug/dL")),
        {"resourceType": "Observation", "id": "nocode", "status": "final"},
    ]
    resources[1].pop("effectiveDateTime")
    facts = _build(terminology, resources)
    assert _of(facts, LabFact) == []
    assert {s.ref for s in facts.skipped} == {
        "Observation/nodate", "Observation/garbage", "Observation/prelim",
        "Observation/cancelled", "Observation/nocode",
    }  # fmt: skip


def test_latest_of_several_results_wins(terminology: Terminology) -> None:
    resources = [_patient()] + [
        _lab(f"d{i}", "2191-5", f"2026-0{i}-01", valueQuantity=_q(100 + i, "ug/dL"))
        for i in (3, 7, 5)
    ]
    labs = sorted(_of(_build(terminology, resources), LabFact), key=lambda f: f.rank)
    assert [(f.value, f.rank, f.latest) for f in labs] == [
        (107, 1, True), (105, 2, False), (103, 3, False)]  # fmt: skip


def test_table_range_uses_birthsex_and_age_on_result_date(terminology: Terminology) -> None:
    male_birth = _patient(
        birthDate="1981-06-01",
        extension=[{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                    "valueCode": "M"}],
    )  # fmt: skip
    result = _lab("d", "2191-5", "2025-05-01", valueQuantity=_q(300, "ug/dL"))
    facts = _build(terminology, [male_birth, result])
    patient = facts.facts[0]
    assert isinstance(patient, PatientFact)
    assert patient.sex_at_birth == "male"
    fact = _one(facts, "lab:Observation/d")  # 43 on the result's date: male 35-44
    assert (fact.ref_low, fact.ref_high, fact.range_status) == (89, 427, "normal")


def test_salivary_specimen_never_counts_as_serum(terminology: Terminology) -> None:
    specimen = {"resourceType": "Specimen", "id": "s1",
                "type": {"coding": [{"system": SNOMED, "code": "119342007"}]}}  # fmt: skip
    coded = _lab("sal", "2191-5", "2026-11-20", valueQuantity=_q(3, "ng/mL"),
                 specimen={"reference": "Specimen/s1"})  # fmt: skip
    serum = _lab("ser", "2191-5", "2026-10-20", valueQuantity=_q(100, "ug/dL"))
    facts = _build(terminology, [_patient(), specimen, coded, serum])
    sal = _one(facts, "lab:Observation/sal")
    assert sal.specimen == "saliva"
    assert "salivary-sex-steroids" in sal.valuesets
    ser = _one(facts, "lab:Observation/ser")
    assert ser.latest
    assert ser.specimen == "serum"
    assert ser.concept == "dhea-s"


# --- observations and questionnaires -----------------------------------------------------------


def test_questionnaire_item9(terminology: Terminology) -> None:
    qr = {
        "resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
        "authored": "2026-11-25T10:00:00Z",
        "item": [{"linkId": "/44249-1", "item": [
            {"linkId": "/44260-8", "answer": [{"valueCoding": {"system": LOINC,
                                                               "code": "LA6570-1"}}]},
            {"linkId": "/44261-6", "answer": [{"valueInteger": 16}]},
        ]}],
    }  # fmt: skip
    facts = _build(terminology, [_patient(), qr])
    by_concept = {f.concept: f for f in _of(facts, ObservationFact)}
    assert by_concept["phq9-item9"].value == 2
    assert by_concept["phq9-item9"].answer == f"{LOINC}|LA6570-1"
    assert by_concept["phq9-total"].value == 16
    assert by_concept["phq9-item9"].source_ref == "QuestionnaireResponse/qr1"


def test_a_loinc_answer_sent_without_its_system_is_still_scored(terminology: Terminology) -> None:
    # Found by the issue 6 audit: {"code": "LA6571-9"} alone ("Nearly every day" to PHQ-9
    # item 9) was dropped, and the item-9 rule stayed silent
    qr = {
        "resourceType": "QuestionnaireResponse", "id": "qr1", "status": "completed",
        "authored": "2026-11-25T10:00:00Z",
        "item": [{"linkId": "44260-8", "answer": [{"valueCoding": {"code": "LA6571-9"}}]}],
    }  # fmt: skip
    item9 = _one(_build(terminology, [_patient(), qr]), "obs:QuestionnaireResponse/qr1#44260-8")
    assert item9.value == 3
    assert item9.answer == f"{LOINC}|LA6571-9"
    other = {**qr, "item": [{"linkId": "44260-8", "answer": [{"valueCoding": {"code": "3"}}]}]}
    assert (
        _one(
            _build(terminology, [_patient(), other]), "obs:QuestionnaireResponse/qr1#44260-8"
        ).value
        is None
    )


# --- medications --------------------------------------------------------------------------------


def test_contained_medication(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("dhea-umol-units")), now=NOW,
                        terminology=terminology)  # fmt: skip
    oral = _one(facts, "med:MedicationRequest/mr-prasterone-oral")
    assert oral.concept == "prasterone"
    assert "dhea-systemic" in oral.valuesets
    assert oral.dose_mg_per_day == 75
    assert oral.source == "prescribed"


def test_capsule_dose_uses_ingredient_strength(terminology: Terminology) -> None:
    request = {
        "resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
        "authoredOn": "2026-11-01",
        "contained": [{"resourceType": "Medication", "id": "m", "code": _rx("3143"),
                       "ingredient": [{"itemCodeableConcept": _rx("3143"), "strength": {
                           "numerator": _q(25, "mg"), "denominator": _q(1, "capsule")}}]}],
        "medicationReference": {"reference": "#m"},
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1,
                                                     "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": _q(1, "capsule")}]}],
        "dispenseRequest": {"quantity": _q(60, "capsule")},
    }  # fmt: skip
    fact = _one(_build(terminology, [_patient(), request]), "med:MedicationRequest/r1")
    assert fact.dose_mg_per_day == 50
    assert fact.supply_days == 30


def test_bundled_medication_reference(terminology: Terminology) -> None:
    med = {"resourceType": "Medication", "id": "zz", "code": _rx("2669905")}
    request = {"resourceType": "MedicationRequest", "id": "r1", "status": "active",
               "intent": "order", "medicationReference": {"reference": "Medication/zz"},
               "authoredOn": "2026-11-20"}  # fmt: skip
    fact = _one(_build(terminology, [_patient(), med, request]), "med:MedicationRequest/r1")
    assert fact.concept == "zuranolone"
    assert fact.dose_mg_per_day is None


# An order coded only by its product (no display, no ingredient) was "not used by any rule":
# the zuranolone value sets held the ingredient only. Their SCD, SBD and BN codes are listed
# since session 5.
@pytest.mark.parametrize("product", ["2669918", "2669924", "2669911"])
def test_a_zurzuvae_product_code_alone_is_zuranolone(
    terminology: Terminology, product: str
) -> None:
    request = {"resourceType": "MedicationRequest", "id": "r1", "status": "active",
               "intent": "order", "authoredOn": "2026-11-20",
               "medicationCodeableConcept": _rx(product)}  # fmt: skip
    fact = _one(_build(terminology, [_patient(), request]), "med:MedicationRequest/r1")
    assert fact.concept == "zuranolone"
    assert {"zuranolone", "neuroactive-steroids-rx"} <= set(fact.valuesets)


def test_product_level_rxnorm_is_vaginal_prasterone_not_systemic(terminology: Terminology) -> None:
    facts = build_facts(PatientData.from_bundle(_sample("dhea-umol-units")), now=NOW,
                        terminology=terminology)  # fmt: skip
    insert = _one(facts, "med:MedicationRequest/mr-intrarosa")
    assert "prasterone-vaginal" in insert.valuesets
    assert "dhea-systemic" not in insert.valuesets
    assert insert.route == "vaginal"
    oral = _one(facts, "med:MedicationRequest/mr-prasterone-oral")
    assert oral.episode_start_day != insert.episode_start_day  # separate series (§6.4)


@pytest.mark.parametrize(
    ("text", "concept", "valueset"),
    [
        ("DHEA 25 mg", "prasterone", "dhea-systemic"),
        ("Pregnenolone 30mg caps", "pregnenolone", "pregnenolone"),
        ("dehydroepiandrosterone 10 mg", "prasterone", "dhea-systemic"),
        ("Intrarosa insert", "prasterone", "prasterone-vaginal"),
        ("7-keto DHEA 100 mg", None, None),
        ("Fish oil 1 g", None, None),
    ],
)
def test_text_only_supplements(
    terminology: Terminology, text: str, concept: str | None, valueset: str | None
) -> None:
    statement = _statement("s1", {"text": text}, "2026-10-01")
    facts = _build(terminology, [_patient(), statement])
    meds = _of(facts, MedicationFact)
    if concept is None:
        assert meds == []
        assert facts.skipped[0].reason == "not used by any rule"
    else:
        assert [(m.concept, valueset in m.valuesets) for m in meds] == [(concept, True)]
        assert meds[0].source == "self-reported"


def test_statement_source_and_based_on(terminology: Terminology) -> None:
    by_doctor = _statement("s1", _rx("3143"), "2026-10-01",
                           informationSource={"reference": "Practitioner/d1"},
                           basedOn=[{"reference": "MedicationRequest/r9"}])  # fmt: skip
    no_source = _statement("s2", _rx("3143"), "2026-10-01")
    no_source.pop("informationSource")
    facts = _build(terminology, [_patient(), by_doctor, no_source])
    first = _one(facts, "med:MedicationStatement/s1")
    assert first.source == "prescribed"
    assert first.based_on_request
    assert _one(facts, "med:MedicationStatement/s2").source == "self-reported"


@pytest.mark.parametrize(("gap_days", "merged"), [(20, True), (60, False)])
def test_episodes_merge_gaps_of_at_most_30_days(
    terminology: Terminology, gap_days: int, merged: bool
) -> None:
    first_end = datetime(2026, 3, 1, tzinfo=UTC)
    second_start = datetime.fromtimestamp(first_end.timestamp() + gap_days * 86400, UTC)
    first = _statement("a", {"text": "DHEA 25 mg"}, "2025-12-01", status="completed",
                       end="2026-03-01")  # fmt: skip
    second = _statement("b", _rx("3143"), second_start.date().isoformat())
    facts = _build(terminology, [_patient(), first, second])
    current = _one(facts, "med:MedicationStatement/b")
    expected = datetime(2025, 12, 1, tzinfo=UTC) if merged else second_start
    assert current.episode_start_day == to_day(expected.date())
    assert current.episode_days == pytest.approx(to_day(NOW) - to_day(expected.date()))


def test_draft_orders(terminology: Terminology) -> None:
    bundle = _sample("postpartum-zuranolone-benzo")
    draft = next(e["resource"] for e in bundle["entry"]
                 if e["resource"]["id"] == "mr-zuranolone-draft")  # fmt: skip
    lab_order = {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft"}
    facts = build_facts(PatientData.from_bundle(bundle), now=NOW, terminology=terminology,
                        draft_orders=[{"resource": draft}, lab_order])  # fmt: skip
    fact = _one(facts, "draft:0")
    assert fact.draft
    assert fact.active
    assert fact.status == "draft"
    assert fact.concept == "zuranolone"
    assert fact.start_day == fact.episode_start_day == to_day(NOW)
    assert fact.dose_mg_per_day == 50
    assert fact.supply_days == 14
    assert not [f for f in facts.facts if f.id == "med:MedicationRequest/mr-zuranolone-draft"]
    assert {s.ref for s in facts.skipped} >= {"ServiceRequest/sr1"}


# Found by the integrator review (session 6): order-select ignored context.selections, so
# selecting any later order of the session raised the cards of the earlier ones again.
@pytest.mark.parametrize(
    ("selections", "drafts_placed"),
    [
        (["MedicationRequest/d2"], {"draft:1"}),
        (["MedicationRequest/d1", "MedicationRequest/d2"], {"draft:0", "draft:1"}),
        (["MedicationRequest/not-in-the-bundle"], {"draft:0", "draft:1"}),  # can't tell: all
        (None, {"draft:0", "draft:1"}),
        # a draft without an id cannot be named: selected (found by the review of session 6)
        (["MedicationRequest/d1", "urn:uuid:0b1c6d2e"], {"draft:0", "draft:2"}),
    ],
)
def test_only_the_selected_orders_are_the_draft_being_placed(
    terminology: Terminology, selections: list[str] | None, drafts_placed: set[str]
) -> None:
    def order(rid: str, code: str) -> Json:
        resource = {"resourceType": "MedicationRequest", "id": rid, "status": "draft",
                    "intent": "order", "medicationCodeableConcept": _rx(code)}  # fmt: skip
        return resource if rid else {k: v for k, v in resource.items() if k != "id"}

    facts = build_facts(
        PatientData.from_resources([_patient()]), now=NOW, terminology=terminology,
        draft_orders=[order("d1", "3143"), order("d2", "21212"), order("", "2669905")],
        selections=selections,
    )  # fmt: skip
    drafts = {f.id: f for f in _of(facts, MedicationFact) if f.id.startswith("draft:")}
    assert set(drafts) == {"draft:0", "draft:1", "draft:2"}  # unselected ones are facts too
    drafts_placed = drafts_placed | {"draft:2"}  # the draft without an id, always
    assert {i for i, f in drafts.items() if f.draft} == drafts_placed
    assert all(f.active and f.status == "draft" for f in drafts.values())


def test_draft_renewal_continues_the_episode(terminology: Terminology) -> None:
    ongoing = _statement("s1", _rx("3143"), "2026-01-01")
    draft = {"resourceType": "MedicationRequest", "status": "draft", "intent": "order",
             "medicationCodeableConcept": _rx("3143")}  # fmt: skip
    facts = _build(terminology, [_patient(), ongoing], drafts=[draft])
    assert _one(facts, "draft:0").episode_start_day == to_day(datetime(2026, 1, 1, tzinfo=UTC))


# --- conditions ---------------------------------------------------------------------------------


def test_conditions(terminology: Terminology) -> None:
    facts = _build(terminology, [
        _patient(),
        _condition("refuted", SNOMED, "13746004", verification="refuted"),
        _condition("resolved", SNOMED, "254837009", clinical="resolved"),
        _condition("icd", ICD, "F31.81"),
        _condition("other", SNOMED, "38341003"),
    ])  # fmt: skip
    conditions = {c.source_ref: c for c in _of(facts, ConditionFact)}
    assert set(conditions) == {"Condition/resolved", "Condition/icd"}
    assert not conditions["Condition/resolved"].active
    assert conditions["Condition/resolved"].concept == "breast-cancer"
    assert conditions["Condition/icd"].concept == "bipolar-disorder"
    assert conditions["Condition/icd"].active
    assert conditions["Condition/icd"].onset_day == to_day(datetime(2020, 5, 1, tzinfo=UTC))
    reasons = {s.ref: s.reason for s in facts.skipped}
    assert "refuted" in reasons["Condition/refuted"]
    assert reasons["Condition/other"] == "not used by any rule"


def test_a_long_name_is_cut_at_a_word_with_an_ellipsis(terminology: Terminology) -> None:
    """Card text shows the record's name; a cut mid-word ("recurrent, m") reads as a typo."""
    long_name = _condition("long", ICD, "F31.81")
    long_name["code"]["text"] = "Bipolar disorder, current episode depressed, moderate"
    facts = _build(terminology, [_patient(), long_name])
    (condition,) = _of(facts, ConditionFact)
    assert condition.display == "Bipolar disorder, current episode…"
    assert len(condition.display) <= 40


# --- patient ------------------------------------------------------------------------------------


def _pregnancy(facts: FactSet) -> tuple[str, str]:
    patient = facts.facts[0]
    assert isinstance(patient, PatientFact)
    return patient.pregnant, patient.lactating


def test_birthsex_extension_beats_gender(terminology: Terminology) -> None:
    patient = _patient(gender="male", extension=[
        {"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
         "valueCode": "F"}])  # fmt: skip
    fact = _build(terminology, [patient]).facts[0]
    assert isinstance(fact, PatientFact)
    assert fact.sex_at_birth == "female"
    assert fact.age_years == pytest.approx(36.91, abs=0.01)


@pytest.mark.parametrize(("days_ago", "expected"), [(10, "yes"), (29, "yes"), (40, "unknown")])
def test_positive_hcg_means_pregnant_for_30_days(
    terminology: Terminology, days_ago: int, expected: str
) -> None:
    when = datetime.fromtimestamp(NOW.timestamp() - days_ago * 86400, UTC).isoformat()
    positive = {"coding": [{"system": LOINC, "code": "LA6576-8"}]}
    hcg = _lab("h", "2106-3", when, interpretation=[{"coding": [{"code": "POS"}]}],
               valueCodeableConcept=positive)  # fmt: skip
    assert _pregnancy(_build(terminology, [_patient(), hcg]))[0] == expected


def test_pregnancy_signals(terminology: Terminology) -> None:
    pregnant = {"coding": [{"system": LOINC, "code": "LA15173-0"}]}
    status = _lab("ps", "82810-3", "2026-11-01", valueCodeableConcept=pregnant)
    assert _pregnancy(_build(terminology, [_patient(), status]))[0] == "yes"
    condition = _condition("c", SNOMED, "77386006")
    assert _pregnancy(_build(terminology, [_patient(), condition]))[0] == "yes"
    negative = _lab("h", "2106-3", "2026-11-20", interpretation=[{"coding": [{"code": "NEG"}]}])
    assert _pregnancy(_build(terminology, [_patient(), negative]))[0] == "no"
    male = _patient(gender="male")
    assert _pregnancy(_build(terminology, [male])) == ("no", "no")
    breastfeeding = _lab("b", "63895-7", "2026-09-01", valueBoolean=True)
    assert _pregnancy(_build(terminology, [_patient(), breastfeeding]))[1] == "yes"
    old = _lab("b", "63895-7", "2026-01-01", valueBoolean=True)
    assert _pregnancy(_build(terminology, [_patient(), old]))[1] == "unknown"


# Found by the review of session 5: the answer fallback reached questionnaires only, and a
# pregnancy status sent as {"code": "LA15173-0"} alone still read "unknown".
def test_a_pregnancy_answer_sent_without_its_system_still_counts(terminology: Terminology) -> None:
    pregnant = {"coding": [{"code": "LA15173-0"}]}
    status = _lab("ps", "82810-3", "2026-11-01", valueCodeableConcept=pregnant)
    assert _pregnancy(_build(terminology, [_patient(), status]))[0] == "yes"
    not_an_answer = _lab(
        "ps", "82810-3", "2026-11-01", valueCodeableConcept={"coding": [{"code": "77386006"}]}
    )
    assert _pregnancy(_build(terminology, [_patient(), not_an_answer]))[0] == "unknown"


def test_nothing_fails_the_request(terminology: Terminology) -> None:
    junk: list[Any] = [
        {"resourceType": "Observation", "id": "a", "code": "not an object", "status": 3},
        {"resourceType": "MedicationRequest", "id": "b", "medicationCodeableConcept": [],
         "dosageInstruction": "x"},
        {"resourceType": "Condition", "id": "c", "code": {"coding": [None, {"code": 5}]}},
        {"resourceType": "MedicationStatement", "id": "d", "medicationCodeableConcept":
         {"text": "DHEA"}, "effectivePeriod": {"start": "yesterday"}, "dosage": [
             {"timing": {"repeat": {"frequency": "x"}}, "doseAndRate": "y"}]},
        "not a resource",
    ]  # fmt: skip
    data = PatientData(patient=_patient(birthDate="garbage"), observations=junk,
                       status={"patient": DataStatus.COMPLETE})  # fmt: skip
    facts = build_facts(data, now=NOW, terminology=terminology)
    assert isinstance(facts.facts[0], PatientFact)
    dhea = _one(facts, "med:MedicationStatement/d")
    assert dhea.start_day is None
    assert dhea.episode_start_day is None


def _iter_facts(facts: FactSet) -> Iterator[Fact]:
    yield from facts.facts
