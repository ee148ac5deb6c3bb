"""Curated assets: one per SQL model in transforms/models, depending on the views it reads.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

from collections import Counter

import dagster as dg

from healthex_pipeline import duck
from healthex_pipeline.curated import build_table
from healthex_pipeline.defs.partitions import BATCHED, partition_contexts, user_connector
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.defs.staging.assets import staging_key
from healthex_pipeline.transforms import MODELS_DIR, Model, models


def _curated_asset(model: Model) -> dg.AssetsDefinition:
    @dg.asset(
        name=model.name,
        deps=[staging_key(dep) for dep in model.staging_deps],
        partitions_def=user_connector,
        backfill_policy=BATCHED,
        group_name="curated",
        kinds={"duckdb", "parquet"},
        description=f"Curated table `{model.name}` built by transforms/models/{model.name}.sql.",
        metadata={"model": str(MODELS_DIR / f"{model.name}.sql")},
    )
    def _asset(context: dg.AssetExecutionContext, storage: PipelineStorage) -> dg.MaterializeResult:
        builds = []
        with duck.connect() as con:
            for ctx in partition_contexts(context):
                stores = storage.stores(ctx.user_key, ctx.connector)
                builds.append(
                    build_table(con, model, ctx, stores.raw, stores.staging, stores.warehouse)
                )
        changed = [build for build in builds if not build.unchanged]
        if not changed:
            return dg.MaterializeResult(metadata={"unchanged": True})
        reasons = Counter(entry.reason for build in changed for entry in build.quarantined)
        warnings: Counter[str] = Counter()
        for build in changed:
            warnings.update(build.warnings)
        return dg.MaterializeResult(
            metadata={
                "unchanged": False,
                "partitions_rebuilt": len(changed),
                "rows": sum(build.rows for build in changed),
                "entered_in_error_excluded": sum(build.entered_in_error for build in changed),
                "quarantined_rows": sum(len(build.quarantined) for build in changed),
                "quarantine_reasons": dg.MetadataValue.json(dict(reasons.most_common(20))),
                "warnings": dg.MetadataValue.json(dict(warnings)),
            }
        )

    return _asset


curated_assets = [_curated_asset(model) for model in models()]
