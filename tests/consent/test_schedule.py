"""The daily refresh schedule: one run per day, stopped by default, and its job runs the refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.defs.lifecycle.schedules import consent_refresh, daily_refresh
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.notifications import CONSENT_EXPIRING, REAUTHORIZE, notify_consent
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse


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


def _notices(settings: Settings) -> list[dict[str, object]]:
    files = sorted((settings.warehouse_root / "notifications").glob("user=*/*/*.parquet"))
    return [row for f in files for row in settings.vault().read_parquet(f).to_pylist()]


def test_a_consent_in_its_last_30_days_gets_one_expiry_notification(settings: Settings) -> None:
    user_key = "u_000000000000000000000002"
    granted = datetime.now(UTC) - timedelta(days=350)  # expires in about 15 days
    with ConsentStore(settings.consent_db_url) as consents:
        consents.grant(user_key, "fasten", now=granted)
        consents.grant("u_000000000000000000000003", "fasten")  # a year to go: no notice
    storage = PipelineStorage.for_settings(settings)

    for _ in range(2):  # the daily run repeats; the notice does not
        assert consent_refresh.execute_in_process(resources={"storage": storage}).success

    [notice] = _notices(settings)
    assert (notice["user_key"], notice["connector"], notice["kind"]) == (
        user_key,
        "fasten",
        CONSENT_EXPIRING,
    )
    assert notice["due_at"] == granted + timedelta(days=365)


def test_a_reauthorize_notice_is_written_once_a_day(settings: Settings) -> None:
    warehouse = Warehouse.for_settings(settings)
    user_key = "u_000000000000000000000004"
    day = datetime(2026, 11, 28, 6, tzinfo=UTC)

    written = [
        notify_consent(warehouse, user_key, "healthex", REAUTHORIZE, at, "run-1")
        for at in (day, day + timedelta(hours=3), day + timedelta(days=1))
    ]

    assert written == [True, False, True]
    assert [n["kind"] for n in _notices(settings)] == [REAUTHORIZE, REAUTHORIZE]
