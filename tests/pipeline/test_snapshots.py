"""Deliveries are full snapshots: curated tables hold what each facility holds now."""

from __future__ import annotations

from pathlib import Path

import orjson

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.deletion import disconnect
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import tick_sensors
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import curated


def _lab(resource_id: str, value: float, updated: str) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": resource_id,
        "meta": {"lastUpdated": updated},
        "status": "final",
        "category": [{"coding": [{"code": "laboratory"}]}],
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]
        },
        "effectiveDateTime": "2024-01-02T03:04:05Z",
        "valueQuantity": {"value": value, "unit": "mg/dL"},
    }


def _bundle(*labs: dict[str, object]) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{lab['id']}", "resource": lab} for lab in labs]
    return orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


FIRST = _bundle(
    _lab("lab-kept", 90, "2024-01-01T00:00:00Z"),
    _lab("lab-updated", 100, "2024-01-01T00:00:00Z"),
    _lab("lab-removed", 110, "2024-01-01T00:00:00Z"),
)
SECOND = _bundle(
    _lab("lab-kept", 90, "2024-01-01T00:00:00Z"),
    _lab("lab-updated", 140, "2024-02-01T00:00:00Z"),
    _lab("lab-added", 80, "2024-02-01T00:00:00Z"),
)


def _push(settings: Settings, user_key: str, facility: str, delivery: str, data: bytes) -> None:
    folder = settings.landing_root / "org" / "proj" / "hx-1" / user_key / facility
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{delivery}.json").write_bytes(data)
    tick_sensors(settings, {})


def _labs(settings: Settings, user_key: str, connector: str) -> list[tuple[str, float]]:
    frame = curated(settings, "lab_results", user_key, connector)
    return sorted(zip(frame["resource_id"], frame["value_num"], strict=True))


def test_a_new_snapshot_adds_updates_and_removes(settings: Settings, tmp_path: Path) -> None:
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-1")
    _push(settings, user_key, "fac-a", "d1", FIRST)
    _push(settings, user_key, "fac-b", "d1", _bundle(_lab("lab-other", 70, "2024-01-01T00:00:00Z")))
    _push(settings, user_key, "fac-a", "d2", SECOND)

    fresh = tmp_path / "second.json"
    fresh.write_bytes(SECOND)
    reference = import_files(settings, "acct-reference", "healthex", [fresh])

    assert _labs(settings, user_key, "healthex") == sorted(
        [*_labs(settings, reference.user_key, "healthex"), ("lab-other", 70.0)]
    )
    assert ("lab-removed", 110.0) not in _labs(settings, user_key, "healthex")


def test_a_snapshot_delivered_again_after_another_is_current_again(settings: Settings) -> None:
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-1")
    _push(settings, user_key, "fac-a", "d1", FIRST)
    _push(settings, user_key, "fac-a", "d2", SECOND)
    _push(settings, user_key, "fac-a", "d3", FIRST)

    assert [r for r, _ in _labs(settings, user_key, "healthex")] == [
        "lab-kept",
        "lab-removed",
        "lab-updated",
    ]


def test_disconnecting_one_organization_removes_only_its_rows(settings: Settings) -> None:
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-1")
    _push(settings, user_key, "fac-a", "d1", FIRST)
    _push(settings, user_key, "fac-b", "d1", _bundle(_lab("lab-other", 70, "2024-01-01T00:00:00Z")))
    objects = settings.raw_root / f"user={user_key}" / "connector=healthex" / "objects"
    assert len(list(objects.iterdir())) == 2

    certificate = disconnect(settings, "acct-1", "healthex", "fac-a")

    assert certificate.verified, certificate.remaining
    assert _labs(settings, user_key, "healthex") == [("lab-other", 70.0)]
    assert len(list(objects.iterdir())) == 1
    assert [s.facility for s in ConnectionStore(settings.registry_path).statuses(user_key)] == [
        "fac-b"
    ]
    layers = {layer.layer: layer for layer in certificate.layers}
    assert layers["raw"].files == 2  # fac-a's object and its manifest
