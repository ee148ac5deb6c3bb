"""Deliveries over the network, through sensors, with slow facilities and faults.

The sandbox and the webhook receiver run as real processes; the sensors are ticked the way the
Dagster daemon ticks them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import polars as pl
import pytest

from healthex_pipeline.connect import connect, refresh
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.runs import tick_sensors
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.population import VendorName, build_pools
from healthex_pipeline.sandbox.testing import running_sandbox, vendor_environment
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.testing import running_receiver
from tests.pipeline.tables import CURATED_TABLES, curated, quarantine, read_frames

# Fast facilities deliver at once, slow ones after 4 s: order is observable, tests stay short.
DELAYS = DelayPlan(fast_min_seconds=0.0, fast_max_seconds=0.2, slow_seconds=4.0, slow_share=0.5)


@pytest.fixture
def network(settings: Settings) -> Iterator[tuple[Settings, SandboxConfig]]:
    config = SandboxConfig(
        n_users=20, seed=7, delays=DELAYS, landing_dir=str(settings.landing_root)
    )
    with ExitStack() as stack:
        receiver = stack.enter_context(running_receiver(settings.home, config.webhook_secret))
        config = replace(config, webhook_url=f"{receiver}/webhooks/fasten")
        base_url = stack.enter_context(running_sandbox(config))
        stack.enter_context(vendor_environment(config, base_url))
        yield settings, replace(config, port=int(base_url.rsplit(":", 1)[1]))


def _notifications(settings: Settings) -> pl.DataFrame:
    files = sorted((settings.warehouse_root / "notifications").glob("user=*/*/*.parquet"))
    return read_frames(settings, files)


def _tick_until(settings: Settings, cursors: dict[str, str | None], done, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        outcomes = tick_sensors(settings, cursors)
        assert all(o.success for o in outcomes)
        if done():
            return
        time.sleep(0.3)
    raise TimeoutError("deliveries did not complete in time")


def _promised_records(notes: pl.DataFrame, facilities: list[dict]) -> int:
    """Notified rows of the tables the sandbox promises counts for (not e.g. patients)."""
    tables = sorted({table for f in facilities for table in f["expected"]})
    return int(notes.select(pl.sum_horizontal(tables)).to_series().sum())


def _facilities(base_url: str, connector: str, user_key: str) -> list[dict]:
    listing = httpx.get(f"{base_url}/sandbox/patients").json()[connector]
    [entry] = [e for e in listing if e["external_id"] == user_key]
    return entry["patient"]["facilities"]


@pytest.mark.parametrize("connector", ["healthex", "fasten"])
def test_fast_facilities_are_notified_first_and_each_delivery_once(
    network: tuple[Settings, SandboxConfig], connector: VendorName
) -> None:
    settings, config = network
    # The k-th connect gets the k-th pool patient: connect up to the first one that has both a
    # fast and a slow facility.
    pool = build_pools(config.n_users, config.seed, DELAYS).of(connector)
    target = next(i for i, p in enumerate(pool) if {f.slow for f in p.facilities} == {True, False})
    patients = [connect(settings, f"acct-{connector}-{i}", connector) for i in range(target + 1)]
    for patient in patients:
        httpx.get(patient.patient_url, timeout=30).raise_for_status()
    connected = patients[-1]
    facilities = _facilities(config.base_url, connector, connected.user_key)
    slow = {f["facility_id"] for f in facilities if f["slow"]}
    store = ConnectionStore(settings.registry_path)
    cursors: dict[str, str | None] = {}

    def ready() -> set[str]:
        return {s.facility for s in store.statuses(connected.user_key) if s.status == "ready"}

    _tick_until(settings, cursors, lambda: bool(ready()), 30)
    first_ready = ready()
    _tick_until(settings, cursors, lambda: len(ready()) == len(facilities), 60)
    for _ in range(3):  # more ticks bring nothing new
        tick_sensors(settings, cursors)

    notes = _notifications(settings).filter(pl.col("user_key") == connected.user_key)
    if connector == "healthex":
        assert first_ready.isdisjoint(slow)
        assert sorted(notes["facility"]) == sorted(f["facility_id"] for f in facilities)
    else:
        assert all(fid.split(".")[-1] not in slow for fid in first_ready)
        assert len(notes) == len(facilities)
    assert notes["delivery"].n_unique() == len(notes)
    assert _promised_records(notes, facilities) == sum(
        sum(f["expected"].values()) for f in facilities
    )


def test_bad_file_in_a_fasten_export_is_quarantined_and_the_rest_lands(
    network: tuple[Settings, SandboxConfig],
) -> None:
    settings, config = network
    connected = connect(settings, "acct-bad-file", "fasten")
    httpx.post(f"{config.base_url}/sandbox/faults", json={"bad_file": [connected.user_key]})
    httpx.get(connected.patient_url, timeout=30).raise_for_status()
    facilities = _facilities(config.base_url, "fasten", connected.user_key)
    store = ConnectionStore(settings.registry_path)

    def all_ready() -> bool:
        states = [s.status for s in store.statuses(connected.user_key) if s.facility]
        return len(states) == len(facilities) and set(states) == {"ready"}

    _tick_until(settings, {}, all_ready, 60)

    rows = quarantine(settings, connected.user_key, "fasten")
    assert set(rows["reason"]) == {"invalid JSON"}
    assert len(rows) == len(facilities)
    notes = _notifications(settings).filter(pl.col("user_key") == connected.user_key)
    assert _promised_records(notes, facilities) == sum(
        sum(f["expected"].values()) for f in facilities
    )


def test_failed_export_becomes_a_phi_free_status(network: tuple[Settings, SandboxConfig]) -> None:
    settings, config = network
    connected = connect(settings, "acct-export-failed", "fasten")
    httpx.post(
        f"{config.base_url}/sandbox/faults",
        json={"export_failed": {connected.user_key: "token_refresh_failure"}},
    )
    httpx.get(connected.patient_url, timeout=30).raise_for_status()
    store = ConnectionStore(settings.registry_path)
    n = len(_facilities(config.base_url, "fasten", connected.user_key))

    def failed() -> list[str]:
        return [s.status for s in store.statuses(connected.user_key) if s.facility]

    _tick_until(settings, {}, lambda: len(failed()) == n and "waiting" not in failed(), 30)

    assert set(failed()) == {"failed: token_refresh_failure"}


def _all_deliveries_ready(settings: Settings, config: SandboxConfig, account: str) -> str:
    connected = connect(settings, account, "healthex")
    httpx.get(connected.patient_url, timeout=30).raise_for_status()
    n = len(_facilities(config.base_url, "healthex", connected.user_key))
    store = ConnectionStore(settings.registry_path)

    def ready() -> int:
        return sum(s.status == "ready" for s in store.statuses(connected.user_key))

    _tick_until(settings, {}, lambda: ready() == n, 60)
    return connected.user_key


def test_refresh_needing_patient_action_shows_in_status(
    network: tuple[Settings, SandboxConfig],
) -> None:
    settings, config = network
    user_key = _all_deliveries_ready(settings, config, "acct-reauth")
    httpx.post(f"{config.base_url}/sandbox/faults", json={"patient_action_needed": [user_key]})

    new_status = refresh(settings, "acct-reauth")
    shown = subprocess.run(
        [str(Path(sys.executable).parent / "healthex"), "status", "--user", "acct-reauth"],
        env={**os.environ, "HEALTHEX_HOME": str(settings.home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert new_status == "needs patient action"
    assert "healthex\t(connection)\tneeds patient action" in shown
    assert "acct-reauth" not in shown and user_key not in shown


def test_refresh_delivers_each_facility_again_without_duplicating_rows(
    network: tuple[Settings, SandboxConfig],
) -> None:
    settings, config = network
    user_key = _all_deliveries_ready(settings, config, "acct-refresh")
    n = len(_facilities(config.base_url, "healthex", user_key))
    before = _notifications(settings).height
    rows_before = {t: len(curated(settings, t, user_key, "healthex")) for t in CURATED_TABLES}

    assert refresh(settings, "acct-refresh") == "waiting"
    _tick_until(settings, {}, lambda: _notifications(settings).height == before + n, 60)
    for _ in range(3):
        tick_sensors(settings, {})

    assert _notifications(settings).height == before + n
    assert {t: len(curated(settings, t, user_key, "healthex")) for t in CURATED_TABLES} == (
        rows_before
    )
