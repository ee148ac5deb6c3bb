"""Staging assets: one per ViewDefinition, computed together in one pass over the resources.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

from collections import Counter
from collections.abc import Iterator

import dagster as dg

from healthex_pipeline import duck
from healthex_pipeline.defs.ingest.assets import raw_fhir
from healthex_pipeline.defs.partitions import BATCHED, partition_contexts, user_connector
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.staging import build_views
from healthex_pipeline.transforms import VIEWS_DIR, staging_views


def staging_key(view: str) -> dg.AssetKey:
    """Staging assets live under the `staging/` key prefix, one per view."""
    return dg.AssetKey(["staging", view])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            staging_key(view.name),
            deps=[raw_fhir],
            group_name="staging",
            kinds={"duckdb", "parquet"},
            description=f"SQL-on-FHIR view `{view.name}` ({view.compiled.resource}).",
            metadata={"view_definition": str(VIEWS_DIR / f"{view.name}.json")},
        )
        for view in staging_views()
    ],
    partitions_def=user_connector,
    backfill_policy=BATCHED,
)
def staging(
    context: dg.AssetExecutionContext, storage: PipelineStorage
) -> Iterator[dg.MaterializeResult]:
    """Run every staging view once over the run's partitions, written per partition."""
    rows: Counter[str] = Counter()
    cast_errors: Counter[str] = Counter()
    rebuilt = 0
    partitions = [
        storage.stores(ctx.user_key, ctx.connector).staging for ctx in partition_contexts(context)
    ]
    with duck.connect() as con:
        for stats in build_views(con, partitions):
            if stats is None:
                continue
            rebuilt += 1
            for name, view in stats.items():
                rows[name] += view.rows
                cast_errors[name] += view.cast_error_rows
    for view in staging_views():
        if not rebuilt:
            yield dg.MaterializeResult(
                asset_key=staging_key(view.name), metadata={"unchanged": True}
            )
            continue
        yield dg.MaterializeResult(
            asset_key=staging_key(view.name),
            metadata={
                "unchanged": False,
                "partitions_rebuilt": rebuilt,
                "rows": rows[view.name],
                "cast_error_rows": cast_errors[view.name],
            },
        )
