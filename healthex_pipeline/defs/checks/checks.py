"""Per-partition checks on every curated table, re-reading what actually landed.

No ``from __future__ import annotations`` here: Dagster validates an asset check's ``context``
annotation by identity, which a postponed (string) annotation fails.
"""

import dagster as dg
import polars as pl
import pyarrow as pa

from data_contracts.registry import validate_table
from healthex_pipeline.defs.partitions import partition_context
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.transforms import Model, models


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _contract_check(model: Model) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=model.name,
        name="contract",
        blocking=True,
        description=f"Every landed row of `{model.name}` passes its contract's error-level rules.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, storage: PipelineStorage
    ) -> dg.AssetCheckResult:
        ctx = partition_context(context)
        path = storage.warehouse().partition_file(model.name, ctx.user_key, ctx.connector)
        if not path.exists():
            return dg.AssetCheckResult(passed=False, metadata={"reason": "no file landed"})
        report = validate_table(model.name, _frame(storage.warehouse().read(path)))
        return dg.AssetCheckResult(
            passed=report.failing_rows == 0,
            metadata={
                "rows": report.rows,
                "failing_rows": report.failing_rows,
                "failures": dg.MetadataValue.json(report.failures),
            },
        )

    return _check


def _warnings_check(model: Model) -> dg.AssetChecksDefinition:
    """A WARN check: how many landed rows fail each warn-level rule (they land regardless)."""

    @dg.asset_check(
        asset=model.name,
        name="contract_warnings",
        description=f"Counts landed rows of `{model.name}` per warn-level contract rule.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, storage: PipelineStorage
    ) -> dg.AssetCheckResult:
        ctx = partition_context(context)
        path = storage.warehouse().partition_file(model.name, ctx.user_key, ctx.connector)
        if not path.exists():
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"reason": "no file landed"},
            )
        report = validate_table(model.name, _frame(storage.warehouse().read(path)))
        return dg.AssetCheckResult(
            passed=report.warning_rows == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows": report.rows,
                "warning_rows": report.warning_rows,
                "warnings": dg.MetadataValue.json(report.warnings),
            },
        )

    return _check


def _quarantine_check(asset: str, files: str) -> dg.AssetChecksDefinition:
    """A WARN check: did the asset's last build set anything aside (quarantine ``files``)?"""

    @dg.asset_check(
        asset=asset,
        name="nothing_quarantined",
        description=f"Warns when the last build of `{asset}` set inputs or rows aside.",
    )
    def _check(
        context: dg.AssetCheckExecutionContext, storage: PipelineStorage
    ) -> dg.AssetCheckResult:
        ctx = partition_context(context)
        directory = (
            storage.warehouse().partition_file(QUARANTINE_TABLE, ctx.user_key, ctx.connector).parent
        )
        paths = sorted(directory.glob(files)) if directory.exists() else []
        warehouse = storage.warehouse()
        frames = [_frame(warehouse.read(p)) for p in paths]
        frame = pl.concat(frames) if frames else pl.DataFrame()
        by_reason = (
            frame.group_by("stage", "reason").len().sort("len", descending=True).head(20)
            if frame.height
            else pl.DataFrame()
        )
        return dg.AssetCheckResult(
            passed=frame.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "quarantined": frame.height,
                "by_reason": dg.MetadataValue.json(
                    {
                        f"{r['stage']}: {r['reason']}": r["len"]
                        for r in by_reason.iter_rows(named=True)
                    }
                ),
            },
        )

    return _check


asset_checks = [
    _quarantine_check("raw_fhir", "ingest-*.parquet"),
    *(_contract_check(model) for model in models()),
    *(_warnings_check(model) for model in models()),
    *(_quarantine_check(model.name, f"curated-{model.name}.parquet") for model in models()),
]
