"""`healthex sof test` and `healthex sof run`, run as a user runs them (typer's CliRunner)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import duckdb
import jsonschema
import orjson
import pytest
from typer.testing import CliRunner

from healthex_pipeline.cli import app
from tests.sof.conftest import VIEWS_DIR, fixture_path
from tests.support.fixture_sets import require_set

SUITE_ROOT = fixture_path("sql-on-fhir-v2")
SUITE_DIR = SUITE_ROOT / "tests"
OBSERVATION_VIEW = VIEWS_DIR / "observation.json"

runner = CliRunner()


def _suite_dir() -> Path:
    if not SUITE_DIR.is_dir():
        pytest.skip("SQL-on-FHIR v2 suite absent (tests/fixtures and ../shared/fixtures)")
    return SUITE_DIR


def _suite_test_count(directory: Path) -> int:
    return sum(len(orjson.loads(p.read_bytes())["tests"]) for p in directory.glob("*.json"))


def _observations_in(path: Path) -> int:
    """Observation resources in an NDJSON file, counted without the project's code."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = [orjson.loads(line) for line in data.splitlines() if line.strip()]
    return sum(1 for r in lines if r.get("resourceType") == "Observation")


def test_sof_test_passes_the_whole_official_suite_and_writes_the_report(tmp_path: Path) -> None:
    suite = _suite_dir()
    report_path = tmp_path / "report.json"

    result = runner.invoke(app, ["sof", "test", str(suite), "--report", str(report_path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "134 passed, 0 failed"
    report = orjson.loads(report_path.read_bytes())
    jsonschema.validate(report, orjson.loads((SUITE_ROOT / "test-report.schema.json").read_bytes()))
    entries = [test for file in report.values() for test in file["tests"]]
    assert len(entries) == 134 == _suite_test_count(suite)
    assert all(test["result"]["passed"] for test in entries)


def test_sof_test_reports_a_broken_expectation_as_one_failure(tmp_path: Path) -> None:
    original = _suite_dir() / "basic.json"
    case = orjson.loads(original.read_bytes())
    broken = next(t for t in case["tests"] if t.get("expect"))
    broken["expect"][0] = {key: "not what the view yields" for key in broken["expect"][0]}
    (tmp_path / "basic.json").write_bytes(orjson.dumps(case))
    report_path = tmp_path / "out" / "report.json"
    report_path.parent.mkdir()

    result = runner.invoke(app, ["sof", "test", str(tmp_path), "--report", str(report_path)])

    total = len(case["tests"])
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines()[-1] == f"{total - 1} passed, 1 failed"
    assert f"FAIL basic.json :: {broken['title']}" in result.stdout
    [failed] = [
        t
        for t in orjson.loads(report_path.read_bytes())["basic.json"]["tests"]
        if not t["result"]["passed"]
    ]
    assert failed["name"] == broken["title"] and failed["result"]["error"]


def test_sof_test_accepts_the_suite_root_and_skips_other_json(tmp_path: Path) -> None:
    shutil.copy(_suite_dir() / "basic.json", tmp_path / "basic.json")
    (tmp_path / "notes.json").write_text('{"not": "a test file"}')

    result = runner.invoke(app, ["sof", "test", str(tmp_path), "--report", str(tmp_path / "r")])

    assert result.exit_code == 0, result.output
    assert "skipped" in result.stderr and "notes.json" in result.stderr


def test_sof_test_on_a_folder_without_test_files_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sof", "test", str(tmp_path), "--report", str(tmp_path / "r")])

    assert result.exit_code == 2
    assert "no SQL-on-FHIR test files" in result.stderr


def test_sof_run_prints_one_csv_row_per_observation_of_bulk_ndjson() -> None:
    source = require_set("pathling-ndjson") / "Observation.ndjson.gz"

    result = runner.invoke(app, ["sof", "run", str(OBSERVATION_VIEW), str(source)])

    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.startswith(
        '"id","version_id","last_updated","identifier_system","identifier_value","status"'
    )
    assert len(rows) == _observations_in(source)


def test_sof_run_reads_bundles_like_the_staging_reader() -> None:
    bundles = sorted(require_set("synthea-r4").glob("*.json"))
    expected = sum(
        1
        for path in bundles
        for entry in orjson.loads(path.read_bytes()).get("entry", [])
        if entry.get("resource", {}).get("resourceType") == "Observation"
    )

    result = runner.invoke(
        app, ["sof", "run", str(OBSERVATION_VIEW), *map(str, bundles), "--format", "json"]
    )

    assert result.exit_code == 0, result.stderr
    rows = orjson.loads(result.stdout)
    assert len(rows) == expected
    assert len({row["id"] for row in rows}) == expected


def test_sof_run_writes_parquet_with_the_view_columns(tmp_path: Path) -> None:
    source = require_set("pathling-ndjson") / "Observation.ndjson.gz"
    out = tmp_path / "observations.parquet"

    result = runner.invoke(
        app,
        [
            "sof",
            "run",
            str(OBSERVATION_VIEW),
            str(source),
            "--format",
            "parquet",
            "--out",
            str(out),
        ],
    )

    assert result.exit_code == 0, result.stderr
    view_columns = [
        c["name"] for c in orjson.loads(OBSERVATION_VIEW.read_bytes())["select"][0]["column"]
    ]
    with duckdb.connect() as con:
        relation = con.sql(f"SELECT * FROM read_parquet('{out}')")
        assert relation.columns == view_columns
        assert len(relation.fetchall()) == _observations_in(source)


def test_sof_run_parquet_without_out_exits_2() -> None:
    source = require_set("pathling-ndjson") / "Observation.ndjson.gz"

    result = runner.invoke(
        app, ["sof", "run", str(OBSERVATION_VIEW), str(source), "--format", "parquet"]
    )

    assert result.exit_code == 2
    assert "--out" in result.stderr


def test_sof_run_names_an_invalid_view_and_why(tmp_path: Path) -> None:
    view = tmp_path / "broken-view.json"
    view.write_text('{"resource": "Observation", "select": [{"column": [{"path": "id"}]}]}')
    source = require_set("pathling-ndjson") / "Observation.ndjson.gz"

    result = runner.invoke(app, ["sof", "run", str(view), str(source)])

    assert result.exit_code == 2
    assert f"{view}: invalid view: select[0].column[0].name" in result.stderr
    assert result.stdout == ""


def test_sof_run_names_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "absent.ndjson"

    result = runner.invoke(app, ["sof", "run", str(OBSERVATION_VIEW), str(missing)])

    assert result.exit_code == 2
    assert "input 1: not a readable file" in result.stderr
    assert "absent" not in result.stderr  # file names can carry a patient's name


def test_sof_run_names_the_line_that_is_not_json_without_quoting_it(tmp_path: Path) -> None:
    source = tmp_path / "labs.ndjson"
    source.write_text(
        '{"resourceType": "Observation", "id": "a", "status": "final"}\n{"secret-value-7\n'
    )

    result = runner.invoke(app, ["sof", "run", str(OBSERVATION_VIEW), str(source)])

    assert result.exit_code == 2
    assert "input 1: line 2: invalid JSON" in result.stderr
    assert "labs" not in result.stderr
    assert "secret-value-7" not in result.output


def test_sof_run_exits_1_when_the_view_fails_on_the_data(tmp_path: Path) -> None:
    view = tmp_path / "given.json"
    view.write_text(
        '{"resource": "Patient", "select": [{"column": [{"name": "given", "path": "name.given"}]}]}'
    )
    source = tmp_path / "patients.ndjson"
    source.write_text('{"resourceType": "Patient", "id": "p", "name": [{"given": ["A", "B"]}]}\n')

    result = runner.invoke(app, ["sof", "run", str(view), str(source)])

    assert result.exit_code == 1
    assert "select[0].column[0] (given) yields several values" in result.stderr


def test_sof_run_counts_values_that_do_not_fit_their_column_type(tmp_path: Path) -> None:
    source = tmp_path / "labs.ndjson"
    source.write_text(
        '{"resourceType": "Observation", "id": "a", "valueQuantity": {"value": 5.5}}\n'
        '{"resourceType": "Observation", "id": "b", "valueQuantity": {"value": "high"}}\n'
    )

    result = runner.invoke(
        app, ["sof", "run", str(OBSERVATION_VIEW), str(source), "--format", "json"]
    )

    assert result.exit_code == 0, result.stderr
    values = {row["id"]: row["value_quantity_value"] for row in orjson.loads(result.stdout)}
    assert values == {"a": 5.5, "b": None}
    assert "1 rows had values that do not fit their column's type" in result.stderr


def test_sof_test_writes_the_report_under_healthex_home_by_default(tmp_path: Path) -> None:
    shutil.copy(_suite_dir() / "basic.json", tmp_path / "basic.json")
    home = tmp_path / "home"

    result = runner.invoke(app, ["sof", "test", str(tmp_path)], env={"HEALTHEX_HOME": str(home)})

    assert result.exit_code == 0, result.output
    assert set(orjson.loads((home / "sof" / "test_report.json").read_bytes())) == {"basic.json"}
