"""Lifecycle assets: what the product learns once a partition's data is in.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

import dagster as dg

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.defs.curated.assets import curated_assets
from healthex_pipeline.defs.partitions import BATCHED, partition_contexts, user_connector
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.notifications import notify_new_deliveries


@dg.asset(
    partitions_def=user_connector,
    backfill_policy=BATCHED,
    deps=curated_assets,
    group_name="lifecycle",
    kinds={"parquet"},
    description=(
        "One 'records ready' notification per delivery, with row counts per curated table, "
        "written once the delivery's rows have landed and passed their contracts."
    ),
)
def records_ready(
    context: dg.AssetExecutionContext, storage: PipelineStorage
) -> dg.MaterializeResult:
    """Notify every delivery of each partition that has not been notified yet."""
    connections = ConnectionStore(storage.settings.registry_path)
    sent = []
    for ctx in partition_contexts(context):
        stores = storage.stores(ctx.user_key, ctx.connector)
        sent += notify_new_deliveries(stores.raw, stores.warehouse, connections, ctx)
    return dg.MaterializeResult(
        metadata={
            "notifications": len(sent),
            "records": sum(n.records for n in sent),
        }
    )
