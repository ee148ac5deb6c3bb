"""The daily refresh schedule: one run per day, stopped by default, and its job runs the refresh."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.defs.lifecycle.schedules import consent_refresh, daily_refresh
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.settings import Settings


def test_the_schedule_requests_one_run_per_day_and_starts_stopped() -> None:
    tick = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    context = dg.build_schedule_context(scheduled_execution_time=tick)

    request = daily_refresh(context)

    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "consent-refresh:2026-03-01"
    assert daily_refresh.default_status == dg.DefaultScheduleStatus.STOPPED
    assert daily_refresh.job_name == "consent_refresh"


def test_the_job_refreshes_nothing_without_active_consent(settings: Settings) -> None:
    with ConsentStore(settings.consent_db_url) as consents:
        consents.grant("u_000000000000000000000001", "healthex")
        consents.revoke("u_000000000000000000000001", "healthex")

    result = consent_refresh.execute_in_process(
        resources={"storage": PipelineStorage.for_settings(settings)}
    )

    assert result.success
    [output] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT]
    metadata = output.step_output_data.metadata
    assert metadata["vendor_calls"].value == 0
    assert metadata["not refreshed: consent revoked"].value == 1
