"""UCUM codes and normalizing factors per distinct unit string (healthex_pipeline/units.py)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from healthex_pipeline.units import (
    ALIASES,
    NORMALIZED_UNITS,
    UnitConversion,
    conversion,
    conversions_table,
    register_unit_conversions,
)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("mg/dL", UnitConversion("mg/dL", 0.01, "g/L")),
        ("g/dL", UnitConversion("g/dL", 10.0, "g/L")),
        ("ng/mL", UnitConversion("ng/mL", 1e-06, "g/L")),
        ("mmol/L", UnitConversion("mmol/L", 1.0, "mmol/L")),
        ("umol/L", UnitConversion("umol/L", 0.001, "mmol/L")),
        ("10*3/uL", UnitConversion("10*3/uL", 1.0, "10*9/L")),
        ("10*6/uL", UnitConversion("10*6/uL", 1000.0, "10*9/L")),
        ("10*12/L", UnitConversion("10*12/L", 1000.0, "10*9/L")),
        ("/uL", UnitConversion("/uL", 0.001, "10*9/L")),
        ("U/L", UnitConversion("U/L", 1.0, "U/L")),
        ("kU/L", UnitConversion("kU/L", 1000.0, "U/L")),
        ("[IU]/L", UnitConversion("[IU]/L", 1.0, "[IU]/L")),
        ("m[IU]/mL", UnitConversion("m[IU]/mL", 1.0, "[IU]/L")),
        ("meq/L", UnitConversion("meq/L", 1.0, "meq/L")),
    ],
)
def test_concentrations_normalize_to_their_kinds_unit(unit: str, expected: UnitConversion) -> None:
    assert conversion(unit) == expected


@pytest.mark.parametrize("unit", ["%", "fL", "pg", "mL/min/{1.73_m2}", "mg/g", "mm[Hg]"])
def test_other_ucum_units_are_their_own_normalized_unit(unit: str) -> None:
    assert conversion(unit) == UnitConversion(unit, 1.0, unit)


@pytest.mark.parametrize(
    ("unit", "ucum_code"),
    [
        ("mg/dl", "mg/dL"),
        ("mEq/L", "meq/L"),
        ("x10E3/uL", "10*3/uL"),
        ("K/uL", "10*3/uL"),  # valid UCUM (kelvin per microlitre), so the alias must win
        ("10^3/uL", "10*3/uL"),
        ("mIU/mL", "m[IU]/mL"),
        ("cells/uL", "/uL"),
    ],
)
def test_lab_spellings_map_to_ucum_through_the_alias_table(unit: str, ucum_code: str) -> None:
    found = conversion(unit)

    assert found is not None
    assert found.ucum_code == ucum_code


def test_every_alias_and_target_is_ucum_the_library_reads() -> None:
    codes = set(ALIASES.values()) | set(NORMALIZED_UNITS)

    unreadable = sorted(code for code in codes if conversion(code) is None)

    assert unreadable == []


def test_international_units_and_equivalents_never_convert_into_counts_or_moles() -> None:
    # pint reduces [IU] to a pure number and eq to mol; the normalized units keep them apart.
    iu, meq = conversion("[IU]/mL"), conversion("meq/L")

    assert (iu, meq) == (
        UnitConversion("[IU]/mL", 1000.0, "[IU]/L"),
        UnitConversion("meq/L", 1.0, "meq/L"),
    )


def test_annotations_are_kept_and_unknown_units_have_no_conversion() -> None:
    assert conversion("{urine specific gravity}") == UnitConversion(
        "{urine specific gravity}", 1.0, "{urine specific gravity}"
    )
    assert conversion("{cells}/uL") == UnitConversion("{cells}/uL", 0.001, "10*9/L")
    assert conversion("per high power field") is None


def test_conversions_table_has_one_row_per_distinct_unit() -> None:
    table = conversions_table(["mg/dL", None, "mg/dL", " ", "bogus unit", "mmol/L"])

    assert table.to_pylist() == [
        {"unit": "bogus unit", "ucum_code": None, "factor": None, "normalized_unit": None},
        {"unit": "mg/dL", "ucum_code": "mg/dL", "factor": 0.01, "normalized_unit": "g/L"},
        {"unit": "mmol/L", "ucum_code": "mmol/L", "factor": 1.0, "normalized_unit": "mmol/L"},
    ]


def test_registered_relation_covers_the_distinct_units_of_every_unit_column() -> None:
    con = duckdb.connect()
    rows = 10_000
    con.register(
        "stg_labs",
        pa.table(
            {
                "value_quantity_unit": ["mg/dL", "K/uL"] * (rows // 2),
                "value_quantity_code": ["mg/dL", None] * (rows // 2),
                "loinc_code": ["2345-7"] * rows,
            }
        ),
    )
    conversion.cache_clear()

    register_unit_conversions(con, ["stg_labs"])

    assert con.sql(
        "SELECT unit, normalized_unit FROM unit_conversions ORDER BY unit"
    ).fetchall() == [
        ("K/uL", "10*9/L"),
        ("mg/dL", "g/L"),
    ]
    assert conversion.cache_info().misses == 2
