"""Unit conversion for lab values and rule thresholds, with pint.

UCUM strings (``ug/dL``, ``umol/L``, ``mL/min/{1.73_m2}``) are read by pint after dropping UCUM
annotations in braces. Mass ↔ amount-of-substance conversions (DHEA-S µg/dL ↔ µmol/L) use the
analyte's molar mass: 1 µg/dL DHEA-S (368.5 g/mol) = 0.0271 µmol/L.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pint

_ureg: Any = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
_ureg.define("international_unit = [iu] = IU")
_ANNOTATION = re.compile(r"\{[^}]*\}")
_SUBSTANCE = _ureg.mol.dimensionality
_MASS = _ureg.gram.dimensionality


class UnitError(ValueError):
    """A unit pint cannot read, or two units that cannot be converted."""


# eGFR is "per 1.73 m² of body surface": a normalisation, not a unit; EHRs spell it many ways
_BODY_SURFACE = re.compile(r"/\s*1[.,]73\s*m(?:2|²|\^2)?\b", re.IGNORECASE)


def _clean(unit: str) -> str:
    text = _BODY_SURFACE.sub("", _ANNOTATION.sub("", unit)).strip()
    text = text.replace("µ", "u").replace("μ", "u")
    text = re.sub(r"/+$", "", text)
    if text in ("", "1"):
        return "dimensionless"
    if text == "%":
        return "percent"
    return text


MAX_UNIT_LENGTH = 40  # longer than any UCUM unit a lab reports; units come from patient data


@lru_cache(maxsize=512)
def parse_unit(unit: str) -> Any:
    if len(unit) > MAX_UNIT_LENGTH:
        raise UnitError(f"unknown unit {unit[:16]!r}…: over {MAX_UNIT_LENGTH} characters")
    try:
        return _ureg.Unit(_clean(unit))
    except Exception as exc:  # pint's parser also raises AssertionError, tokenize.TokenError…
        raise UnitError(f"unknown unit {unit!r}") from exc


@lru_cache(maxsize=1024)
def factor(from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    """The multiplier taking a value in ``from_unit`` to ``to_unit``. Raises only
    :class:`UnitError`: the units come from patient data."""
    try:
        return _factor(from_unit, to_unit, molar_mass)
    except UnitError:
        raise
    except Exception as exc:  # whatever else pint raises on odd units: never a 500
        raise UnitError(f"cannot convert {from_unit[:16]!r} to {to_unit[:16]!r}") from exc


def _factor(from_unit: str, to_unit: str, molar_mass: float | None) -> float:
    src, dst = parse_unit(from_unit), parse_unit(to_unit)
    quantity = _ureg.Quantity(1.0, src)
    try:
        return float(quantity.to(dst).magnitude)
    except pint.errors.DimensionalityError:
        pass
    if molar_mass is None:
        raise UnitError(f"cannot convert {from_unit} to {to_unit} without a molar mass")
    mm = _ureg.Quantity(molar_mass, "g/mol")
    src_dim = quantity.dimensionality
    try:
        if (src_dim / _SUBSTANCE) == (dst.dimensionality / _MASS):
            return float((quantity * mm).to(dst).magnitude)
        if (src_dim / _MASS) == (dst.dimensionality / _SUBSTANCE):
            return float((quantity / mm).to(dst).magnitude)
    except pint.errors.DimensionalityError as exc:
        raise UnitError(f"cannot convert {from_unit} to {to_unit}") from exc
    raise UnitError(f"cannot convert {from_unit} to {to_unit}")


def convert(value: float, from_unit: str, to_unit: str, molar_mass: float | None = None) -> float:
    if from_unit == to_unit:
        return value
    return value * factor(from_unit, to_unit, molar_mass)


KNOWN_UNITS = (
    "mg",
    "ug/dL",
    "ng/dL",
    "ng/mL",
    "pg/mL",
    "umol/L",
    "nmol/L",
    "pmol/L",
    "%",
    "mL/min/{1.73_m2}",
    "{score}",
    "mg/d",
    "U/L",
    "mIU/mL",
)
