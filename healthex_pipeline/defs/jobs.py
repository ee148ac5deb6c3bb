"""Jobs: the whole per-partition pipeline, from inbox to checked curated tables."""

from __future__ import annotations

import dagster as dg

from healthex_pipeline.defs.partitions import user_connector

partition_pipeline = dg.define_asset_job(
    "partition_pipeline",
    selection=dg.AssetSelection.all(include_sources=False),
    partitions_def=user_connector,
    description="Land a user × connector's deliveries and rebuild its staging and curated tables.",
)
