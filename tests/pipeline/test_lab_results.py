"""lab_results' richer columns on real fixtures: units, text ranges, abnormal flag, panels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import orjson
import polars as pl
import pytest

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from healthex_pipeline.sof.macros import install_macros
from healthex_pipeline.transforms import VIEWS_DIR, macros_sql
from tests.pipeline.tables import curated
from tests.sof.conftest import bundle_resources, load_resources, run_view
from tests.support.expected import tally
from tests.support.fixture_sets import ARRIVES_THROUGH, require_set

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def macros() -> duckdb.DuckDBPyConnection:
    """A connection with the models' macros, for the lab macros' cases."""
    con = duckdb.connect()
    con.execute(macros_sql())
    return con


@pytest.mark.parametrize(
    ("text", "bounds"),
    [
        ("3.5-5.0", (3.5, 5.0, True, True)),
        ("3.5 - 5.0 mmol/L", (3.5, 5.0, True, True)),
        ("140 - 400 10*3/uL", (140.0, 400.0, True, True)),
        ("10 to 20", (10.0, 20.0, True, True)),
        ("-1.0 - 1.0", (-1.0, 1.0, True, True)),
        ("<5.0", (None, 5.0, True, False)),
        ("<= 0.5 mg/dL", (None, 0.5, True, True)),
        (">=10", (10.0, None, True, True)),
        (">10.00", (10.0, None, False, True)),
        ("Negative", None),
        ("5.0", None),
        ("5.0-3.5", None),
        ("3.5-5.0 5.5-6.0", None),
    ],
)
def test_text_reference_ranges(
    macros: duckdb.DuckDBPyConnection, text: str, bounds: tuple[object, ...] | None
) -> None:
    [(found,)] = macros.execute("SELECT lab_text_range(?)", [text]).fetchall()

    assert (None if found is None else tuple(found.values())) == bounds


@pytest.mark.parametrize(
    ("interpretation", "value", "range_", "abnormal"),
    [
        (("H", None, None), 5.0, (1.0, 10.0), True),  # the code wins over the range
        (("LL", None, None), None, None, True),
        (("<", None, None), None, None, True),
        (("N", None, None), 50.0, (1.0, 10.0), False),
        ((None, None, "Critical high"), None, None, True),
        ((None, "Abnormal", None), None, None, True),
        ((None, "Normal", None), 50.0, (1.0, 10.0), False),
        (("LX", None, None), 123.0, (150.0, 350.0), True),  # unknown code: the range decides
        ((None, None, None), 10.0, (1.0, 10.0), False),  # bounds are inclusive
        ((None, None, None), 0.5, (1.0, None), True),
        ((None, None, None), 5.0, None, None),
        ((None, None, None), None, (1.0, 10.0), None),
    ],
)
def test_abnormal_from_interpretation_else_range(
    macros: duckdb.DuckDBPyConnection,
    interpretation: tuple[str | None, str | None, str | None],
    value: float | None,
    range_: tuple[float | None, float | None] | None,
    abnormal: bool | None,
) -> None:
    low, high = range_ or (None, None)
    [(found,)] = macros.execute(
        "SELECT coalesce(lab_abnormal_interpretation(?, ?, ?), "
        "lab_outside_range(?::DOUBLE, NULL, ?::DOUBLE, ?::DOUBLE, true, true))",
        [*interpretation, value, low, high],
    ).fetchall()

    assert found is abnormal


def test_value_with_a_comparator_is_not_placed_in_a_range(
    macros: duckdb.DuckDBPyConnection,
) -> None:
    [(found,)] = macros.execute(
        "SELECT lab_outside_range(3.0, '<', 1.0, 10.0, true, true)"
    ).fetchall()

    assert found is None


def test_normalized_values_carry_no_float_noise(macros: duckdb.DuckDBPyConnection) -> None:
    found = macros.execute(
        "SELECT lab_normalized_value(95.0, 0.01), lab_normalized_value(3.0, 1e-05), "
        "lab_normalized_value(24.017686975777565, 1.0), lab_normalized_value(4.52, 1000.0)"
    ).fetchall()

    assert found == [(0.95, 3e-05, 24.017686975777565, 4520.0)]


def _labs(settings: Settings, fixture_set: str) -> pl.DataFrame:
    connector = ARRIVES_THROUGH[fixture_set]
    report = import_files(settings, f"acct-{fixture_set}", connector, [require_set(fixture_set)])
    return curated(settings, "lab_results", report.user_key, connector)


@pytest.fixture(scope="module")
def synthea_r4(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """synthea-r4's labs, imported once for the tests that only read them."""
    settings = Settings(home=tmp_path_factory.mktemp("synthea-r4") / "home")
    settings.ensure()
    return _labs(settings, "synthea-r4")


