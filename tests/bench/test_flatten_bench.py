"""The flatten benchmark's row checks, and its contenders agreeing on a tiny population."""

from __future__ import annotations

import importlib.util
from decimal import Decimal
from pathlib import Path

import pytest

from bench.flatten_bench import (
    cell,
    disagreements,
    fingerprint,
    plans,
    run_worker,
    speedup,
    view_columns,
)
from bench.population import write_bundles, write_ndjson


def test_cell_reads_numbers_by_value_and_missing_as_empty():
    assert cell(Decimal("5.10")) == cell(5.1) == "5.1"
    assert cell(124) == cell(124.0)
    assert cell(None) == cell(float("nan")) == ""
    assert cell(True) == "true"


def test_fingerprint_ignores_row_order_and_number_types():
    rows = [{"id": "a", "ref_low": 3.5}, {"id": "b", "ref_low": None}]
    same = [{"id": "b", "ref_low": float("nan")}, {"id": "a", "ref_low": Decimal("3.50")}]
    assert fingerprint(rows) == fingerprint(same)
    assert fingerprint(rows) != fingerprint([{"id": "a", "ref_low": 3.6}, rows[1]])


def test_disagreements_name_the_tool_and_the_counts():
    results = [
        {"tool": "viewdefinition", "status": "ok", "rows": 3, "fingerprint": "f1" * 8},
        {"tool": "fhiry_bundles", "status": "ok", "rows": 2, "fingerprint": "f2" * 8},
        {"tool": "duckdb_json_parse", "status": "ok", "rows": 3, "fingerprint": None},
        {"tool": "fhiry_ndjson", "status": "skipped", "reason": "too slow"},
    ]
    problems = disagreements(results, 3)
    assert problems[0] == "fhiry_bundles: 2 rows, expected 3"
    assert "fingerprints differ" in problems[1] and "fhiry_bundles" in problems[1]
    assert disagreements(results[:1] + results[2:], 3) == []


def test_speedup_is_unknown_without_both_rates():
    assert speedup(100.0, 4.0) == 25.0
    assert speedup(None, 4.0) is None
    assert speedup(100.0, None) is None


def test_fhiry_ndjson_runs_at_the_smallest_size_only():
    small, large = plans([100_000, 1_000_000], quick=False, fhiry_ndjson_resources=3_000)
    assert small.caps == {"fhiry_ndjson": 3_000}
    assert "fhiry_ndjson" in large.skips and not large.caps


def _available(tool: str) -> bool:
    needs = {"fhiry_bundles": ("fhiry", "pandas"), "fhiry_ndjson": ("fhiry", "pandas")}
    return all(importlib.util.find_spec(name) is not None for name in needs.get(tool, ()))


@pytest.mark.parametrize(
    "tool",
    ["duckdb_explicit", "duckdb_json_parse", "fhir_resources", "fhiry_bundles", "fhiry_ndjson"],
)
def test_contender_gives_the_view_rows_on_a_tiny_population(tool: str, tmp_path: Path):
    if not _available(tool):
        pytest.skip(f"{tool} needs the bench dependency group (make bench syncs it)")
    path = tmp_path / "population.ndjson"
    observations = write_ndjson(path, 40, seed=3, progress=False)[40]["Observation"]
    bundles = tmp_path / "bundles"
    write_bundles(path, bundles, per_bundle=15)
    reference = run_worker("viewdefinition", path, None, 40, repeat=1)
    result = run_worker(tool, path, bundles, 40, repeat=1)
    assert observations > 0 and reference["rows"] == observations
    assert result["rows"] == observations, f"{tool}: {result['rows']} rows, {observations} expected"
    if tool != "duckdb_json_parse":
        assert result["columns"] == view_columns()
        assert result["fingerprint"] == reference["fingerprint"]
