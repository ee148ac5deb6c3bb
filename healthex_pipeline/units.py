"""UCUM codes and normalizing factors for the unit strings results arrive with.

Conversions are worked out once per distinct unit string (cached for the process) and handed to
the models as the relation ``unit_conversions(unit, ucum_code, factor, normalized_unit)``, so no
Python runs per row. UCUM parsing and the factors come from ``ucumvert`` (UCUM grammar → ``pint``
units); what the library cannot know is kept here, small and documented:

- ``ALIASES``: common non-UCUM spellings labs send ("mg/dl" is valid UCUM, "mEq/L", "K/uL" and
  "x10E3/uL" are not; "K/uL" even parses, as kelvin per microlitre), checked before parsing.
- ``NORMALIZED_UNITS``: the target, one unit per kind of concentration, the quantities that
  commensurable units of differing size reach us in (glucose in mg/dL or g/L, cell counts in
  10*3/uL or 10*9/L). Each is the SI unit clinical laboratories report that kind in, so values
  stay readable: mass g/L, substance mmol/L, number 10*9/L, catalytic U/L, international units
  [IU]/L, equivalents meq/L, osmolality mosm/kg. Any other unit is its own normalized unit
  (factor 1): fL, pg, %, mL/min/{1.73_m2} are already how every lab reports their analytes.
- pint reduces arbitrary units ([IU], [arb'U], …) to pure numbers and equivalents and osmoles to
  moles. Converting [IU]/L to 10*9/L, or meq/L to mmol/L (right only for monovalent ions), would
  be wrong, so a unit converts only to a target with the same dimension *and* the same such
  atoms. Mass and substance concentrations never convert into each other (that needs the
  analyte's molar mass): mg/dL glucose lands in g/L, mmol/L glucose in mmol/L, both with their
  UCUM code, so the two are told apart by ``normalized_unit``, never silently mixed.

Per kind of quantity rather than per LOINC code: no LOINC → unit table ships with the project,
and a LOINC code names one property (mass or substance concentration, …), so units that are
commensurable for a test always share a kind and so a normalized unit.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path

import duckdb
import pint
import pyarrow as pa
from ucumvert import PintUcumRegistry, get_ucum_parser, parse_ucum

RELATION = "unit_conversions"
"""The name models read the conversions under (``healthex_pipeline.transforms.MODEL_INPUTS``)."""

UNIT_COLUMNS = ("value_quantity_unit", "value_quantity_code")
"""Staging columns holding unit strings: every distinct value of them gets a conversion row."""

ALIASES: dict[str, str] = {
    # mass and substance concentration
    "mg/dl": "mg/dL",
    "g/dl": "g/dL",
    "gm/dl": "g/dL",
    "ug/dl": "ug/dL",
    "mcg/dl": "ug/dL",
    "mcg/ml": "ug/mL",
    "mcg/l": "ug/L",
    "ng/dl": "ng/dL",
    "meq/l": "meq/L",
    # number concentration (cell counts)
    "k/ul": "10*3/uL",
    "k/mm3": "10*3/uL",
    "x10e3/ul": "10*3/uL",
    "10e3/ul": "10*3/uL",
    "10^3/ul": "10*3/uL",
    "x10^3/ul": "10*3/uL",
    "thou/ul": "10*3/uL",
    "m/ul": "10*6/uL",
    "mil/ul": "10*6/uL",
    "x10e6/ul": "10*6/uL",
    "10e6/ul": "10*6/uL",
    "10^6/ul": "10*6/uL",
    "x10^6/ul": "10*6/uL",
    "x10e9/l": "10*9/L",
    "10^9/l": "10*9/L",
    "x10e12/l": "10*12/L",
    "10^12/l": "10*12/L",
    "cells/ul": "/uL",
    "/mm3": "/uL",
    # international and enzyme units
    "iu/l": "[IU]/L",
    "iu/ml": "[IU]/mL",
    "miu/ml": "m[IU]/mL",
    "miu/l": "m[IU]/L",
    "uiu/ml": "u[IU]/mL",
    "u/l": "U/L",
    # other
    "mmhg": "mm[Hg]",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "sec": "s",
}
"""Non-UCUM (or ambiguous) unit strings, lower-cased, and the UCUM code labs mean by them."""

NORMALIZED_UNITS: tuple[str, ...] = (
    "g/L",
    "mmol/L",
    "10*9/L",
    "U/L",
    "[IU]/L",
    "meq/L",
    "mosm/kg",
)
"""The normalized unit of each kind of concentration (see the module docstring for why)."""

# Base units pint defines as moles that must not convert into moles (nor into each other).
_DISTINCT_ATOMS = frozenset({"equivalents", "osmole"})
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_SIGNIFICANT_DIGITS = 15


@dataclass(frozen=True)
class UnitConversion:
    """A unit string's UCUM code and ``value * factor`` in ``normalized_unit``."""

    ucum_code: str
    factor: float
    normalized_unit: str


