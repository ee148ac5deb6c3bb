"""The daily refresh: a schedule launching a one-op job that asks vendors for fresh records.

A job rather than work inside the schedule function: vendor calls for every connection can
outlast a schedule tick's evaluation timeout, and a run gives the refresh its own logs, status
and retries in the UI. An op, not an asset: the refresh produces no table, and an asset would
join ``partition_pipeline``'s all-assets selection. The schedule starts STOPPED; an operator
turns it on once consents are backfilled.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

from datetime import UTC, datetime

import dagster as dg

from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.instance_config import VENDOR_POOL
from healthex_pipeline.notifications import CONSENT_EXPIRING, REAUTHORIZE, notify_consent
from healthex_pipeline.refresh import refresh_due


@dg.op(
    description="Refresh every connection whose consent is active; counts only in metadata.",
    pool=VENDOR_POOL,
)
def refresh_connections(context: dg.OpExecutionContext, storage: PipelineStorage) -> None:
    """Run the refresh and report counts and timings (never ids: pseudonyms stay out of logs)."""
    report = refresh_due(storage.settings)
    warehouse = storage.warehouse()
    run_id = context.run_id
    today = datetime.now(UTC)
    expiring = sum(
        notify_consent(warehouse, c.user_key, c.connector, CONSENT_EXPIRING, c.expires_at, run_id)
        for c in report.expiring_soon
    )
    reauthorize = sum(
        notify_consent(warehouse, user_key, "healthex", REAUTHORIZE, today, run_id)
        for user_key in report.action_needed
    )
    context.log.info(
        f"refreshed {report.refreshed} of {report.connections} connections with "
        f"{report.calls} vendor calls in {report.seconds:.1f} s; "
        f"{len(report.expiring_soon)} consents expire within 30 days"
    )
    context.add_output_metadata(
        {
            "connections": report.connections,
            "refreshed": report.refreshed,
            "vendor_calls": report.calls,
            "seconds": report.seconds,
            "overhead_per_connection_seconds": report.overhead_per_connection_seconds,
            "consents_expiring_soon": len(report.expiring_soon),
            "notified_consent_expiring": expiring,
            "notified_reauthorize": reauthorize,
            **{f"not refreshed: {k}": v for k, v in sorted(report.not_refreshed.items())},
        }
    )


@dg.job(description="Ask HealthEx and Fasten for fresh records where consent is active.")
def consent_refresh() -> None:
    """One op: the refresh is a single pass over the consent registry."""
    refresh_connections()


@dg.schedule(
    job=consent_refresh,
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Daily vendor refresh of consented connections.",
)
def daily_refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """One run per scheduled day; the run key makes a re-evaluated tick launch nothing new."""
    day = context.scheduled_execution_time.date().isoformat()
    return dg.RunRequest(run_key=f"consent-refresh:{day}", tags={"healthex/trigger": "schedule"})