def test_apple_text_only_range_is_parsed_and_places_the_value(settings: Settings) -> None:
    # ref_range_text.json: ALT 24 U/L with referenceRange [{"text": "<36"}] and no low/high.
    [row] = _labs(settings, "apple-health").to_dicts()

    assert {
        k: row[k]
        for k in ("code_display", "value_num", "ucum_code", "ref_low", "ref_high", "ref_text")
    } == {
        "code_display": "ALT",
        "value_num": 24.0,
        "ucum_code": "U/L",
        "ref_low": None,
        "ref_high": 36.0,
        "ref_text": "<36",
    }
    assert (row["ref_range_source"], row["abnormal"], row["component_index"]) == (
        "text",
        False,
        None,
    )


def test_synthea_units_are_normalized_per_distinct_unit(synthea_r4: pl.DataFrame) -> None:
    quantities = synthea_r4.filter(pl.col("unit").is_not_null())
    targets = dict(quantities.select("unit", "normalized_unit").unique().iter_rows())
    factors = {"%": 1.0, "10*3/uL": 1.0, "10*6/uL": 1e3, "fL": 1.0, "g/dL": 10.0, "kU/L": 1e3}
    factors |= {"mg/dL": 0.01, "pg": 1.0}
    expected = quantities["value_num"] * quantities["unit"].replace_strict(factors)

    assert targets == {
        "%": "%",
        "10*3/uL": "10*9/L",
        "10*6/uL": "10*9/L",
        "fL": "fL",
        "g/dL": "g/L",
        "kU/L": "U/L",
        "mg/dL": "g/L",
        "pg": "pg",
    }
    assert ((quantities["normalized_value"] - expected).abs() <= 1e-12 * expected.abs()).all()
    assert quantities["ucum_code"].to_list() == quantities["unit"].to_list()


def test_synthea_coded_results_land_in_value_text(synthea_r4: pl.DataFrame) -> None:
    coded = synthea_r4.filter(pl.col("value_num").is_null())

    assert coded["value_text"].value_counts(sort=True).rows() == [
        ("Negative (qualifier value)", 9),
        ("Detected (qualifier value)", 1),
    ]
    assert coded["abnormal"].null_count() == 10  # no interpretation, no range: not known


def test_dstu2_quantities_get_ucum_codes_and_normalized_values(settings: Settings) -> None:
    labs = _labs(settings, "synthea-dstu2")

    assert labs.height == 11
    assert labs.filter(
        pl.col("ucum_code").is_null() | pl.col("normalized_value").is_null()
    ).is_empty()


@pytest.mark.shared
def test_fasten_abnormal_from_interpretation_else_range(settings: Settings) -> None:
    labs = _labs(settings, "fasten").filter(pl.col("value_num").is_not_null())
    rows = {
        (r["value_num"], r["interpretation"]): (
            r["ref_low"],
            r["ref_high"],
            r["ref_range_source"],
            r["abnormal"],
        )
        for r in labs.to_dicts()
    }

    # "L" with only text ">=10.00": the code decides; the range is still parsed from the text.
    assert rows[(3.1, "L")] == (10.0, None, "text", True)
    # "LX" is no abnormal code: platelets 123 against 150-350 decide.
    assert rows[(123.0, "LX")] == (150.0, 350.0, "low_high", True)
    assert rows[(35.3, "LX")] == (34.9, 44.5, "low_high", False)
    assert rows[(13.2, "N")] == (12.0, 15.5, "low_high", False)


