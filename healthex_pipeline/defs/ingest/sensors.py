"""Sensors: deliveries and webhook events become runs of exactly the partitions they concern.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

import dagster as dg

from healthex_pipeline import landing
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.defs.jobs import partition_pipeline
from healthex_pipeline.defs.partitions import ensure_users, partition_key
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.fasten_events import apply_events
from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.webhooks.store import WebhookEventStore

EVENTS_PER_TICK = 500


def _result(
    context: dg.SensorEvaluationContext,
    run_requests: list[dg.RunRequest],
    cursor: str | None = None,
) -> dg.SensorResult:
    """Make sure each requested user's partition exists, then hand over the requests.

    Registering the key here (idempotent) rather than via ``dynamic_partitions_requests`` lets the
    same tick's run requests validate against it.
    """
    user_keys = sorted(
        r.partition_key.keys_by_dimension["user"]
        for r in run_requests
        if isinstance(r.partition_key, dg.MultiPartitionKey)
    )
    ensure_users(context.instance, user_keys)
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)


@dg.sensor(
    job=partition_pipeline,
    minimum_interval_seconds=10,
    description="Takes HealthEx push deliveries from the landing area into partition inboxes.",
)
def healthex_landing_sensor(
    context: dg.SensorEvaluationContext, storage: PipelineStorage
) -> dg.SensorResult:
    """One run per user with new deliveries; the run key names the staged batches."""
    settings = storage.settings
    taken = landing.take(
        LandingStore.at(settings.landing_location),
        settings,
        PseudonymRegistry(settings.registry_path),
        ConnectionStore(settings.registry_path),
    )
    if taken.unknown_recipient:
        context.log.warning(f"{taken.unknown_recipient} deliveries for unknown recipients left")
    requests = [
        dg.RunRequest(
            partition_key=partition_key(user_key, landing.CONNECTOR),
            run_key=f"healthex-push:{batches[0]}",
            tags={"healthex/trigger": "healthex-push"},
        )
        for user_key, batches in sorted(taken.by_user.items())
    ]
    return _result(context, requests)


@dg.sensor(
    job=partition_pipeline,
    minimum_interval_seconds=10,
    description="Applies recorded Fasten webhook events; export announcements become runs.",
)
def fasten_webhook_sensor(
    context: dg.SensorEvaluationContext, storage: PipelineStorage
) -> dg.SensorResult:
    """Reads events after the cursor (a store row id), so each event is applied once."""
    settings = storage.settings
    after = int(context.cursor or 0)
    events = WebhookEventStore(settings.webhooks_path).events_after(after, EVENTS_PER_TICK)
    if not events:
        return _result(context, [], context.cursor)
    applied = apply_events(
        events, PseudonymRegistry(settings.registry_path), ConnectionStore(settings.registry_path)
    )
    if applied.ignored:
        context.log.info(f"{applied.ignored} events ignored (unknown recipient or type)")
    requests = [
        dg.RunRequest(
            partition_key=partition_key(user_key, "fasten"),
            run_key=f"fasten-export:{task_ids[0]}",
            tags={"healthex/trigger": "fasten-webhook"},
        )
        for user_key, task_ids in sorted(applied.users_with_downloads.items())
    ]
    return _result(context, requests, str(events[-1].rowid))
