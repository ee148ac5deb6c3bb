"""Every third-party fixture set through the whole pipeline, against an independent oracle."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import polars as pl
import pytest

from healthex_pipeline.current import specs
from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import CURATED_TABLES, curated
from tests.support.expected import expected_counts
from tests.support.fixture_sets import ARRIVES_THROUGH, FIXTURE_SETS, require_set

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("HEALTHEX_UPDATE_GOLDENS") == "1"

CONNECTOR = ARRIVES_THROUGH


def golden_csv(frame: pl.DataFrame) -> str:
    """The frame as CSV; nested columns (lists, structs) as one JSON document per cell."""
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested()]
    encoded = frame.with_columns(
        pl.Series(name, [json.dumps(v, sort_keys=True) for v in frame[name].to_list()])
        for name in nested
    )
    return encoded.write_csv()


@pytest.mark.parametrize("fixture_set", sorted(CONNECTOR))
def test_fixture_set_lands_the_oracles_counts_and_golden_rows(
    settings: Settings, fixture_set: str
) -> None:
    directory = require_set(fixture_set)
    connector = CONNECTOR[fixture_set]

    report = import_files(settings, f"acct-{fixture_set}", connector, [directory])

    assert report.success
    expected = expected_counts(fixture_set)
    for table in CURATED_TABLES:
        frame = curated(settings, table, report.user_key, connector)
        # One row per resource, or per resource and part where a resource has parts (a panel's
        # components): the same row key the dedup matches identifiers by.
        key = ["resource_type", "resource_id", *specs()[table].row]
        distinct = frame.select(key).unique().height
        assert (table, distinct) == (table, expected[table])
        assert frame.height == distinct, f"{table}: one row per {key}"
        # Unlicensed sets keep only a digest of their golden output: compared whole, not shipped.
        shared_only = FIXTURE_SETS[fixture_set].shared_only
        golden = GOLDEN / fixture_set / (f"{table}.csv.sha256" if shared_only else f"{table}.csv")
        text = golden_csv(frame)
        if shared_only:
            text = hashlib.sha256(text.encode()).hexdigest() + "\n"
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"missing golden {golden}; run with HEALTHEX_UPDATE_GOLDENS=1"
        assert text == golden.read_text(), f"{fixture_set}/{table} differs from its golden file"
