"""Jobs: the whole per-partition pipeline, from inbox to checked curated tables."""

from __future__ import annotations

import dagster as dg

partition_pipeline = dg.define_asset_job(
    "partition_pipeline",
    selection=dg.AssetSelection.all(),
    description="Land a user × connector's deliveries and rebuild its staging and curated tables.",
)
