"""The syntax of the code systems the value sets use, with their check digits.

A code that cannot exist in its system never matches a patient's data, and nothing else would
say so: the rule simply stays silent. LOINC codes end in a mod-10 check digit and SNOMED CT
identifiers in a Verhoeff check digit, so a mistyped digit is caught here; RxNorm ids are
digits; ICD-10-CM codes have a fixed shape. A system that is one typo away from a known one
(``.../umls/rxnrom``: one letter changed, added, dropped or two swapped; or another case,
``https`` or a trailing ``/``) is refused too; any other system (ICD-10, ICD-9-CM, NDC…) is
accepted as written, its codes unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
PROJECT_CONCEPTS: Final = "urn:neurosteroid-cds:concept"
_HL7_SID: Final = "http://hl7.org/fhir/sid/"

_LOINC: Final = re.compile(r"(LA|LP|LG)?(\d{1,8})-(\d)")
LOINC_ANSWER: Final = re.compile(r"LA\d{1,8}-\d")
_ICD10CM: Final = re.compile(r"[A-Z]\d[0-9A-Z](\.[0-9A-Z]{1,4})?")

# Verhoeff's dihedral-group tables (ISO 7064 does not cover it; SNOMED CT's technical guide
# gives the same tables).
_VERHOEFF_D: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P: Final = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def loinc_check_digit(number: str) -> int:
    """LOINC's mod-10 check digit of the digits before the hyphen (LOINC Users' Guide, "Check
    digit"): double the number made of every other digit from the right, add the digits of
    that and of the rest; the check digit takes the sum to a multiple of ten."""
    odd = number[::-2][::-1]  # the rightmost digit and every other one to its left
    even = number[-2::-2]
    total = sum(int(d) for d in str(int(odd) * 2)) + sum(int(d) for d in even)
    return (10 - total % 10) % 10


def verhoeff_valid(digits: str) -> bool:
    """True when the last digit of ``digits`` is their Verhoeff check digit."""
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return check == 0


def _loinc(code: str) -> str | None:
    match = _LOINC.fullmatch(code)
    if match is None:
        return "is not a LOINC code: LOINC codes are digits, a hyphen and a check digit (2191-5)"
    prefix, number, check = match.groups()
    # only plain codes: answers (LA), parts (LP) and groups (LG) are checked for shape (an
    # answer's last digit does not follow this rule: LA6568-5 would be LA6568-0)
    if prefix is None:
        expected = loinc_check_digit(number)
        if expected != int(check):
            return (
                f"is not a LOINC code: the check digit of {number} is {expected}, not {check}"
                " (a mistyped digit?)"
            )
    return None


def _snomed(code: str) -> str | None:
    if not re.fullmatch(r"[1-9]\d{5,17}", code):
        return "is not a SNOMED CT id: 6 to 18 digits, not starting with 0"
    if not verhoeff_valid(code):
        return "is not a SNOMED CT id: its last digit is not its Verhoeff check digit (a typo?)"
    if code[-3:-1] not in ("00", "10"):
        return "is a SNOMED CT description or relationship id, not a concept id"
    return None


def _rxnorm(code: str) -> str | None:
    if not re.fullmatch(r"[1-9]\d{0,8}", code):
        return "is not an RxNorm RXCUI: RXCUIs are digits only"
    return None


def _icd10cm(code: str) -> str | None:
    if not _ICD10CM.fullmatch(code):
        return "is not an ICD-10-CM code: a letter, two characters, then an optional '.' part"
    return None


_CHECKS: Final[dict[str, Callable[[str], str | None]]] = {
    LOINC: _loinc,
    SNOMED: _snomed,
    RXNORM: _rxnorm,
    ICD10CM: _icd10cm,
}
KNOWN_SYSTEMS: Final = (*_CHECKS, PROJECT_CONCEPTS)


def system_problem(system: str) -> str | None:
    """Why ``system`` is refused (one typo from a known system), or None."""
    if system in KNOWN_SYSTEMS:
        return None
    if system != system.strip():
        return "has spaces around it"
    plain = _plain(system)
    for known in KNOWN_SYSTEMS:
        # HL7's /sid/ names are short codes one edit apart from each other (icd-10-cm and the
        # Canadian icd-10-ca): there, only another case, https or a trailing / is a typo
        family = system.startswith(_HL7_SID) and known.startswith(_HL7_SID)
        if plain == _plain(known) or (not family and _one_edit_apart(system, known)):
            return f"is not a code system this pack knows (did you mean {known!r}?)"
    return None


def implied_system(code: str) -> str | None:
    """The only system a code sent without one can belong to: LOINC for an answer (``LA…``)."""
    return LOINC if LOINC_ANSWER.fullmatch(code) else None


def _plain(system: str) -> str:
    return system.lower().replace("https://", "http://", 1).rstrip("/")


def _one_edit_apart(a: str, b: str) -> bool:
    """One character changed, added or dropped, or two neighbours swapped (``rxnrom``)."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    if len(a) == len(b):
        swapped = (
            a[start + 2 :] == b[start + 2 :] and a[start : start + 2] == b[start : start + 2][::-1]
        )
        return a[start + 1 :] == b[start + 1 :] or swapped
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return shorter[start:] == longer[start + 1 :]


def code_problem(system: str, code: str) -> str | None:
    """Why ``code`` cannot be a code of ``system``, or None (unknown systems are not checked)."""
    if code != code.strip():
        return "has spaces around it"
    check = _CHECKS.get(system)
    return check(code) if check else None
