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
# MedicationStatement + MedicationOrder, Immunization, Encounter, Condition, Procedure,
# AllergyIntolerance, DocumentReference (no DiagnosticReport there has a presentedForm), Patient.
PUBLISHED: dict[str, dict[str, int]] = {
    "synthea-r4": {
        "lab_results": 133,
        "medications": 25,
        "immunizations": 79,
        "encounters": 96,
        "conditions": 68,
        "procedures": 74,
        "allergies": 10,
        "clinical_notes": 0,
        "patients": 5,
    },
    "synthea-dstu2": {
        "lab_results": 11,
        "medications": 0,
        "immunizations": 22,
        "encounters": 7,
        "conditions": 0,
        "procedures": 5,
        "allergies": 0,
        "clinical_notes": 0,
        "patients": 1,
    },
    "pathling-ndjson": {
        "lab_results": 984,
        "medications": 51,
        "immunizations": 102,
        "encounters": 217,
        "conditions": 71,
        "procedures": 139,
        "allergies": 3,
        "clinical_notes": 0,
        "patients": 9,
    },
    "smart-ndjson": {
        "lab_results": 0,
        "medications": 1745,
        "immunizations": 161,
        "encounters": 1215,
        "conditions": 555,
        "procedures": 2056,
        "allergies": 11,
        "clinical_notes": 1215,
        "patients": 13,
    },
    "apple-health": {
        "lab_results": 1,
        "medications": 1,
        "immunizations": 0,
        "encounters": 0,
        "conditions": 0,
        "procedures": 0,
        "allergies": 0,
        "clinical_notes": 0,
        "patients": 0,
    },
    # SOURCES.md lists 8 fasten labs; one has an epoch-millisecond `issued` and is quarantined.
    # It lists 11 DocumentReferences; one (id 206130480) is delivered twice and counted once.
    "fasten": {
        "lab_results": 7,
        "medications": 5,
        "immunizations": 7,
        "encounters": 3,
        "conditions": 6,
        "procedures": 3,
        "allergies": 2,
        "clinical_notes": 10,
        "patients": 4,
    },
    # SOURCES.md lists 2 Patients: the same one, in two responses.
    "epic-r4": {
        "lab_results": 0,
        "medications": 2,
        "immunizations": 7,
        "encounters": 0,
        "conditions": 0,
        "procedures": 0,
        "allergies": 1,
        "clinical_notes": 1,
        "patients": 1,
    },
    "cerner-r4": {
        "lab_results": 0,
        "medications": 0,
        "immunizations": 0,
        "encounters": 68,
        "conditions": 0,
        "procedures": 0,
        "allergies": 0,
        "clinical_notes": 0,
        "patients": 1,
    },
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


def test_verification_status_entered_in_error_is_excluded(tmp_path: Path) -> None:
    refuted = {"coding": [{"code": "entered-in-error"}]}
    rows = [
        {"resourceType": "Condition", "id": "c1", "verificationStatus": refuted},
        {"resourceType": "Condition", "id": "c2", "verificationStatus": "entered-in-error"},
        {"resourceType": "Condition", "id": "c3", "verificationStatus": {"coding": []}},
        {"resourceType": "AllergyIntolerance", "id": "a1", "status": "entered-in-error"},
    ]
    (tmp_path / "c.ndjson").write_text("\n".join(map(json.dumps, rows)), "utf-8")

    result = tally(tmp_path)

    assert result.counts == {**NONE_EXCLUDED, "conditions": 1}
    assert result.entered_in_error == {**NONE_EXCLUDED, "conditions": 2, "allergies": 1}


def test_diagnostic_report_is_a_note_only_with_a_presented_form(tmp_path: Path) -> None:
    form = [{"contentType": "text/plain", "data": "aGVsbG8="}]
    rows = [
        {"resourceType": "DiagnosticReport", "id": "with", "presentedForm": form},
        {"resourceType": "DiagnosticReport", "id": "empty", "presentedForm": []},
        {"resourceType": "DiagnosticReport", "id": "without"},
        {"resourceType": "DocumentReference", "id": "doc", "content": []},
    ]
    (tmp_path / "r.ndjson").write_text("\n".join(map(json.dumps, rows)), "utf-8")

    assert tally(tmp_path).counts == {**NONE_EXCLUDED, "clinical_notes": 2}


def test_note_whose_shown_attachment_is_not_base64_is_not_counted(tmp_path: Path) -> None:
    def note(resource_id: str, *attachments: dict[str, str]) -> dict[str, object]:
        content = [{"attachment": a} for a in attachments]
        return {"resourceType": "DocumentReference", "id": resource_id, "content": content}

    pdf_bad = {"contentType": "application/pdf", "data": "not base64!"}
    text_ok = {"contentType": "text/plain", "data": "aGVs\nbG8="}
    rows = [
        note("bad-shown", pdf_bad),
        note("bad-not-shown", pdf_bad, text_ok),
        note("url-only", {"contentType": "application/pdf", "url": "Binary/1"}),
    ]
    (tmp_path / "n.ndjson").write_text("\n".join(map(json.dumps, rows)), "utf-8")

    assert tally(tmp_path).counts["clinical_notes"] == 2
