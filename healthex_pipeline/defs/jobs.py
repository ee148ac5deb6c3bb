"""Jobs: the per-partition pipeline (inbox to checked curated tables) and the deletion purge."""

from __future__ import annotations

import dagster as dg

DELETION_GROUP = "deletion"
SERVING_GROUP = "serving"
STALE_DELETION_RUN_SECONDS = 900
"""A purge of one user takes seconds; a deletion run STARTED longer ago than this is dead."""

partition_pipeline = dg.define_asset_job(
    "partition_pipeline",
    # Every asset but the purge (a partition run must never delete what it builds) and the
    # per-user serving assets (partitioned by user alone; serving_job follows).
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups(DELETION_GROUP, SERVING_GROUP),
    description="Land a user × connector's deliveries and rebuild its staging and curated tables.",
)

serving_job = dg.define_asset_job(
    "serving_job",
    selection=dg.AssetSelection.groups(SERVING_GROUP),
    description="Rebuild one user's deduplicated serving tables and AI context document.",
    executor_def=dg.in_process_executor,
)

deletion_job = dg.define_asset_job(
    "deletion_job",
    selection=dg.AssetSelection.groups(DELETION_GROUP),
    description="Carry out one recorded deletion request (run config: its deletion id).",
    # Three steps in a row: processes per step would only add start-up time.
    executor_def=dg.in_process_executor,
    # With run monitoring on, Dagster fails a run whose process died once this has passed.
    run_tags={"dagster/max_runtime": str(STALE_DELETION_RUN_SECONDS)},
)
