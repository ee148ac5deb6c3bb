"""The import benchmark: a real `healthex import` of a small population file, measured."""

from __future__ import annotations

from pathlib import Path

import duckdb

from bench.flatten_bench import Inputs
from bench.import_bench import import_size, table


def test_a_small_import_is_timed_and_its_rows_counted(tmp_path: Path) -> None:
    inputs = Inputs(tmp_path, 1_000, seed=7, checkpoints=[])
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    result = import_size(inputs, 1_000, scratch, time_box=600, cap=8 << 30)

    assert result["ok"] and result["exit"] == 0 and result["killed"] is None
    assert result["resources_per_s"] == round(1_000 / result["wall_seconds"])
    assert result["peak_rss_bytes"] > 0 and result["home_bytes"] > result["ndjson_bytes"]
    # The summary's counts are the curated tables' rows, as `healthex sql` reads them.
    home = scratch / "home-1000"
    assert set(result["curated_rows"]) >= {"lab_results", "patients", "encounters"}
    with duckdb.connect() as con:
        patients = con.execute(
            "SELECT count(*) FROM read_ndjson_objects(?) "
            "WHERE json_extract_string(json, '$.resourceType') = 'Patient'",
            [str(inputs.ndjson(1_000))],
        ).fetchone()
    assert patients is not None and result["curated_rows"]["patients"] == patients[0] > 0
    assert home.is_dir()
    assert "| 1,000 |" in table({"sizes": [result]})
