"""Raw zone asset: lands whatever deliveries wait in the partition's inbox.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

import dagster as dg

from healthex_pipeline import duck
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.defs.partitions import BATCHED, partition_contexts, user_connector
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.fetch import FetchResult, fetch_fasten_downloads
from healthex_pipeline.ingest import IngestResult, ingest_pending
from healthex_pipeline.instance_config import VENDOR_POOL


@dg.asset(
    partitions_def=user_connector,
    backfill_policy=BATCHED,
    group_name="ingest",
    kinds={"fhir", "json"},
    pool=VENDOR_POOL,  # Fasten downloads: the slot caps vendor calls across concurrent runs
    description=(
        "Deliveries exactly as received, content-addressed by sha256, with one manifest per "
        "delivery; unreadable inputs are quarantined with their position and reason."
    ),
)
def raw_fhir(
    context: dg.AssetExecutionContext, storage: PipelineStorage, fasten: FastenClient
) -> dg.MaterializeResult:
    """Fetch announced exports, then land each partition's pending inbox batches."""
    fetched = FetchResult()
    result = IngestResult()
    partitions = partition_contexts(context)
    with duck.connect() as con:
        for ctx in partitions:
            stores = storage.stores(ctx.user_key, ctx.connector)
            if ctx.connector == "fasten":
                connections = ConnectionStore(storage.settings.registry_path)
                one = fetch_fasten_downloads(fasten, connections, stores.raw, ctx.user_key)
                fetched.staged += one.staged
                fetched.failed.extend(one.failed)
            result.add(ingest_pending(con, stores, ctx, storage.limits))
    context.log.info(
        f"landed {result.deliveries} deliveries ({result.new_deliveries} new), "
        f"{result.objects} objects, {result.quarantined} inputs quarantined "
        f"in {len(partitions)} partitions"
    )
    return dg.MaterializeResult(
        metadata={
            "partitions": len(partitions),
            "downloads_staged": fetched.staged,
            "downloads_failed": dg.MetadataValue.json(fetched.failed),
            "deliveries": result.deliveries,
            "new_deliveries": result.new_deliveries,
            "objects": result.objects,
            "bytes": dg.MetadataValue.int(result.bytes),
            "resources_by_type": dg.MetadataValue.json(
                dict(sorted(result.resources_by_type.items()))
            ),
            "outcomes_skipped": result.outcomes_skipped,
            "quarantined_inputs": result.quarantined,
        }
    )
