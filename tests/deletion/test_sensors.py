"""The deletion-request sensor: one run per pending request, none while one is in flight."""

from __future__ import annotations

import dagster as dg
import pytest

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.deletion import sensors
from healthex_pipeline.defs.deletion.assets import DELETION_TAG, deletion_run_config
from healthex_pipeline.defs.deletion.sensors import MAX_ATTEMPTS, deletion_request_sensor
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.deletion import load_certificate, request_deletion
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for, tick_sensors
from healthex_pipeline.settings import Settings

ACCOUNT = "acct-sensor-1"


def _tick(settings: Settings) -> dg.SensorExecutionData:
    instance = instance_for(settings)
    context = dg.build_sensor_context(
        instance=instance,
        resources={"storage": PipelineStorage.for_settings(settings)},
        definitions=build_defs(settings),
    )
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return deletion_request_sensor.evaluate_tick(context)


def _request(settings: Settings) -> str:
    PseudonymRegistry(settings.registry_path).user_key(ACCOUNT)
    return request_deletion(settings, ACCOUNT).deletion_id


def _add_run(settings: Settings, deletion_id: str, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """A run of deletion_job for the request, as the CLI or an earlier tick would have left it."""
    job = build_defs(settings).resolve_job_def("deletion_job")
    return instance_for(settings).create_run_for_job(
        job_def=job,
        run_config=deletion_run_config(deletion_id).to_config_dict(),
        tags={DELETION_TAG: deletion_id},
        status=status,
    )


def test_pending_request_becomes_one_run_request_with_its_config_and_tag(
    settings: Settings,
) -> None:
    deletion_id = _request(settings)

    result = _tick(settings)

    [request] = result.run_requests or []
    assert request.tags[DELETION_TAG] == deletion_id
    assert request.run_config == deletion_run_config(deletion_id).to_config_dict()
    assert ACCOUNT not in repr(request), "run requests carry deletion ids only"


def test_request_with_a_run_in_progress_gets_no_second_run(settings: Settings) -> None:
    deletion_id = _request(settings)
    _add_run(settings, deletion_id, dg.DagsterRunStatus.STARTED)

    result = _tick(settings)

    assert result.run_requests == []
    assert result.skip_message == "runs in flight for 1 pending deletions"


def test_no_pending_requests_skips(settings: Settings) -> None:
    result = _tick(settings)

    assert result.run_requests == []
    assert result.skip_message == "no pending deletion requests"


def test_failed_run_is_retried_under_a_new_run_key(settings: Settings) -> None:
    deletion_id = _request(settings)
    _add_run(settings, deletion_id, dg.DagsterRunStatus.FAILURE)

    [request] = _tick(settings).run_requests or []

    assert request.run_key == f"deletion:{deletion_id}:1"


def test_request_failing_every_attempt_is_named_in_the_skip_reason(settings: Settings) -> None:
    deletion_id = _request(settings)
    for _ in range(MAX_ATTEMPTS):
        _add_run(settings, deletion_id, dg.DagsterRunStatus.FAILURE)

    result = _tick(settings)

    assert result.run_requests == []
    assert result.skip_message is not None and deletion_id in result.skip_message


def test_run_abandoned_by_a_killed_process_is_failed_and_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    deletion_id = _request(settings)
    stale = _add_run(settings, deletion_id, dg.DagsterRunStatus.STARTED)
    monkeypatch.setattr(sensors, "STALE_DELETION_RUN_SECONDS", -1)

    [request] = _tick(settings).run_requests or []

    run = instance_for(settings).get_run_by_id(stale.run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.FAILURE
    assert request.tags[DELETION_TAG] == deletion_id


def test_ticking_the_sensors_carries_out_a_pending_deletion(settings: Settings) -> None:
    deletion_id = _request(settings)

    outcomes = tick_sensors(settings, {})

    assert [outcome.success for outcome in outcomes] == [True]
    certificate = load_certificate(settings, deletion_id)
    assert certificate is not None and certificate.verified
    assert _tick(settings).skip_message == "no pending deletion requests"
