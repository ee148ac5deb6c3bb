"""The runner's typed NDJSON read: same rows as the JSON read, or a fallback to it, never less.

The typed read trusts a sample of the input for which elements are objects, arrays or strings
(shapes.py); a record unlike the sample must make the run fall back, not change its result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from healthex_pipeline.sof import runner
from healthex_pipeline.sof.compiler import compile_view
from healthex_pipeline.sof.macros import install_macros
from healthex_pipeline.sof.suite import check_rows
from tests.sof.conftest import VIEWS_DIR, fixture_path
from tests.support.fixture_sets import fixture_dir

LAB_VIEW = orjson.loads((VIEWS_DIR / "observation.json").read_bytes())


def _rows(table: pa.Table) -> list[bytes]:
    return sorted(
        orjson.dumps(r, default=str, option=orjson.OPT_SORT_KEYS) for r in table.to_pylist()
    )


def _json_read(view: Mapping[str, Any], paths: Sequence[Path]) -> pa.Table:
    """The reference: the same view over each line as JSON text (no sampling, no typing)."""
    con = duckdb.connect()
    try:
        install_macros(con)
        table = runner._run_json(con, view, runner._file_list(paths))
    finally:
        con.close()
    return table.drop_columns(["_cast_errors"])


def _ndjson_fixtures() -> Iterator[Path]:
    for name in ("pathling-ndjson", "smart-ndjson"):
        folder = fixture_dir(name)
        if folder.is_dir():
            yield from sorted(folder.glob("*.ndjson*"))


def _resource_type(path: Path) -> str:
    return path.name.split(".")[0]


def _views_with_fixtures() -> Iterator[Any]:
    for view_file in sorted(VIEWS_DIR.glob("*.json")):
        view = orjson.loads(view_file.read_bytes())
        files = [p for p in _ndjson_fixtures() if _resource_type(p) == view["resource"]]
        if files:
            yield pytest.param(view, files, id=view_file.stem)


@pytest.mark.parametrize(("view", "files"), list(_views_with_fixtures()))
def test_typed_read_returns_the_json_read_rows_on_every_fixture(
    view: dict[str, Any], files: list[Path]
) -> None:
    result = runner.run_view(view, files)

    assert result.read == "typed"
    assert _rows(result.table) == _rows(_json_read(view, files))


def _labs(tmp_path: Path, later: Mapping[str, Any]) -> Path:
    """An NDJSON file: a typical lab first (the only line sampled), then ``later``."""
    first = {
        "resourceType": "Observation",
        "id": "first",
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "G"}]},
        "effectiveDateTime": "2021-09-19T08:20:49+00:00",
        "valueQuantity": {"value": 88, "unit": "mg/dL"},
        "valueString": "text",
    }
    path = tmp_path / "labs.ndjson"
    path.write_bytes(orjson.dumps(first) + b"\n" + orjson.dumps(later) + b"\n")
    return path


@pytest.fixture
def first_line_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sample only the first line, so the second is unlike anything the sample saw."""
    monkeypatch.setattr(runner, "_head_lines", lambda paths: [paths[0].read_text().split("\n")[0]])


LATER_RECORDS = {
    "object where the sample had a string": {"valueString": {"nested": "x"}},
    "array where the sample had a string": {"status": ["final"]},
    "number in exponent form where the sample had a string": {"valueString": 1e-7},
    "year-only date where the sample had a dateTime": {"effectiveDateTime": "2020"},
    "object where the sample had an array": {"category": {"coding": [{"code": "vital-signs"}]}},
    "bare value element": {"value": {"value": 3}},
}


@pytest.mark.usefixtures("first_line_sample")
@pytest.mark.parametrize("later", LATER_RECORDS.values(), ids=list(LATER_RECORDS))
def test_a_record_unlike_the_sample_falls_back_to_the_json_read(
    tmp_path: Path, later: dict[str, Any]
) -> None:
    path = _labs(tmp_path, {"resourceType": "Observation", "id": "later", **later})

    result = runner.run_view(LAB_VIEW, [path])

    assert result.read == "json"
    assert _rows(result.table) == _rows(_json_read(LAB_VIEW, [path]))


UNSURPRISING_RECORDS = {
    "UCUM units in braces and brackets": {"valueQuantity": {"value": 1, "unit": "{score}"}},
    "UCUM unit in square brackets": {"valueQuantity": {"value": 1, "unit": "[lb_av]"}},
    "a JSON null inside an array of objects": {"category": [None, {"coding": [{"code": "x"}]}]},
    "elements the sample did not have": {"issued": "2021-09-19T10:00:00Z", "effectivePeriod": {}},
}


@pytest.mark.usefixtures("first_line_sample")
@pytest.mark.parametrize("later", UNSURPRISING_RECORDS.values(), ids=list(UNSURPRISING_RECORDS))
def test_records_within_the_sampled_shapes_stay_typed(
    tmp_path: Path, later: dict[str, Any]
) -> None:
    path = _labs(tmp_path, {"resourceType": "Observation", "id": "later", **later})

    result = runner.run_view(LAB_VIEW, [path])

    assert result.read == "typed"
    assert _rows(result.table) == _rows(_json_read(LAB_VIEW, [path]))


