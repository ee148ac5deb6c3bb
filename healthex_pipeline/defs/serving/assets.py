"""Serving assets, per user (not per connector): the AI team's deduplicated view of a user.

They depend on every curated table through the ``user`` dimension, so any connector's new rows
make them stale; the eager automation condition rebuilds them when a daemon runs, and
``runs.run_partition`` does so in-process for the CLI. Metadata holds counts only.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

import warnings
from collections import Counter

import dagster as dg

from healthex_pipeline import serving
from healthex_pipeline.ai_context import write_context
from healthex_pipeline.defs.curated.assets import curated_assets
from healthex_pipeline.defs.jobs import SERVING_GROUP
from healthex_pipeline.defs.partitions import BATCHED, users
from healthex_pipeline.defs.resources import PipelineStorage

with warnings.catch_warnings():
    # Beta in Dagster 1.13 but the documented way to map user × connector onto user; the
    # warning would otherwise print on every CLI command.
    warnings.simplefilter("ignore", dg.BetaWarning)
    _BY_USER = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="user")


@dg.asset(
    partitions_def=users,
    backfill_policy=BATCHED,
    deps=[dg.AssetDep(asset, partition_mapping=_BY_USER) for asset in curated_assets],
    group_name=SERVING_GROUP,
    kinds={"duckdb", "parquet"},
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "The user's current facts (deduplicated across connectors, transforms/current.toml) "
        "and patient_timeline, as the AI team's read-only `serving` views show them."
    ),
)
def serving_tables(
    context: dg.AssetExecutionContext, storage: PipelineStorage
) -> dg.MaterializeResult:
    """Rebuild the users' serving rows from their curated rows of every connector."""
    build = serving.build_users(storage.settings, context.partition_keys)
    return dg.MaterializeResult(
        metadata={
            "users": len(context.partition_keys),
            "rows": dg.MetadataValue.json(build.rows),
            "duplicates_collapsed": dg.MetadataValue.json(build.duplicates_collapsed),
        }
    )


@dg.asset(
    partitions_def=users,
    backfill_policy=BATCHED,
    deps=[serving_tables],
    group_name=SERVING_GROUP,
    kinds={"json"},
    automation_condition=dg.AutomationCondition.eager(),
    description=(
        "One JSON document for the AI summary team: recent labs with trends, active medications, "
        "immunizations, problems, allergies and recent encounters, each citing its sources."
    ),
)
def ai_context(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
    """Write each user's context document from their serving files."""
    statements: Counter[str] = Counter()
    for user_key in context.partition_keys:
        statements.update(write_context(storage.settings, user_key))
    return dg.MaterializeResult(
        metadata={
            "users": len(context.partition_keys),
            "statements": dg.MetadataValue.json(dict(statements)),
        }
    )


serving_assets = [serving_tables, ai_context]

serving_automation = dg.AutomationConditionSensorDefinition(
    "serving_automation",
    target=dg.AssetSelection.groups(SERVING_GROUP),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Rebuilds a user's serving assets once any of their curated partitions changed.",
)
