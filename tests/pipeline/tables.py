"""Reading curated partitions back in tests, without the run-specific columns."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse

CURATED_TABLES = (
    "allergies",
    "clinical_notes",
    "conditions",
    "encounters",
    "immunizations",
    "lab_results",
    "medications",
    "patients",
    "procedures",
)
RUN_SPECIFIC = ("user_key", "run_id", "fetched_at")


def read_frame(settings: Settings, path: Path) -> pl.DataFrame:
    """One encrypted Parquet file of the home, decrypted."""
    frame = pl.from_arrow(settings.vault().read_parquet(path))
    assert isinstance(frame, pl.DataFrame)
    return frame


def read_frames(settings: Settings, paths: list[Path]) -> pl.DataFrame:
    """Several files as one frame (empty when there are none)."""
    frames = [read_frame(settings, path) for path in paths]
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()


def curated(settings: Settings, table: str, user_key: str, connector: str) -> pl.DataFrame:
    """One partition of a curated table, sorted, without columns that differ run to run."""
    path = Warehouse.for_settings(settings).partition_file(table, user_key, connector)
    frame = read_frame(settings, path)
    return frame.drop(RUN_SPECIFIC).sort("resource_type", "resource_id")


def quarantine(settings: Settings, user_key: str, connector: str) -> pl.DataFrame:
    """Every quarantine row of one partition."""
    directory = (
        Warehouse.for_settings(settings).partition_file("quarantine", user_key, connector).parent
    )
    files = sorted(directory.glob("*.parquet")) if directory.exists() else []
    return read_frames(settings, files)
