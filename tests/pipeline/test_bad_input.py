"""Bad input is quarantined with its position and reason, and costs nothing else."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

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


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_quarantined_and_everything_else_lands(
    settings: Settings, tmp_path: Path, case: str
) -> None:
    name, data, locator, reason = CASES[case]
    other_user = import_files(settings, "acct-other", "healthex", [fixture_dir("synthea-dstu2")])
    other_before = curated(settings, "lab_results", other_user.user_key, "healthex")
    good = _write(tmp_path / "in", "good.json", orjson.dumps(GOOD_LAB))
    bad = _write(tmp_path / "in", name, data)

    report = import_files(settings, "acct-1", "healthex", [good, bad])

    assert report.success
    rows = quarantine(settings, report.user_key, "healthex")
    assert rows.select("locator", "reason").rows() == [(locator, reason)]
    assert any(line.startswith(f"input 2 {locator}: {reason}") for line in report.quarantined)
    landed = set(curated(settings, "lab_results", report.user_key, "healthex")["resource_id"])
    assert landed == {"lab-good", *ALSO_LANDS.get(case, ())}
    assert curated(settings, "lab_results", other_user.user_key, "healthex").equals(other_before)
