"""Run the official SQL-on-FHIR v2 test files against the compiler and report like upstream.

Each test file's ``resources`` are loaded into an in-memory DuckDB table with a JSON
``resource`` column, every test's view is compiled and executed, and rows are compared to
``expect`` ignoring row order (the spec does not define one). ``expectError`` tests pass when
compilation or execution fails. ``run_suite(...).to_report()`` is the upstream test-report JSON
(``test_report.json``); ``healthex sof test`` writes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from healthex_pipeline.sof.compiler import CAST_ERRORS_COLUMN, compile_view
from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.macros import install_macros

_TABLE = "sof_test_resources"


@dataclass(frozen=True, slots=True)
class TestResult:
    """Outcome of one test of one file; ``error`` says why it failed."""

    file: str
    name: str
    passed: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SuiteReport:
    """All results of a suite run."""

    results: tuple[TestResult, ...]

    @property
    def passed(self) -> int:
        """Number of passing tests."""
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        """Number of failing tests."""
        return len(self.results) - self.passed

    def to_report(self) -> dict[str, Any]:
        """The upstream test-report format: ``{file: {"tests": [{name, result}]}}``."""
        report: dict[str, Any] = {}
        for r in self.results:
            result: dict[str, Any] = {"passed": r.passed}
            if r.error is not None:
                result["error"] = r.error
            report.setdefault(r.file, {"tests": []})["tests"].append(
                {"name": r.name, "result": result}
            )
        return report


def _normalise(value: Any) -> Any:
    """Make values comparable: numbers as rounded floats, lists element-wise."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return round(float(value), 9) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    return str(value)


def _row_key(row: Mapping[str, Any]) -> bytes:
    return orjson.dumps({k: _normalise(v) for k, v in row.items()}, option=orjson.OPT_SORT_KEYS)


def load_resources(con: duckdb.DuckDBPyConnection, resources: Sequence[Any]) -> None:
    """(Re)create the table the suite views read, holding ``resources``."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_TABLE} (resource JSON)")
    if resources:
        con.executemany(
            f"INSERT INTO {_TABLE} VALUES (?)", [[orjson.dumps(r).decode()] for r in resources]
        )


def _execute(
    con: duckdb.DuckDBPyConnection, view: Mapping[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    compiled = compile_view(view, source=_TABLE)
    relation = con.sql(compiled.sql)
    names = [n for n in relation.columns if n != CAST_ERRORS_COLUMN]
    rows = [dict(zip(relation.columns, values, strict=True)) for values in relation.fetchall()]
    return names, [{n: row[n] for n in names} for row in rows]


def check_rows(test: Mapping[str, Any], names: list[str], rows: list[dict[str, Any]]) -> str | None:
    """Return why the result does not meet the test's expectation, or None when it does."""
    if "expectColumns" in test and list(test["expectColumns"]) != names:
        return f"columns {names} != expected {test['expectColumns']}"
    if "expectCount" in test:
        return None if len(rows) == test["expectCount"] else f"{len(rows)} rows, expected count"
    expected: list[Mapping[str, Any]] = test.get("expect", [])
    for row in expected:
        if set(row) != set(names):
            return f"columns {sorted(names)} != expected {sorted(row)}"
    got = sorted(_row_key(r) for r in rows)
    want = sorted(_row_key(r) for r in expected)
    if got != want:
        return f"rows differ: got {len(rows)} rows, expected {len(expected)}"
    return None


def run_test(con: duckdb.DuckDBPyConnection, file: str, test: Mapping[str, Any]) -> TestResult:
    """Run one test against the resources already loaded on ``con``."""
    name = str(test.get("title", "?"))
    view = test.get("view")
    if not isinstance(view, Mapping):
        return TestResult(file, name, False, "test has no view object")
    try:
        names, rows = _execute(con, view)
    except (ViewDefinitionError, duckdb.Error) as exc:
        if test.get("expectError"):
            return TestResult(file, name, True)
        return TestResult(file, name, False, f"{type(exc).__name__}: {exc}")
    if test.get("expectError"):
        return TestResult(file, name, False, "expected an error, view ran")
    reason = check_rows(test, names, rows)
    return TestResult(file, name, reason is None, reason)


def run_file(path: Path) -> list[TestResult]:
    """Run every test of one suite file on a fresh connection."""
    case = orjson.loads(path.read_bytes())
    con = duckdb.connect()
    try:
        install_macros(con)
        load_resources(con, case.get("resources", []))
        return [run_test(con, path.name, test) for test in case["tests"]]
    finally:
        con.close()


def is_suite_file(path: Path) -> bool:
    """Whether ``path`` is a file of the suite's format: a JSON object with a ``tests`` list."""
    try:
        case = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(case, dict) and isinstance(case.get("tests"), list)


def suite_files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The suite-format ``*.json`` files in ``directory`` (by name), and the other ones."""
    found = sorted(p for p in directory.glob("*.json") if p.is_file())
    tests = [p for p in found if is_suite_file(p)]
    return tests, [p for p in found if p not in tests]


def run_suite(directory: Path) -> SuiteReport:
    """Run every test file of the suite's format in ``directory`` (sorted by name)."""
    results: list[TestResult] = []
    for path in suite_files(directory)[0]:
        results.extend(run_file(path))
    return SuiteReport(tuple(results))
