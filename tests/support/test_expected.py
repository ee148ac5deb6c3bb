from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.support.expected import (
    TABLES,
    entered_in_error_counts,
    expected_counts,
    iter_resources,
    tally,
)
from tests.support.fixture_sets import FIXTURE_SETS, require_set

# Published in ../shared/fixtures/SOURCES.md: Observation "lab" split, MedicationRequest +
# MedicationStatement + MedicationOrder, Immunization, Encounter.
PUBLISHED: dict[str, dict[str, int]] = {
    "synthea-r4": {"lab_results": 133, "medications": 25, "immunizations": 79, "encounters": 96},
    "synthea-dstu2": {"lab_results": 11, "medications": 0, "immunizations": 22, "encounters": 7},
    "pathling-ndjson": {
        "lab_results": 984,
        "medications": 51,
        "immunizations": 102,
        "encounters": 217,
    },
    "smart-ndjson": {
        "lab_results": 0,
        "medications": 1745,
        "immunizations": 161,
        "encounters": 1215,
    },
    "apple-health": {"lab_results": 1, "medications": 1, "immunizations": 0, "encounters": 0},
    # SOURCES.md lists 8 fasten labs; one has an epoch-millisecond `issued` and is quarantined.
    "fasten": {"lab_results": 7, "medications": 5, "immunizations": 7, "encounters": 3},
    "epic-r4": {"lab_results": 0, "medications": 2, "immunizations": 7, "encounters": 0},
    "cerner-r4": {"lab_results": 0, "medications": 0, "immunizations": 0, "encounters": 68},
}
NONE_EXCLUDED = dict.fromkeys(TABLES, 0)


def test_published_numbers_cover_every_set() -> None:
    assert set(PUBLISHED) == set(FIXTURE_SETS)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_oracle_matches_published_counts(name: str) -> None:
    require_set(name)
    assert expected_counts(name) == PUBLISHED[name]
    assert entered_in_error_counts(name) == NONE_EXCLUDED


def test_fasten_broken_parse_files_are_valid_json_and_counted() -> None:
    root = require_set("fasten")
    by_id = {r.get("id"): r for r in iter_resources(root)}
    assert by_id["e7vTGSIu3VmPxDxo8hbtSKQ3"]["status"] == "Finished"
    assert "eDLs6fOQWxxxxxyRm6L53E5CxAMgXynSZ6fIlFdJM8SeT.qhxNM3" in by_id


def test_a_lab_with_a_numeric_date_is_not_counted(tmp_path: Path) -> None:
    lab = {
        "resourceType": "Observation",
        "id": "o",
        "category": {"coding": [{"code": "laboratory"}]},
    }
    _write_json(tmp_path / "ok.json", lab)
    _write_json(tmp_path / "bad.json", {**lab, "id": "p", "issued": 1120521600000})

    assert tally(tmp_path).counts["lab_results"] == 1


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value), encoding="utf-8")


def test_bundle_rules_and_distinct_keys(tmp_path: Path) -> None:
    encounter = {"resourceType": "Encounter", "id": "e1", "status": "finished"}
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": encounter},
            {"fullUrl": "urn:uuid:no-resource"},
            {"resource": {"resourceType": "OperationOutcome", "issue": []}},
            {"resource": {"resourceType": "Immunization"}},
            {"resource": {"resourceType": "Immunization"}},
        ],
    }
    _write_json(tmp_path / "bundle.json", bundle)
    _write_json(tmp_path / "again.json", encounter)
    _write_json(tmp_path / "_index.json", encounter | {"id": "e2"})
    (tmp_path / "broken.json").write_text('{"resourceType": "Encounter", "id": "e3"', "utf-8")

    result = tally(tmp_path)

    assert result.counts == {**NONE_EXCLUDED, "encounters": 1, "immunizations": 2}


def test_line_files_skip_noise_and_log(tmp_path: Path) -> None:
    lines = [
        json.dumps({"resourceType": "MedicationOrder", "id": "m1", "_id": "x"}),
        "",
        "[1, 2]",
        json.dumps({"id": "no-type"}),
        "not json",
        json.dumps({"resourceType": "MedicationStatement", "id": "m2"}),
    ]
    (tmp_path / "a.phr").write_text("\n".join(lines), "utf-8")
    gz_line = json.dumps({"resourceType": "MedicationRequest", "id": "m3"}).encode()
    (tmp_path / "b.ndjson.gz").write_bytes(gzip.compress(gz_line))
    (tmp_path / "log.ndjson").write_text(json.dumps({"resourceType": "Immunization"}), "utf-8")

    assert tally(tmp_path).counts == {**NONE_EXCLUDED, "medications": 3}


def test_lab_category_in_r4_array_and_dstu2_object(tmp_path: Path) -> None:
    lab = {"coding": [{"code": "laboratory"}]}
    vital = {"coding": [{"code": "vital-signs"}]}
    rows = [
        {"resourceType": "Observation", "id": "r4", "category": [vital, lab]},
        {"resourceType": "Observation", "id": "dstu2", "category": lab},
        {"resourceType": "Observation", "id": "vital", "category": [vital]},
        {"resourceType": "Observation", "id": "none"},
    ]
    (tmp_path / "obs.ndjson").write_text("\n".join(map(json.dumps, rows)), "utf-8")

    assert tally(tmp_path).counts["lab_results"] == 2


def test_entered_in_error_is_excluded_and_tallied(tmp_path: Path) -> None:
    rows = [
        {"resourceType": "Immunization", "id": "i1", "status": "completed"},
        {"resourceType": "Immunization", "id": "i2", "status": "entered-in-error"},
    ]
    (tmp_path / "imm.ndjson").write_text("\n".join(map(json.dumps, rows)), "utf-8")

    result = tally(tmp_path)

    assert result.counts["immunizations"] == 1
    assert result.entered_in_error == {**NONE_EXCLUDED, "immunizations": 1}
