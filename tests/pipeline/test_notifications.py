"""A delivery gets exactly one "records ready" notification, with counts and no values."""

from __future__ import annotations

import polars as pl

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import read_frames
from tests.support.fixture_sets import fixture_dir


def _notifications(settings: Settings) -> pl.DataFrame:
    files = sorted((settings.warehouse_root / "notifications").rglob("user=*/**/*.parquet"))
    return read_frames(settings, files)


def test_each_delivery_is_notified_once_with_its_counts(settings: Settings) -> None:
    report = import_files(settings, "acct-1", "healthex", [fixture_dir("synthea-dstu2")])
    import_files(settings, "acct-1", "healthex", [fixture_dir("synthea-dstu2")])

    rows = _notifications(settings)

    assert rows.select("lab_results", "immunizations", "encounters", "medications").rows() == [
        (11, 22, 7, 0)
    ]
    assert rows["user_key"].to_list() == [report.user_key]
    [status] = ConnectionStore(settings.registry_path).statuses(report.user_key)
    # 11 labs + 22 immunizations + 7 encounters + 5 procedures + 1 patient.
    assert (status.status, status.records) == ("ready", 46)
