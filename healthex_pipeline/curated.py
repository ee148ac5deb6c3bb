"""Build one curated table for one partition: run its model, split by contract, write.

The model's control columns decide a row's fate: ``_entered_in_error`` rows are excluded and
counted, ``_cast_errors`` rows and rows failing an error-level rule of the table's contract go to
quarantine; the rest land, warn-level failures included. Every rule's counts go to
``data_quality``. Nothing is rebuilt when the model and its staging inputs are unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa

from data_contracts.registry import apply_contract
from data_contracts.severity import Severity
from healthex_pipeline import data_quality
from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.quarantine import ContentError, QuarantineEntry, to_table
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.staging import StagingPartition
from healthex_pipeline.transforms import Model
from healthex_pipeline.units import RELATION as UNIT_CONVERSIONS
from healthex_pipeline.units import conversions_fingerprint, register_unit_conversions
from healthex_pipeline.warehouse import Warehouse


@dataclass
class CuratedBuild:
    """What a build did; counts only, so it can go into Dagster metadata."""

    rows: int = 0
    entered_in_error: int = 0
    quarantined: list[QuarantineEntry] = field(default_factory=list)
    warnings: dict[str, int] = field(default_factory=dict)
    """Landed rows failing each warn-level rule (rules with none left out)."""
    unchanged: bool = False


def _fingerprint(model: Model, staging: StagingPartition, current: dict[str, str]) -> str:
    parts = [model.text_hash, *current] + [
        f"{dep}:{staging.view_fingerprint(dep)}" for dep in model.staging_deps
    ]
    if UNIT_CONVERSIONS in model.inputs:
        parts.append(conversions_fingerprint())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _register_raw_objects(con: duckdb.DuckDBPyConnection, seen: dict[str, str]) -> None:
    """The current objects; models inner-join it, so superseded snapshots drop out."""
    con.register(
        "raw_objects_arrow",
        pa.table(
            {
                "raw_sha256": pa.array(list(seen), pa.string()),
                "fetched_at": pa.array(
                    [datetime.fromisoformat(t) for t in seen.values()], pa.timestamp("us", "UTC")
                ),
            }
        ),
    )
    con.execute("CREATE OR REPLACE TEMP VIEW raw_objects AS SELECT * FROM raw_objects_arrow")


def _entries(frame: pl.DataFrame, stage: str, reason: pl.Expr) -> list[QuarantineEntry]:
    return [
        QuarantineEntry(
            stage,
            row["raw_sha256"],
            "curated row",
            row["resource_type"],
            row["resource_id"],
            row["reason"],
        )
        for row in frame.select(
            "raw_sha256", "resource_type", "resource_id", reason.alias("reason")
        ).iter_rows(named=True)
    ]


def build_table(
    con: duckdb.DuckDBPyConnection,
    model: Model,
    ctx: PartitionContext,
    raw: RawPartition,
    staging: StagingPartition,
    warehouse: Warehouse,
) -> CuratedBuild:
    """Run ``model`` for one partition and write its table and quarantine files."""
    current = raw.current_objects()
    fingerprint = _fingerprint(model, staging, current)
    target = warehouse.partition_file(model.name, ctx.user_key, ctx.connector)
    if warehouse.vault.fingerprint(target) == fingerprint:
        return CuratedBuild(unchanged=True)
    for dep in model.staging_deps:
        staging.register_view(con, dep, f"stg_{dep}")
    _register_raw_objects(con, current)
    if UNIT_CONVERSIONS in model.inputs:
        register_unit_conversions(con, [f"stg_{dep}" for dep in model.staging_deps])
    staging.register_resources(con, "partition_resources")
    con.execute(
        "CREATE OR REPLACE TEMP VIEW raw_resources AS SELECT * FROM partition_resources "
        "WHERE raw_sha256 IN (SELECT raw_sha256 FROM raw_objects)"
    )
    # What a bundle-local reference (`urn:uuid:…` fullUrl) points to, for every model's joins.
    con.execute(
        "CREATE OR REPLACE TEMP VIEW reference_targets AS SELECT DISTINCT full_url, "
        "resource_type, resource_id FROM raw_resources WHERE full_url IS NOT NULL"
    )
    try:
        result = pl.from_arrow(
            con.sql(
                model.sql,
                params={"user_key": ctx.user_key, "connector": ctx.connector, "run_id": ctx.run_id},
            ).to_arrow_table()
        )
    except duckdb.Error as error:
        # DuckDB quotes the value it failed on; the run's event log keeps exception messages.
        raise ContentError(model.name, "curated model", error) from None
    assert isinstance(result, pl.DataFrame)
    error_mask = pl.col("_cast_errors").list.len() > 0
    entered_in_error = result.filter(pl.col("_entered_in_error") & ~error_mask).height
    kept = result.filter(~pl.col("_entered_in_error") | error_mask)
    quarantined = _entries(
        kept.filter(error_mask),
        "staging",
        pl.lit("value does not cast: ") + pl.col("_cast_errors").list.join(", "),
    )
    candidates = kept.filter(~error_mask).drop("_entered_in_error", "_cast_errors")
    split = apply_contract(model.name, candidates)
    quarantined += _entries(split.rejected, "contract", pl.col("reason"))
    warehouse.write(
        QUARANTINE_TABLE,
        ctx.user_key,
        ctx.connector,
        to_table(quarantined, ctx.user_key, ctx.connector, ctx.run_id),
        name=f"curated-{model.name}.parquet",
    )
    warehouse.write(
        data_quality.TABLE,
        ctx.user_key,
        ctx.connector,
        data_quality.to_table(split.rules, model.name, ctx.user_key, ctx.connector, ctx.run_id),
        name=data_quality.file_name(model.name),
    )
    # Last: the fingerprinted table file marks the build done, so a crash before it rebuilds all.
    warehouse.write(model.name, ctx.user_key, ctx.connector, split.good.to_arrow(), fingerprint)
    return CuratedBuild(
        rows=split.good.height,
        entered_in_error=entered_in_error,
        quarantined=quarantined,
        warnings=dict(
            split.rules.filter(
                (pl.col("severity") == Severity.WARN.value) & (pl.col("rows_failing") > 0)
            )
            .select("rule", "rows_failing")
            .iter_rows()
        ),
    )