@cache
def _registry() -> PintUcumRegistry:
    """The UCUM-aware pint registry; built once, as loading the definitions takes a while."""
    return PintUcumRegistry()


@cache
def _parser() -> object:
    """The UCUM grammar's parser; built once."""
    return get_ucum_parser()


def _is_ucum(text: str) -> bool:
    """Whether ``text`` is a UCUM code by the UCUM grammar (pint may still not convert it)."""
    try:
        parse_ucum(text, _parser())
    except Exception:  # lark raises several error types for invalid input
        return False
    return True


def _quantity(code: str) -> pint.Quantity | None:
    """The code as a pint quantity, or None when it is not UCUM pint can interpret."""
    try:
        quantity = _registry().from_ucum(code)
    except Exception:  # ucumvert raises lark, pint and attribute errors alike
        return None
    return quantity if isinstance(quantity, pint.Quantity) else None


def _kind(quantity: pint.Quantity) -> tuple[object, frozenset[str]]:
    """Dimension plus the atoms pint would otherwise let convert into unrelated units."""
    registry = _registry()
    atoms = set()
    for name, _exponent in quantity.unit_items():
        for _prefix, base, _suffix in registry.parse_unit_name(name):
            factor, root = registry.get_root_units(base)
            if base in _DISTINCT_ATOMS or (factor == 1 and root.dimensionless):
                atoms.add(base)
    return quantity.dimensionality, frozenset(atoms)


@cache
def _targets() -> tuple[tuple[str, pint.Quantity, tuple[object, frozenset[str]]], ...]:
    """Each normalized unit with its quantity and kind, worked out once."""
    targets = []
    for code in NORMALIZED_UNITS:
        quantity = _quantity(code)
        assert quantity is not None, f"normalized unit {code} must parse"
        targets.append((code, quantity, _kind(quantity)))
    return tuple(targets)


def _round(value: float) -> float:
    """``value`` to 15 significant digits, so 0.010000000000000002 reads as 0.01."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, _SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value))))


def ucum_code(unit: str) -> str | None:
    """The UCUM code a unit string means: its alias, else itself when it is UCUM, else None."""
    text = unit.strip()
    alias = ALIASES.get(text.lower())
    if alias is not None:
        return alias
    if _ANNOTATION.fullmatch(text):
        # A bare annotation ("{ratio}") is the unit 1; ucumvert fails on it, so it is taken as is.
        return text
    return text if text and _is_ucum(text) else None


@cache
def conversion(unit: str) -> UnitConversion | None:
    """How to normalize values in ``unit``; None when it names no UCUM unit."""
    code = ucum_code(unit)
    if code is None:
        return None
    quantity = _quantity(code)
    if quantity is None:
        # Valid UCUM that pint cannot read (bare annotations, special units such as [pH]).
        return UnitConversion(code, 1.0, code)
    kind = _kind(quantity)
    for target, target_quantity, target_kind in _targets():
        if kind == target_kind:
            factor = (quantity / target_quantity).to("dimensionless")
            return UnitConversion(code, _round(float(factor)), target)
    return UnitConversion(code, 1.0, code)


@cache
def conversions_fingerprint() -> str:
    """Changes whenever a conversion may: this module's code and tables, or the libraries'."""
    libraries = f"ucumvert={version('ucumvert')} pint={version('pint')}".encode()
    return hashlib.sha256(Path(__file__).read_bytes() + libraries).hexdigest()


def conversions_table(units: Iterable[str | None]) -> pa.Table:
    """One row per distinct unit string, with its UCUM code, factor and normalized unit."""
    rows = [
        (unit, conversion(unit))
        for unit in sorted({u for u in units if u is not None and u.strip()})
    ]
    return pa.table(
        {
            "unit": pa.array([unit for unit, _ in rows], pa.string()),
            "ucum_code": pa.array([c.ucum_code if c else None for _, c in rows], pa.string()),
            "factor": pa.array([c.factor if c else None for _, c in rows], pa.float64()),
            "normalized_unit": pa.array(
                [c.normalized_unit if c else None for _, c in rows], pa.string()
            ),
        }
    )


def register_unit_conversions(con: duckdb.DuckDBPyConnection, relations: Sequence[str]) -> None:
    """Register ``unit_conversions`` for every unit string in the relations' unit columns."""
    selects = [
        f'SELECT "{column}" AS unit FROM {relation}'
        for relation in relations
        for column in UNIT_COLUMNS
        if column in con.sql(f"SELECT * FROM {relation} LIMIT 0").columns
    ]
    units: list[str | None] = []
    if selects:
        query = " UNION ".join(selects)
        units = [unit for (unit,) in con.sql(query).fetchall()]
    con.register(f"{RELATION}_arrow", conversions_table(units))
    con.execute(f"CREATE OR REPLACE TEMP VIEW {RELATION} AS SELECT * FROM {RELATION}_arrow")
