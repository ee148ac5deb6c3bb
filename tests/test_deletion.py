"""Deletion is physical: after a purge no byte of the user's data is left anywhere we write."""

from __future__ import annotations

import orjson
import pytest

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.deletion import purge
from healthex_pipeline.importer import import_files
from healthex_pipeline.keys import KeyDestroyedError
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.store import WebhookEventStore
from tests.pipeline.tables import CURATED_TABLES, curated, read_frame
from tests.support.expected import iter_resources
from tests.support.fixture_sets import ARRIVES_THROUGH, fixture_dir, require_set
from tests.support.home_scan import every_byte


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
    before = every_byte(settings)
    assert sum(t.encode() in before for t in traces) > 500  # the probe finds what is there

    certificate = purge(settings, "acct-gone")

    everything = every_byte(settings)
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


# Each set is purged beside a kept user of another set.
SCANNED_SETS = ARRIVES_THROUGH


def _leaf_strings(fixture: str) -> set[str]:
    """Every string value of length 8 or more in a set's resources: its rare clinical values."""
    found: set[str] = set()
    stack: list[object] = list(iter_resources(fixture_dir(fixture)))
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and len(item) >= 8:
            found.add(item)
    return found


@pytest.mark.parametrize("fixture_set", sorted(SCANNED_SETS))
def test_byte_scan_after_purge_finds_nothing_of_each_fixture_set(
    settings: Settings, fixture_set: str
) -> None:
    directory = require_set(fixture_set)
    kept_set = "apple-health" if fixture_set != "apple-health" else "synthea-dstu2"
    kept = import_files(settings, "acct-kept", SCANNED_SETS[kept_set], [fixture_dir(kept_set)])
    # What the home holds without the user (the pipeline's own words, the kept user's data)
    # cannot count as a trace of theirs.
    baseline = every_byte(settings)
    # Resource type names are vocabulary: run metadata counts resources by type, never values.
    types = {r["resourceType"] for r in iter_resources(directory)}
    candidates = (_traces(fixture_set) | _leaf_strings(fixture_set)) - types - {""}
    traces = {t for t in candidates if t.encode() not in baseline}
    gone = import_files(settings, "acct-gone", SCANNED_SETS[fixture_set], [directory])
    kept_rows = _rows(settings, kept.user_key, SCANNED_SETS[kept_set])
    before = every_byte(settings)
    present = {t for t in traces if t.encode() in before}
    assert present, "the probe must find the user's data before the purge"

    certificate = purge(settings, "acct-gone")

    after = every_byte(settings)
    assert sorted(t for t in present | {"acct-gone"} if t.encode() in after) == []
    assert certificate.verified and not list(settings.home.rglob(f"*{gone.user_key}*"))
    assert _rows(settings, kept.user_key, SCANNED_SETS[kept_set]) == kept_rows


def test_copies_that_escaped_the_purge_are_unreadable(settings: Settings, tmp_path) -> None:
    gone = import_files(settings, "acct-gone", "healthex", [fixture_dir("synthea-dstu2")])
    vault = settings.vault()
    raw_object = next(settings.raw_root.glob(f"user={gone.user_key}/*/objects/*"))
    curated_file = next(settings.warehouse_root.glob(f"lab_results/user={gone.user_key}/*/*"))
    backup = tmp_path / "backup"
    backup.mkdir()
    object_copy = backup / raw_object.name  # a sealed file opens under its own name only
    object_copy.write_bytes(raw_object.read_bytes())
    curated_copy = backup / "data.parquet"
    curated_copy.write_bytes(curated_file.read_bytes())
    assert vault.open_bytes(object_copy, gone.user_key, "healthex")  # readable while keys exist
    assert vault.read_parquet(curated_copy).num_rows > 0

    purge(settings, "acct-gone")

    with pytest.raises(KeyDestroyedError):
        vault.open_bytes(object_copy, gone.user_key, "healthex")
    with pytest.raises(KeyDestroyedError):
        settings.vault().read_parquet(curated_copy)


def test_purging_one_connector_keeps_the_users_other_connectors(settings: Settings) -> None:
    user = import_files(settings, "acct-1", "healthex", [fixture_dir("synthea-dstu2")])
    import_files(settings, "acct-1", "apple_health", [fixture_dir("apple-health")])
    apple_rows = _rows(settings, user.user_key, "apple_health")

    certificate = purge(settings, "acct-1", "healthex")

    assert certificate.verified and certificate.connectors == ["healthex"]
    assert not list(settings.warehouse_root.rglob(f"user={user.user_key}/connector=healthex"))
    assert _rows(settings, user.user_key, "apple_health") == apple_rows
    assert PseudonymRegistry(settings.registry_path).lookup("acct-1") == user.user_key
    lab_file = next(
        settings.warehouse_root.glob(f"lab_results/user={user.user_key}/*/data.parquet")
    )
    assert read_frame(settings, lab_file).height == apple_rows["lab_results"]
