"""Deletion is physical: after a purge no byte of the user's data is left anywhere we write."""

from __future__ import annotations

import orjson
import polars as pl

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.deletion import purge
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.store import WebhookEventStore
from tests.pipeline.tables import CURATED_TABLES, curated
from tests.support.expected import iter_resources
from tests.support.fixture_sets import fixture_dir


def _traces(fixture: str) -> set[str]:
    """Names, birth dates, identifiers, resource ids and lab texts of a fixture set."""
    found: set[str] = set()
    for resource in iter_resources(fixture_dir(fixture)):
        found.add(str(resource.get("id", "")))
        if resource["resourceType"] == "Patient":
            for name in resource.get("name", []):
                family = name.get("family", [])  # a list in DSTU2, a string in R4
                found.update([family] if isinstance(family, str) else family)
                found.update(name.get("given", []))
            found.add(resource.get("birthDate", ""))
            found.update(i.get("value", "") for i in resource.get("identifier", []))
        if resource["resourceType"] == "Observation":
            found.add(resource.get("code", {}).get("text", ""))
    return {s for s in found if len(s) >= 8}


def _every_byte(settings: Settings) -> bytes:
    return b"\n".join(
        p.read_bytes() for p in sorted(settings.home.rglob("*")) if p.is_file() and p.stat().st_size
    )


def _rows(settings: Settings, user_key: str, connector: str) -> dict[str, int]:
    return {t: curated(settings, t, user_key, connector).height for t in CURATED_TABLES}


def test_purged_user_leaves_no_byte_and_other_users_keep_everything(settings: Settings) -> None:
    gone = import_files(settings, "acct-gone", "healthex", [fixture_dir("synthea-r4")])
    import_files(settings, "acct-gone", "apple_health", [fixture_dir("apple-health")])
    kept = import_files(settings, "acct-kept", "healthex", [fixture_dir("synthea-dstu2")])
    ConnectionStore(settings.registry_path).open(gone.user_key, "fasten")
    WebhookEventStore(settings.webhooks_path).record(
        "evt-1",
        "patient.connection_success",
        "2026-11-28T00:00:00Z",
        {"external_id": gone.user_key, "org_connection_id": "oc-1"},
    )
    traces = _traces("synthea-r4") - _traces("synthea-dstu2")
    kept_rows = _rows(settings, kept.user_key, "healthex")
    assert len(traces) > 500
    assert sum(t.encode() in _every_byte(settings) for t in list(traces)[:50]) > 0  # probe works

    certificate = purge(settings, "acct-gone")

    everything = _every_byte(settings)
    leaked = sorted(t for t in traces | {"acct-gone"} if t.encode() in everything)
    assert leaked == [], f"{len(leaked)} traces of the purged user remain"
    assert not list(settings.home.rglob(f"*{gone.user_key}*"))
    assert certificate.verified and certificate.remaining == []
    assert PseudonymRegistry(settings.registry_path).lookup("acct-gone") is None
    assert _rows(settings, kept.user_key, "healthex") == kept_rows
    stored = orjson.loads(
        next((settings.home / "compliance" / "certificates").glob("*.json")).read_bytes()
    )
    layers = {layer["layer"]: layer for layer in stored["layers"]}
    assert layers["warehouse"]["rows"] >= 133 and layers["raw"]["files"] > 0
    assert layers["connections"]["rows"] >= 1 and layers["webhook_events"]["rows"] == 1


def test_purging_one_connector_keeps_the_users_other_connectors(settings: Settings) -> None:
    user = import_files(settings, "acct-1", "healthex", [fixture_dir("synthea-dstu2")])
    import_files(settings, "acct-1", "apple_health", [fixture_dir("apple-health")])
    apple_rows = _rows(settings, user.user_key, "apple_health")

    certificate = purge(settings, "acct-1", "healthex")

    assert certificate.verified and certificate.connectors == ["healthex"]
    assert not list(settings.warehouse_root.rglob(f"user={user.user_key}/connector=healthex"))
    assert _rows(settings, user.user_key, "apple_health") == apple_rows
    assert PseudonymRegistry(settings.registry_path).lookup("acct-1") == user.user_key
    assert (
        pl.read_parquet(
            next(settings.warehouse_root.glob(f"lab_results/user={user.user_key}/*/data.parquet"))
        ).height
        == apple_rows["lab_results"]
    )
