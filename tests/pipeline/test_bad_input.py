"""Bad input is quarantined with its position and reason, and costs nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import polars as pl

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import curated, quarantine
from tests.support.fixture_sets import fixture_dir

GOOD_LAB = {
    "resourceType": "Observation",
    "id": "lab-good",
    "status": "final",
    "category": [{"coding": [{"code": "laboratory"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
    "effectiveDateTime": "2024-01-02T03:04:05Z",
    "valueQuantity": {"value": 95, "unit": "mg/dL"},
}


def _lab(resource_id: str, **changes: object) -> dict[str, object]:
    return {**GOOD_LAB, "id": resource_id, **changes}


def _write(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


CASES: dict[str, tuple[str, bytes, str, str]] = {
    # name: (file name, bytes, expected locator, expected reason)
    "invalid_json": (
        "bad.json",
        b'{"resourceType": "Observation", "id":',
        "document",
        "invalid JSON",
    ),
    "empty_file": ("empty.json", b"", "file", "empty file"),
    "bad_ndjson_line": (
        "labs.ndjson",
        orjson.dumps(_lab("nd-1")) + b"\n{oops\n" + orjson.dumps(_lab("nd-2")) + b"\n",
        "line 2",
        "invalid JSON",
    ),
    "missing_resource_type": (
        "no-type.json",
        orjson.dumps({"id": "x", "status": "final"}),
        "document",
        "missing resourceType",
    ),
    "unknown_resource_type": (
        "unknown.json",
        orjson.dumps({"resourceType": "Observashun", "id": "x"}),
        "document",
        "unknown resourceType",
    ),
    "entry_without_resource": (
        "bundle.json",
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"fullUrl": "urn:uuid:1"}, {"resource": _lab("in-bundle")}],
            }
        ),
        "document entry 1",
        "bundle entry without resource",
    ),
    "value_does_not_cast": (
        "uncastable.json",
        orjson.dumps(_lab("lab-bad-value", valueQuantity={"value": "ninety", "unit": "mg/dL"})),
        "curated row",
        "value does not cast: value_quantity_value",
    ),
}


# The good resources that share a file with the bad part, and must land anyway.
ALSO_LANDS: dict[str, tuple[str, ...]] = {
    "bad_ndjson_line": ("nd-1", "nd-2"),
    "entry_without_resource": ("in-bundle",),
}


def test_bad_input_is_quarantined_and_everything_else_lands(
    settings: Settings, tmp_path: Path
) -> None:
    """All cases in one import (one run): each bad file is placed by its own position."""
    other_user = import_files(settings, "acct-other", "healthex", [fixture_dir("synthea-dstu2")])
    other_before = curated(settings, "lab_results", other_user.user_key, "healthex")
    cases = sorted(CASES)
    good = _write(tmp_path / "in", "good.json", orjson.dumps(GOOD_LAB))
    bad = [_write(tmp_path / "in" / case, CASES[case][0], CASES[case][1]) for case in cases]

    report = import_files(settings, "acct-1", "healthex", [good, *bad])

    assert report.success
    rows = quarantine(settings, report.user_key, "healthex")
    for position, (case, path) in enumerate(zip(cases, bad, strict=True), start=2):
        _, _, locator, reason = CASES[case]
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        placed = rows.filter(pl.col("raw_sha256") == sha).select("locator", "reason").rows()
        assert placed == [(locator, reason)], f"case {case}: {len(placed)} quarantine rows"
        line = f"input {position} {locator}: {reason}"
        assert any(q.startswith(line) for q in report.quarantined), f"case {case}: no report line"
    assert rows.height == len(cases)
    landed = set(curated(settings, "lab_results", report.user_key, "healthex")["resource_id"])
    assert landed == {"lab-good", *(rid for ids in ALSO_LANDS.values() for rid in ids)}
    assert curated(settings, "lab_results", other_user.user_key, "healthex").equals(other_before)
