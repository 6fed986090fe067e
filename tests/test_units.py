"""Unit conversion: the molar-mass conversion of DHEA-S and the spellings EHRs send."""

from __future__ import annotations

import pytest

from cds.units import UnitError, convert


def test_dhea_s_molar_conversion_matches_the_lab_catalogue() -> None:
    assert convert(100.0, "ug/dL", "umol/L", 368.5) == pytest.approx(2.71, abs=0.01)
    assert convert(12.5, "umol/L", "ug/dL", 368.5) == pytest.approx(460.6, abs=0.1)
    assert convert(4.02, "µmol/L", "ug/dL", 368.5) == pytest.approx(148, abs=0.5)


@pytest.mark.parametrize(
    "unit", ["mL/min/1.73m2", "mL/min/1.73 m2", "mL/min/{1.73_m2}", "mL/min/1.73m²"]
)
def test_egfr_spellings_are_one_unit(unit: str) -> None:
    assert convert(45.0, unit, "mL/min/{1.73_m2}") == 45.0


def test_mass_to_substance_needs_a_molar_mass() -> None:
    with pytest.raises(UnitError):
        convert(1.0, "ug/dL", "umol/L")


def test_an_unknown_unit_is_an_error() -> None:
    with pytest.raises(UnitError):
        convert(1.0, "furlongs/fortnight", "mg")


# Found by a mutation fuzz of request bodies: pint's parser raises AssertionError and
# tokenize.TokenError on these, which reached the app as a 500.
@pytest.mark.parametrize(
    "unit", ["<", "(", ">=", "'", "{", "10*", "ng/mL*", "mcg/dL)", "mg/day (", "u" * 500]
)
def test_a_malformed_unit_is_a_unit_error(unit: str) -> None:
    with pytest.raises(UnitError):
        convert(1.0, unit, "ug/dL", 368.5)
    with pytest.raises(UnitError):
        convert(1.0, "ug/dL", unit, 368.5)
