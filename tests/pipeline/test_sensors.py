"""Sensors turn deliveries and webhook events into runs of exactly the right partitions."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.ingest.sensors import fasten_webhook_sensor, healthex_landing_sensor
from healthex_pipeline.defs.partitions import partition_key
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.store import WebhookEventStore
from tests.support.fixture_sets import fixture_dir


def _tick(sensor: dg.SensorDefinition, settings: Settings, cursor: str | None = None):
    instance = instance_for(settings)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"storage": PipelineStorage.for_settings(settings)},
        definitions=build_defs(settings),
    )
    # What the daemon sets up around a tick: partition lookups go to the instance.
    with dg.partition_loading_context(dynamic_partitions_store=instance):
        return sensor.evaluate_tick(context)


def _land(settings: Settings, user_key: str, facility: str, delivery: str) -> Path:
    target = settings.landing_root / "org" / "proj" / "hx-patient-1" / user_key / facility
    target.mkdir(parents=True, exist_ok=True)
    source = next(fixture_dir("synthea-dstu2").glob("*.json"))
    shutil.copyfile(source, target / f"{delivery}.json")
    return target / f"{delivery}.json"


def test_landing_sensor_requests_one_run_per_user_and_takes_the_files(settings: Settings) -> None:
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-1")
    landed = [_land(settings, user_key, "fac-a", "d1"), _land(settings, user_key, "fac-b", "d2")]

    first = _tick(healthex_landing_sensor, settings)
    second = _tick(healthex_landing_sensor, settings)

    [request] = first.run_requests or []
    assert request.partition_key == partition_key(user_key, "healthex")
    assert instance_for(settings).has_dynamic_partition("users", user_key)
    assert not any(path.exists() for path in landed)
    assert len(list((settings.raw_root).rglob("inbox/*/batch.json"))) == 2
    assert second.run_requests == []
    statuses = ConnectionStore(settings.registry_path).statuses(user_key)
    assert {(s.facility, s.status) for s in statuses} == {
        ("fac-a", "waiting"),
        ("fac-b", "waiting"),
    }


def test_landing_sensor_leaves_deliveries_for_unknown_recipients(settings: Settings) -> None:
    stray = _land(settings, "u_000000000000000000000000", "fac-a", "d1")

    result = _tick(healthex_landing_sensor, settings)

    assert result.run_requests == []
    assert stray.exists()


def _record(store: WebhookEventStore, event_id: str, type_: str, **data: object) -> None:
    store.record(event_id, type_, "2026-11-28T00:00:00Z", data)


def test_webhook_sensor_applies_events_once_and_requests_a_run_per_export(
    settings: Settings,
) -> None:
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-1")
    store = WebhookEventStore(settings.webhooks_path)
    export = {
        "external_id": user_key,
        "org_connection_id": "oc-1",
        "task_id": "t-1",
        "download_links": [{"url": "http://127.0.0.1:9/x"}],
    }
    _record(store, "e1", "patient.ehi_export_success", **export)  # before its connection event
    _record(
        store, "e2", "patient.connection_success", external_id=user_key, org_connection_id="oc-1"
    )
    _record(store, "e3", "patient.ehi_export_success", **export)  # same task, another event id
    _record(
        store,
        "e4",
        "patient.ehi_export_failed",
        external_id=user_key,
        org_connection_id="oc-2",
        failure_reason="token_refresh_failure",
    )

    first = _tick(fasten_webhook_sensor, settings)
    second = _tick(fasten_webhook_sensor, settings, first.cursor)

    [request] = first.run_requests or []
    assert request.partition_key == partition_key(user_key, "fasten")
    assert request.run_key == "fasten-export:t-1"
    assert first.cursor == "4"
    assert second.run_requests == [] and second.cursor == "4"
    connections = ConnectionStore(settings.registry_path)
    assert [d.task_id for d in connections.pending_downloads(user_key, "fasten")] == ["t-1"]
    statuses = {(s.facility, s.status) for s in connections.statuses(user_key)}
    assert ("oc-1", "downloading") in statuses
    assert ("oc-2", "failed: token_refresh_failure") in statuses
