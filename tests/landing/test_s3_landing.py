"""HealthEx pushes into an S3 bucket (moto as a real server) instead of a local folder."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from healthex_pipeline import landing
from healthex_pipeline.connect import connect
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import tick_sensors
from healthex_pipeline.sandbox.config import DelayPlan, SandboxConfig
from healthex_pipeline.sandbox.testing import running_sandbox, vendor_environment
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

ALL_FAST = DelayPlan(fast_min_seconds=0.0, fast_max_seconds=0.2, slow_share=0.0)


def _fixture_bundle() -> bytes:
    return next(fixture_dir("synthea-dstu2").glob("*.json")).read_bytes()


def _key(user_key: str, facility: str, delivery: str) -> str:
    return f"org/proj/hx-patient-1/{user_key}/{facility}/{delivery}.json"


def test_store_lists_streams_and_deletes_s3_objects(bucket: str) -> None:
    store = LandingStore.at(f"s3://{bucket}/landing")
    big = b"x" * (3 * 1024 * 1024 + 5)
    store.write("a/b.json", big)
    store.write("a/c.json", b"{}")

    chunks = list(store.chunks("a/b.json"))
    keys = store.list_keys()
    store.delete("a/b.json")

    assert keys == ["a/b.json", "a/c.json"]
    assert len(chunks) > 1 and b"".join(chunks) == big
    assert store.list_keys() == ["a/c.json"]
    assert LandingStore.at(f"s3://{bucket}").list_keys() == ["landing/a/c.json"]


def test_take_stages_s3_deliveries_and_leaves_unknown_recipients(
    settings: Settings, bucket: str
) -> None:
    store = LandingStore.at(f"s3://{bucket}/healthex")
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-s3")
    stray = _key("u_000000000000000000000000", "fac-a", "d0")
    store.write(_key(user_key, "fac-a", "d1"), _fixture_bundle())
    store.write(stray, _fixture_bundle())

    taken = landing.take(
        store,
        settings,
        PseudonymRegistry(settings.registry_path),
        ConnectionStore(settings.registry_path),
    )

    assert list(taken.by_user) == [user_key] and len(taken.by_user[user_key]) == 1
    assert taken.unknown_recipient == 1
    assert store.list_keys() == [stray]
    [batch] = list(settings.raw_root.rglob("inbox/*/batch.json"))
    assert orjson.loads(batch.read_bytes())["names"] == ["fac-a/d1.json"]
    assert (batch.parent / "00000").read_bytes() == _fixture_bundle()


def test_sandbox_pushes_to_s3_and_the_partition_becomes_ready(tmp_path: Path, bucket: str) -> None:
    settings = Settings(home=tmp_path / "home", landing=f"s3://{bucket}/healthex")
    settings.ensure()
    config = SandboxConfig(n_users=3, seed=7, delays=ALL_FAST, landing_dir=settings.landing)
    with running_sandbox(config) as base_url, vendor_environment(config, base_url):
        connected = connect(settings, "acct-s3-e2e", "healthex")
        httpx.get(connected.patient_url, timeout=30).raise_for_status()
        listing = httpx.get(f"{base_url}/sandbox/patients").json()["healthex"]
        [entry] = [e for e in listing if e["external_id"] == connected.user_key]
        n_facilities = len(entry["patient"]["facilities"])
        store = ConnectionStore(settings.registry_path)
        cursors: dict[str, str | None] = {}
        deadline = time.monotonic() + 30
        statuses: list[str] = []
        while time.monotonic() < deadline:
            assert all(outcome.success for outcome in tick_sensors(settings, cursors))
            statuses = [s.status for s in store.statuses(connected.user_key) if s.facility]
            if statuses == ["ready"] * n_facilities:
                break
            time.sleep(0.3)

    assert statuses == ["ready"] * n_facilities
    assert LandingStore.at(settings.landing_location).list_keys() == []