def test_an_operation_typed_sql_lacks_reads_that_element_as_json() -> None:
    view = {
        "resource": "Observation",
        "select": [
            {
                "column": [
                    {"name": "id", "path": "id"},
                    {"name": "numeric", "path": "code.coding.where(code = '12').exists()"},
                    {"name": "encounter", "path": "encounter.getReferenceKey(Encounter)"},
                ]
            }
        ],
    }
    structure = {
        "resourceType": "VARCHAR",
        "id": "VARCHAR",
        "code": {"coding": [{"code": "VARCHAR"}]},
        "encounter": {"reference": "VARCHAR"},
    }

    compiled = compile_view(view, source="src", structure=structure)

    assert compiled.read_columns is not None
    assert compiled.read_columns["id"] == "VARCHAR"
    assert compiled.read_columns["code"] == 'STRUCT("coding" STRUCT("code" JSON)[])'
    assert compiled.read_columns["encounter"] == "JSON"


def test_a_view_over_other_resource_types_only_returns_nothing(tmp_path: Path) -> None:
    path = tmp_path / "patients.ndjson"
    path.write_text('{"resourceType": "Patient", "id": "p"}\n')

    result = runner.run_view(LAB_VIEW, [path])

    assert result.table.num_rows == 0
    assert result.table.column_names == [c["name"] for c in LAB_VIEW["select"][0]["column"]]


def _suite_files() -> list[Path]:
    suite = fixture_path("sql-on-fhir-v2/tests")
    return sorted(suite.glob("*.json")) if suite.is_dir() else []


@pytest.mark.parametrize("suite_file", _suite_files(), ids=lambda p: p.name)
def test_the_official_suite_passes_through_the_ndjson_runner(
    suite_file: Path, tmp_path: Path
) -> None:
    """Each suite view over its resources written as NDJSON: typed where the data allows."""
    case = orjson.loads(suite_file.read_bytes())
    path = tmp_path / "resources.ndjson"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in case["resources"]))
    for test in case["tests"]:
        if test.get("expectError"):
            continue
        table = runner.run_view(test["view"], [path]).table
        reason = check_rows(test, table.column_names, table.to_pylist())
        assert reason is None, f"{test['title']}: {reason}"


def _columns(*paths: str, **typed: str) -> list[dict[str, Any]]:
    named = [{"name": f"c{i}", "path": p} for i, p in enumerate(paths)]
    return named + [
        {"name": n, "path": p.split("|")[0], "type": p.split("|")[1]} for n, p in typed.items()
    ]


# FHIRPath shapes the typed translation handles, or hands to JSON (forEach over text, $this,
# extension(), getReferenceKey(), comparisons, unionAll of forEach rows).
SHAPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "where on a string": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {
            "select": [{"column": _columns("id", "gender")}],
            "where": [{"path": "gender = 'female'"}],
        },
    ),
    "forEach over objects, join": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {"select": [{"forEach": "name", "column": _columns("family", "use", "given.join(' ')")}]},
    ),
    "$this on text, date column": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {
            "select": [
                {
                    "column": _columns(
                        "getResourceKey()", "gender.where($this = 'male')", bd="birthDate|date"
                    )
                }
            ]
        },
    ),
    "forEach over text": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {"select": [{"forEach": "gender", "column": _columns("$this")}]},
    ),
    "forEachOrNull, collection, count": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {
            "select": [
                {
                    "forEachOrNull": "address",
                    "column": [
                        *_columns("city"),
                        {"name": "line", "path": "line", "collection": True},
                    ],
                },
                {"column": _columns(n="name.count()|integer")},
            ]
        },
    ),
    "where().first(), extension()": (
        "smart-ndjson",
        "Patient.000.ndjson",
        {
            "select": [
                {
                    "column": _columns(
                        "telecom.where(system = 'phone').value.first()",
                        "extension('http://hl7.org/fhir/us/core/StructureDefinition/us-core-race')"
                        ".extension.value.ofType(string).first()",
                    )
                }
            ]
        },
    ),
    "getReferenceKey, nested collection": (
        "smart-ndjson",
        "Encounter.000.ndjson.gz",
        {
            "select": [
                {
                    "column": [
                        *_columns(
                            "subject.getReferenceKey(Patient)",
                            "class.code",
                            s="period.start|dateTime",
                        ),
                        {"name": "t", "path": "type.coding.code", "collection": True},
                    ]
                }
            ]
        },
    ),
    "unionAll of forEach rows": (
        "pathling-ndjson",
        "Observation.ndjson.gz",
        {
            "select": [
                {"column": [{"name": "id", "path": "id"}]},
                {
                    "unionAll": [
                        {
                            "forEach": "component",
                            "column": _columns(
                                "code.coding.code.first()", v="value.ofType(Quantity).value|decimal"
                            ),
                        },
                        {
                            "column": _columns(
                                "code.coding.code.first()", v="value.ofType(Quantity).value|decimal"
                            )
                        },
                    ]
                },
            ]
        },
    ),
    "exists, first() of objects, comparison": (
        "pathling-ndjson",
        "Observation.ndjson.gz",
        {
            "select": [
                {
                    "column": _columns(
                        "component.first().code.text",
                        has="component.exists()|boolean",
                        high="value.ofType(Quantity).value > 100|boolean",
                    )
                }
            ]
        },
    ),
}


@pytest.mark.parametrize(("fixture", "name", "body"), SHAPES.values(), ids=list(SHAPES))
def test_typed_translation_of_fhirpath_shapes_matches_the_json_read(
    fixture: str, name: str, body: dict[str, Any]
) -> None:
    path = fixture_dir(fixture) / name
    view = {"resource": name.split(".")[0], **body}

    result = runner.run_view(view, [path])

    assert result.read == "typed"
    assert result.table.num_rows > 0
    assert _rows(result.table) == _rows(_json_read(view, [path]))
