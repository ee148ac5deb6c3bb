"""The one Definitions of the code location: gathers defs/ and binds resources."""

from __future__ import annotations

import dagster as dg

from healthex_pipeline.defs.checks.checks import asset_checks
from healthex_pipeline.defs.curated.assets import curated_assets
from healthex_pipeline.defs.deletion.assets import deletion_assets
from healthex_pipeline.defs.deletion.sensors import deletion_request_sensor
from healthex_pipeline.defs.ingest.assets import raw_fhir
from healthex_pipeline.defs.ingest.sensors import fasten_webhook_sensor, healthex_landing_sensor
from healthex_pipeline.defs.jobs import deletion_job, partition_pipeline, serving_job
from healthex_pipeline.defs.lifecycle.assets import records_ready
from healthex_pipeline.defs.lifecycle.schedules import consent_refresh, daily_refresh
from healthex_pipeline.defs.resources import PipelineStorage, vendor_clients
from healthex_pipeline.defs.serving.assets import serving_assets, serving_automation
from healthex_pipeline.defs.staging.assets import staging
from healthex_pipeline.settings import Settings

# Cross-cutting policy, applied here rather than repeated on each asset.
OWNERS = ["team:data-engineering"]


def build_defs(settings: Settings) -> dg.Definitions:
    """Definitions bound to one HEALTHEX_HOME (tests and the CLI pass their own)."""
    assets = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(owners=OWNERS),
        [raw_fhir, staging, *curated_assets, records_ready, *serving_assets, *deletion_assets],
    )
    storage = PipelineStorage.for_settings(settings)
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=[partition_pipeline, serving_job, consent_refresh, deletion_job],
        schedules=[daily_refresh],  # consent-gated refresh (issue 5)
        sensors=[
            healthex_landing_sensor,
            fasten_webhook_sensor,
            deletion_request_sensor,
            serving_automation,
        ],
        resources={"storage": storage, **vendor_clients()},
    )


defs = build_defs(Settings.from_env())
