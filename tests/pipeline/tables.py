"""Reading curated partitions back in tests, without the run-specific columns."""

from __future__ import annotations

import polars as pl

from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse

CURATED_TABLES = ("encounters", "immunizations", "lab_results", "medications")
RUN_SPECIFIC = ("user_key", "run_id", "fetched_at")


def curated(settings: Settings, table: str, user_key: str, connector: str) -> pl.DataFrame:
    """One partition of a curated table, sorted, without columns that differ run to run."""
    path = Warehouse(settings.warehouse_root, settings.catalog_path).partition_file(
        table, user_key, connector
    )
    frame = pl.read_parquet(path)
    return frame.drop(RUN_SPECIFIC).sort("resource_type", "resource_id")


def quarantine(settings: Settings, user_key: str, connector: str) -> pl.DataFrame:
    """Every quarantine row of one partition."""
    directory = (
        Warehouse(settings.warehouse_root, settings.catalog_path)
        .partition_file("quarantine", user_key, connector)
        .parent
    )
    files = sorted(directory.glob("*.parquet")) if directory.exists() else []
    if not files:
        return pl.DataFrame()
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")
