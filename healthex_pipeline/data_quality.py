"""The ``data_quality`` table: how many rows each contract rule checked and failed, per build.

Like quarantine it is a warehouse table of per-partition files (so a purge removes it with the
rest): each curated build replaces its table's file, one row per rule of that table's contract,
error-level (rows quarantined) and warn-level (rows landed) alike, zero counts included.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pyarrow as pa

from data_contracts.registry import validate_table

TABLE = "data_quality"


class DataQualityContractError(ValueError):
    """A rule label or count would break the data_quality contract: a pipeline bug."""


def file_name(table: str) -> str:
    """The partition's data_quality file of one curated table."""
    return f"{table}.parquet"


def to_table(
    rules: pl.DataFrame, table: str, user_key: str, connector: str, run_id: str
) -> pa.Table:
    """A contract split's per-rule counts, stamped with partition, table and run, and validated.

    Raises:
        DataQualityContractError: a row breaks the data_quality contract (only rule names and
            counts are reported).
    """
    frame = rules.select(
        pl.lit(user_key).alias("user_key"),
        pl.lit(connector).alias("connector"),
        pl.lit(table).alias("table_name"),
        "rule",
        "severity",
        "rows_checked",
        "rows_failing",
        pl.lit(run_id).alias("run_id"),
        pl.lit(datetime.now(UTC), dtype=pl.Datetime("us", "UTC")).alias("checked_at"),
    )
    report = validate_table(TABLE, frame)
    if report.failing_rows:
        raise DataQualityContractError(f"{table}: data_quality rows fail {report.failures}")
    return frame.to_arrow()
