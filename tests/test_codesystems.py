"""Code syntax and check digits per code system (cds/rules/codesystems.py), and the validator
refusing a value-set code that cannot exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from packbuilder import make_pack

from cds.rules.codesystems import (
    ICD10CM,
    LOINC,
    PROJECT_CONCEPTS,
    RXNORM,
    SNOMED,
    code_problem,
    loinc_check_digit,
    system_problem,
    verhoeff_valid,
)
from cds.rules.pack import check_pack


# Codes published by their owners (LOINC's and SNOMED International's browsers).
@pytest.mark.parametrize(
    ("number", "check"),
    [("2191", 5), ("44261", 6), ("44260", 8), ("70274", 6), ("2986", 8), ("1", 8), ("8867", 4)],
)
def test_loinc_check_digits_of_published_codes(number: str, check: int) -> None:
    assert loinc_check_digit(number) == check


@pytest.mark.parametrize("sctid", ["35489007", "197480006", "77386006", "413712001", "22298006"])
def test_verhoeff_accepts_published_snomed_ids(sctid: str) -> None:
    assert verhoeff_valid(sctid)


@pytest.mark.parametrize("sctid", ["35489008", "35498007", "197480060"])
def test_verhoeff_catches_a_changed_or_swapped_digit(sctid: str) -> None:
    assert not verhoeff_valid(sctid)


@pytest.mark.parametrize(
    ("system", "code", "wanted"),
    [
        (LOINC, "2191-5", None),
        (LOINC, "LA6568-5", None),  # answer codes: shape only
        (LOINC, "2191-4", "check digit of 2191 is 5, not 4"),
        (LOINC, "89049-6", "check digit of 89049 is 1, not 6"),
        (LOINC, "2191", "digits, a hyphen and a check digit"),
        (LOINC, " 2191-5", "spaces around it"),
        (SNOMED, "35489007", None),
        (SNOMED, "2669905", "Verhoeff"),  # an RxNorm id on the SNOMED system
        (SNOMED, "26699O5", "6 to 18 digits"),  # a letter O
        (SNOMED, "035489007", "not starting with 0"),
        (SNOMED, "12345013", "description or relationship id"),  # partition 01, check digit ok
        (RXNORM, "36437", None),
        (RXNORM, "36437a", "digits only"),
        (ICD10CM, "F32.A", None),
        (ICD10CM, "C50", None),
        (ICD10CM, "F3", "ICD-10-CM"),
        (PROJECT_CONCEPTS, "allopregnanolone", None),
        ("http://example.org/local", "anything at all", None),
    ],
)
def test_code_problems(system: str, code: str, wanted: str | None) -> None:
    problem = code_problem(system, code)
    if wanted is None:
        assert problem is None
    else:
        assert problem is not None
        assert wanted in problem


@pytest.mark.parametrize(
    ("system", "known"),
    [
        ("http://www.nlm.nih.gov/research/umls/rxnrom", RXNORM),  # two letters swapped
        ("http://snomed.info/sctt", SNOMED),
        ("https://loinc.org", LOINC),
        ("http://loinc.org/", LOINC),
        ("HTTP://HL7.ORG/FHIR/SID/ICD-10-CM", ICD10CM),
    ],
)
def test_a_system_one_typo_from_a_known_one_is_refused_with_the_known_one(
    system: str, known: str
) -> None:
    problem = system_problem(system)
    assert problem is not None
    assert repr(known) in problem


# Found by the review of session 5: a similarity cutoff refused real systems as typos.
@pytest.mark.parametrize(
    "system",
    [
        RXNORM,
        "http://hl7.org/fhir/sid/ndc",
        "http://hl7.org/fhir/sid/icd-10",
        "http://hl7.org/fhir/sid/icd-9-cm",
        "http://hl7.org/fhir/sid/icd-10-pcs",
        "http://hl7.org/fhir/sid/icd-10-ca",
        "http://hl7.org/fhir/sid/icd-10-de",
        "http://snomed.info/id",
    ],
)
def test_other_real_systems_are_accepted(system: str) -> None:
    assert system_problem(system) is None


def test_a_mistyped_code_in_a_value_set_is_refused_at_its_line(tmp_path: Path) -> None:
    pack_dir = make_pack(tmp_path, [])
    (pack_dir / "valuesets" / "pcos.yaml").write_text(
        "id: pcos\nversion: '1'\ntitle: PCOS\ndescription: x\nkind: condition\nsource: x\n"
        "codes:\n"
        "  - system: http://snomed.info/sct\n"
        "    code: '69878009'\n"  # 69878008 (polycystic ovaries) with its last digit mistyped
        "    display: PCOS\n    source: x\n    verified: false\n"
    )
    pack, problems = check_pack(pack_dir)
    assert pack is None
    assert [(p.code.value, p.line) for p in problems] == [("E121", 9)], problems
    assert "'69878009' is not a SNOMED CT id" in problems[0].message
    assert not problems[0].message.startswith("codes.0.code: Value error")