def _observation(resource_id: str, category: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "status": "final",
        "category": [{"coding": [{"code": category}]}],
        "effectiveDateTime": "2023-05-02T08:00:00Z",
        **fields,
    }


def _component(code: str, display: str, **fields: Any) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]}, **fields}


def _mg_dl(value: float) -> dict[str, Any]:
    return {"value": value, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"}


def _panels(folder: Path) -> Path:
    """A lipid panel (components only), a urinalysis with a value of its own, and a vital."""
    lipid = _observation(
        "lipid-panel",
        "laboratory",
        code={"coding": [{"system": LOINC, "code": "57698-3", "display": "Lipid panel"}]},
        component=[
            _component(
                "2093-3",
                "Cholesterol",
                valueQuantity=_mg_dl(200),
                referenceRange=[{"high": {"value": 200}}],
            ),
            _component(
                "2085-9",
                "HDL",
                valueQuantity=_mg_dl(35),
                referenceRange=[{"text": "40 - 60 mg/dL"}],
            ),
            _component(
                "2571-8",
                "Triglyceride",
                valueQuantity=_mg_dl(180),
                interpretation=[{"coding": [{"code": "H"}]}],
            ),
        ],
    )
    urinalysis = _observation(
        "urinalysis",
        "laboratory",
        code={"text": "Urine specific gravity"},
        valueQuantity={"value": 1.02},
        component=[_component("5778-6", "Color of Urine", valueString="Yellow")],
    )
    blood_pressure = _observation(
        "bp",
        "vital-signs",
        code={"coding": [{"system": LOINC, "code": "85354-9"}]},
        component=[
            _component("8480-6", "Systolic", valueQuantity={"value": 130, "code": "mm[Hg]"})
        ],
    )
    path = folder / "panels.json"
    entries = [{"resource": r} for r in (lipid, urinalysis, blood_pressure)]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


def test_panel_components_are_rows_of_their_own_with_the_panel_id(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "panels"
    folder.mkdir()
    report = import_files(settings, "acct-panels", "healthex", [_panels(folder)])
    labs = curated(settings, "lab_results", report.user_key, "healthex").sort(
        "resource_id", "component_index", nulls_last=False
    )

    assert labs.select(
        "resource_id",
        "component_index",
        "loinc_code",
        "panel_loinc_code",
        "value_num",
        "value_text",
        "normalized_value",
        "ref_low",
        "ref_high",
        "abnormal",
    ).rows() == [
        ("lipid-panel", 0, "2093-3", "57698-3", 200.0, None, 2.0, None, 200.0, False),
        ("lipid-panel", 1, "2085-9", "57698-3", 35.0, None, 0.35, 40.0, 60.0, True),
        ("lipid-panel", 2, "2571-8", "57698-3", 180.0, None, 1.8, None, None, True),
        ("urinalysis", None, None, None, 1.02, None, None, None, None, None),
        ("urinalysis", 0, "5778-6", None, None, "Yellow", None, None, None, None),
    ]
    assert labs.height == tally(folder).counts["lab_results"]


def test_component_view_reads_dstu2_panels() -> None:
    # synthea-dstu2 has 7 blood-pressure Observations (vital signs), 2 components each.
    con = duckdb.connect()
    install_macros(con)
    load_resources(con, bundle_resources("bundles/synthea-dstu2"))
    view = orjson.loads((VIEWS_DIR / "observation_component.json").read_bytes())

    rows = run_view(con, view)

    assert len(rows) == 14
    assert {(r["component_index"], r["loinc_code"], r["value_quantity_code"]) for r in rows} == {
        (0, "8462-4", "mm[Hg]"),  # diastolic first, as Synthea writes them
        (1, "8480-6", "mm[Hg]"),
    }
    assert all(r["value_quantity_value"] is not None and r["_cast_errors"] == [] for r in rows)
