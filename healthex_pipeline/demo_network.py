"""The demo's network path: vendors' sandbox and webhook receiver as real processes, sensors on.

Users connect through HealthEx and Fasten; the sandbox plays each patient consenting, then its
facilities deliver (HealthEx pushes files, Fasten sends signed webhooks with download links), most
within seconds and some after "an hour" (compressed by ``time_scale``). The demo ticks the sensors
the way the Dagster daemon would, until every facility is ready or the deadline passes.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime

import httpx

from healthex_pipeline.connect import connect
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.runs import tick_sensors
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.population import build_pools
from healthex_pipeline.sandbox.testing import running_sandbox, vendor_environment
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.testing import running_receiver

CONNECTORS = ("healthex", "fasten")
TICK_SECONDS = 0.5


@dataclass
class NetworkResult:
    """What the network path did: expectations, facilities, timings (seconds), failures."""

    expected: Counter[str] = field(default_factory=Counter)
    users: int = 0
    facilities: int = 0
    ready: int = 0
    runs: int = 0
    failed_runs: int = 0
    fastest_ready: float = 0.0
    slowest_ready: float = 0.0


def _ready_times(settings: Settings, connected_at: dict[str, float]) -> list[float]:
    """Seconds from connect to each ready facility."""
    store = ConnectionStore(settings.registry_path)
    times = []
    for user_key, started in connected_at.items():
        for line in store.statuses(user_key):
            if line.facility and line.status == "ready":
                ready_at = datetime.fromisoformat(store.updated_at(user_key, line)).timestamp()
                times.append(ready_at - started)
    return times


def run_network(
    settings: Settings,
    n_users: int,
    seed: int,
    time_scale: float,
    deadline_seconds: float,
    workers: int = 2,
) -> NetworkResult:
    """Connect every sandbox patient, then tick sensors until all facilities are ready."""
    result = NetworkResult()
    pools = build_pools(n_users, seed, DelayPlan())
    secret = SandboxConfig().webhook_secret
    with ExitStack() as stack:
        receiver = stack.enter_context(running_receiver(settings.home, secret))
        config = SandboxConfig(
            n_users=n_users,
            seed=seed,
            webhook_url=f"{receiver}/webhooks/fasten",
            webhook_secret=secret,
            landing_dir=settings.landing_location,
            time_scale=time_scale,
        )
        base_url = stack.enter_context(running_sandbox(config))
        stack.enter_context(vendor_environment(config, base_url))
        # Workers start after the vendor settings are in the environment, so they inherit them.
        pool = stack.enter_context(
            ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        )
        connected_at: dict[str, float] = {}
        for connector in CONNECTORS:
            for patient in pools.of(connector):
                connected = connect(settings, patient.account_id, connector)
                connected_at[connected.user_key] = time.time()
                httpx.get(connected.patient_url, timeout=30).raise_for_status()  # patient consents
                result.expected.update(patient.expected)
                result.facilities += len(patient.facilities)
        result.users = len({p.account_id for c in CONNECTORS for p in pools.of(c)})
        cursors: dict[str, str | None] = {}
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            outcomes = tick_sensors(settings, cursors, pool)
            result.runs += len(outcomes)
            result.failed_runs += sum(not o.success for o in outcomes)
            if len(_ready_times(settings, connected_at)) >= result.facilities:
                break
            time.sleep(TICK_SECONDS)
    times = _ready_times(settings, connected_at)
    result.ready = len(times)
    result.fastest_ready = min(times, default=0.0)
    result.slowest_ready = max(times, default=0.0)
    return result
