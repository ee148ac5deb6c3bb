"""Per-partition checks on every curated table, re-reading what actually landed.

No ``from __future__ import annotations`` here: Dagster validates an asset check's ``context``
annotation by identity, which a postponed (string) annotation fails.
"""

from collections import Counter
from collections.abc import Iterator

import dagster as dg
import polars as pl
import pyarrow as pa

from data_contracts.registry import ContractReport, validate_table
from healthex_pipeline.defs.partitions import partition_contexts
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.transforms import Model, models


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _reports(
    context: dg.AssetCheckExecutionContext, storage: PipelineStorage, table: str
) -> tuple[list[ContractReport], int]:
    """The contract report of each partition the run built, and how many had no file."""
    warehouse = storage.warehouse()
    reports, missing = [], 0
    for ctx in partition_contexts(context):
        path = warehouse.partition_file(table, ctx.user_key, ctx.connector)
        if not path.exists():
            missing += 1
            continue
        reports.append(validate_table(table, _frame(warehouse.read(path))))
    return reports, missing


def _per_rule(counts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for one in counts:
        total.update(one)
    return dict(total)


def _contract_checks(model: Model) -> dg.AssetChecksDefinition:
    """Both contract checks of a table from one validation of each landed file.

    ``contract`` blocks on error-level rules; ``contract_warnings`` (WARN) counts the rows failing
    each warn-level rule, which land regardless.
    """
    contract = dg.AssetCheckKey(dg.AssetKey(model.name), "contract")
    warnings = dg.AssetCheckKey(dg.AssetKey(model.name), "contract_warnings")

    @dg.multi_asset_check(
        name=f"{model.name}_contract_checks",
        specs=[
            dg.AssetCheckSpec(
                contract.name,
                asset=model.name,
                blocking=True,
                description=(
                    f"Every landed row of `{model.name}` passes its contract's error-level rules."
                ),
            ),
            dg.AssetCheckSpec(
                warnings.name,
                asset=model.name,
                description=f"Counts landed rows of `{model.name}` per warn-level contract rule.",
            ),
        ],
    )
    def _checks(
        context: dg.AssetCheckExecutionContext, storage: PipelineStorage
    ) -> Iterator[dg.AssetCheckResult]:
        reports, missing = _reports(context, storage, model.name)
        if missing:
            lost = {"reason": "no file landed", "partitions": missing}
            yield dg.AssetCheckResult(check_name=contract.name, passed=False, metadata=lost)
            yield dg.AssetCheckResult(
                check_name=warnings.name,
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata=lost,
            )
            return
        rows = sum(r.rows for r in reports)
        failing = sum(r.failing_rows for r in reports)
        yield dg.AssetCheckResult(
            check_name=contract.name,
            passed=failing == 0,
            metadata={
                "rows": rows,
                "failing_rows": failing,
                "failures": dg.MetadataValue.json(_per_rule([r.failures for r in reports])),
            },
        )
        warning_rows = sum(r.warning_rows for r in reports)
        yield dg.AssetCheckResult(
            check_name=warnings.name,
            passed=warning_rows == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows": rows,
                "warning_rows": warning_rows,
                "warnings": dg.MetadataValue.json(_per_rule([r.warnings for r in reports])),
            },
        )

    return _checks


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
        warehouse = storage.warehouse()
        frames = []
        for ctx in partition_contexts(context):
            file = warehouse.partition_file(QUARANTINE_TABLE, ctx.user_key, ctx.connector)
            if file.parent.exists():
                frames += [_frame(warehouse.read(p)) for p in sorted(file.parent.glob(files))]
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
    *(_contract_checks(model) for model in models()),
    *(_quarantine_check(model.name, f"curated-{model.name}.parquet") for model in models()),
]
