"""Crafted resources through the whole pipeline: the rules of the conditions, procedures,
allergies and clinical_notes models that no fixture set exercises (presentedForm, oversized and
non-UTF-8 notes, invalid base64, DSTU2 shapes, coding preference, entered-in-error)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import curated, quarantine

TEXT_LIMIT = 65536
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# 3 bytes of ASCII then 2-byte characters: the limit falls inside a character.
LONG_TEXT = "abc" + "é" * TEXT_LIMIT
NOTE_TEXT = "Patient seen. Température normale. ✓\n"
PDF = b"%PDF-1.4 not really a pdf"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _document(resource_id: str, *attachments: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "id": resource_id,
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Progress"},
        "date": "2024-02-03T04:05:06Z",
        "author": [{"reference": "Practitioner/1", "display": "Dr. Who"}],
        "content": [{"attachment": a} for a in attachments],
        **extra,
    }


def _coded(*codings: tuple[str, str, str]) -> dict[str, Any]:
    return {"coding": [{"system": s, "code": c, "display": d} for s, c, d in codings]}


R4_RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "DiagnosticReport",
        "id": "report-with-form",
        "status": "final",
        "code": _coded(("http://loinc.org", "11502-2", "Laboratory report")),
        "effectiveDateTime": "2024-01-02T03:04:05Z",
        "issued": "2024-01-03T00:00:00Z",
        "performer": [{"display": "Lab One"}],
        "presentedForm": [
            {"contentType": "text/plain; charset=utf-8", "data": _b64(NOTE_TEXT.encode())}
        ],
    },
    {"resourceType": "DiagnosticReport", "id": "report-without-form", "status": "final"},
    _document(
        "note-pdf-and-text",
        {"contentType": "application/pdf", "data": _b64(PDF)},
        {"contentType": "text/plain", "data": _b64(NOTE_TEXT.encode())},
    ),
    _document("note-long", {"contentType": "text/plain", "data": _b64(LONG_TEXT.encode())}),
    _document("note-pdf", {"contentType": "application/pdf", "data": _b64(PDF)}),
    _document("note-latin1", {"contentType": "text/plain", "data": _b64("café".encode("latin-1"))}),
    _document(
        "note-url",
        {"contentType": "application/pdf", "url": "https://ehr.example/Binary/XR-1", "size": 999},
    ),
    _document("note-bad-base64", {"contentType": "text/plain", "data": "@@not base64@@"}),
    _document("note-error", {"contentType": "text/plain", "data": ""}, status="entered-in-error"),
    {
        "resourceType": "Condition",
        "id": "cond-preference",
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
        "code": _coded(
            ("http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "Type 2 diabetes"),
            (SNOMED, "44054006", "Diabetes mellitus type 2"),
        ),
        "onsetPeriod": {"start": "2019-03"},
        "abatementDateTime": "2020",
    },
    {
        "resourceType": "Condition",
        "id": "cond-icd",
        "code": _coded(("urn:oid:1.2.3", "X1", "Local"), (ICD10CM, "I10", "Hypertension")),
    },
    {
        "resourceType": "Condition",
        "id": "cond-error",
        "verificationStatus": {"coding": [{"code": "entered-in-error"}]},
        "code": _coded((SNOMED, "38341003", "Hypertension")),
    },
    {
        "resourceType": "AllergyIntolerance",
        "id": "allergy-reaction-substance",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "reaction": [
            {
                "substance": _coded((RXNORM, "70618", "Penicillin")),
                "manifestation": [
                    _coded((SNOMED, "126485001", "Hives")),
                    {"text": "Itchy eyes"},
                ],
                "severity": "moderate",
            },
            {"severity": "severe"},
        ],
    },
    {
        "resourceType": "Procedure",
        "id": "proc-cpt",
        "status": "completed",
        "code": _coded(
            ("urn:oid:9", "L1", "Local"), ("http://www.ama-assn.org/go/cpt", "45378", "Colonoscopy")
        ),
        "performedPeriod": {"start": "2023-05-06T07:00:00Z"},
    },
]

DSTU2_RESOURCES: list[dict[str, Any]] = [
    # A string Encounter.class marks the delivery as DSTU2.
    {"resourceType": "Encounter", "id": "enc-1", "status": "finished", "class": "ambulatory"},
    {
        "resourceType": "Condition",
        "id": "cond-dstu2",
        "patient": {"reference": "Patient/p"},
        "encounter": {"reference": "urn:uuid:enc-1"},
        "code": _coded((SNOMED, "195662009", "Acute viral pharyngitis")),
        "clinicalStatus": "resolved",
        "verificationStatus": "confirmed",
        "category": _coded(("http://hl7.org/fhir/condition-category", "diagnosis", "Diagnosis")),
        "onsetDateTime": "2015-04-01T10:00:00-04:00",
        "dateRecorded": "2015-04-01",
    },
    {
        "resourceType": "AllergyIntolerance",
        "id": "allergy-dstu2",
        "patient": {"reference": "Patient/p"},
        "substance": _coded((SNOMED, "227493005", "Cashew nuts")),
        "status": "confirmed",
        "criticality": "CRITH",
        "type": "allergy",
        "category": "food",
        "reaction": [{"manifestation": [_coded((SNOMED, "39579001", "Anaphylaxis"))]}],
    },
    {
        "resourceType": "Procedure",
        "id": "proc-dstu2",
        "status": "aborted",
        "notPerformed": True,
        "code": _coded((SNOMED, "80146002", "Appendectomy")),
        "performedDateTime": "2016-07-08",
    },
    {
        "resourceType": "DocumentReference",
        "id": "note-dstu2",
        "status": "current",
        "type": _coded(("http://loinc.org", "18842-5", "Discharge summary")),
        "created": "2016-07-09T10:00:00Z",
        "indexed": "2016-07-10T10:00:00Z",
        "content": [{"attachment": {"contentType": "text/plain", "data": _b64(b"Discharged.")}}],
    },
]


def _bundle(resources: list[dict[str, Any]]) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


@pytest.fixture(scope="module")
def r4(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ImportReport]:
    return _import(tmp_path_factory.mktemp("r4"), R4_RESOURCES)


@pytest.fixture(scope="module")
def dstu2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ImportReport]:
    return _import(tmp_path_factory.mktemp("dstu2"), DSTU2_RESOURCES)


def _import(root: Path, resources: list[dict[str, Any]]) -> tuple[Settings, ImportReport]:
    settings = Settings(home=root / "home")
    settings.ensure()
    path = root / "bundle.json"
    path.write_bytes(_bundle(resources))
    return settings, import_files(settings, "acct-crafted", "healthex", [path])


def _rows(run: tuple[Settings, ImportReport], table: str) -> dict[str, dict[str, Any]]:
    settings, report = run
    frame = curated(settings, table, report.user_key, "healthex")
    return {row["resource_id"]: row for row in frame.iter_rows(named=True)}


def test_notes_come_from_presented_forms_and_document_references_only(
    r4: tuple[Settings, ImportReport],
) -> None:
    notes = _rows(r4, "clinical_notes")

    assert sorted(notes) == [
        "note-latin1",
        "note-long",
        "note-pdf",
        "note-pdf-and-text",
        "note-url",
        "report-with-form",
    ]
    report = notes["report-with-form"]
    assert (report["resource_type"], report["note_type_code"], report["author_display"]) == (
        "DiagnosticReport",
        "11502-2",
        "Lab One",
    )
    assert report["note_date"].isoformat() == "2024-01-02T03:04:05+00:00"


def test_text_attachment_is_decoded_with_its_size_and_hash(
    r4: tuple[Settings, ImportReport],
) -> None:
    note = _rows(r4, "clinical_notes")["note-pdf-and-text"]
    data = NOTE_TEXT.encode()

    assert note["text"] == NOTE_TEXT
    assert (note["content_type"], note["content_source"], note["attachment_count"]) == (
        "text/plain",
        "inline",
        2,
    )
    assert note["content_size_bytes"] == len(data)
    assert note["content_sha256"] == hashlib.sha256(data).hexdigest()
    assert (note["text_truncated"], note["text_limit_bytes"]) == (False, TEXT_LIMIT)
    assert (note["note_type_code"], note["note_type_display"]) == ("11506-3", "Progress")


def test_long_text_is_cut_at_a_character_boundary_within_the_limit(
    r4: tuple[Settings, ImportReport],
) -> None:
    note = _rows(r4, "clinical_notes")["note-long"]

    assert note["text_truncated"] is True
    assert LONG_TEXT.startswith(note["text"])
    assert TEXT_LIMIT - 2 < len(note["text"].encode()) <= TEXT_LIMIT
    assert note["content_size_bytes"] == len(LONG_TEXT.encode())


def test_binary_and_undecodable_attachments_keep_size_and_hash_only(
    r4: tuple[Settings, ImportReport],
) -> None:
    notes = _rows(r4, "clinical_notes")
    pdf, latin1 = notes["note-pdf"], notes["note-latin1"]

    assert (pdf["text"], pdf["text_truncated"]) == (None, None)
    assert pdf["content_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (latin1["text"], latin1["content_size_bytes"]) == (None, len("café".encode("latin-1")))
    assert latin1["content_sha256"] == hashlib.sha256("café".encode("latin-1")).hexdigest()


def test_url_only_attachment_is_described_not_fetched_and_its_url_not_kept(
    r4: tuple[Settings, ImportReport],
) -> None:
    note = _rows(r4, "clinical_notes")["note-url"]

    assert (note["content_source"], note["content_type"], note["content_size_bytes"]) == (
        "url",
        "application/pdf",
        999,
    )
    assert (note["content_sha256"], note["text"]) == (None, None)
    assert not any("Binary/XR-1" in str(value) for value in note.values())


def test_no_base64_reaches_the_table(r4: tuple[Settings, ImportReport]) -> None:
    settings, report = r4
    frame = curated(settings, "clinical_notes", report.user_key, "healthex")
    encoded = {_b64(NOTE_TEXT.encode()), _b64(PDF), _b64(LONG_TEXT.encode())[:64]}

    cells = [str(v) for column in frame.columns for v in frame[column].to_list()]

    assert not [cell for cell in cells if any(e in cell for e in encoded)]


def test_invalid_base64_is_quarantined_and_entered_in_error_excluded(
    r4: tuple[Settings, ImportReport],
) -> None:
    settings, report = r4
    rows = quarantine(settings, report.user_key, "healthex").filter(
        pl.col("resource_type") == "DocumentReference"
    )

    assert rows.select("resource_id", "reason").rows() == [
        ("note-bad-base64", "value does not cast: attachment_data")
    ]
    assert "cond-error" not in _rows(r4, "conditions")


def test_condition_code_prefers_snomed_then_icd10cm(r4: tuple[Settings, ImportReport]) -> None:
    conditions = _rows(r4, "conditions")
    preferred, icd = conditions["cond-preference"], conditions["cond-icd"]

    assert (preferred["code"], preferred["code_system"], preferred["code_display"]) == (
        "44054006",
        SNOMED,
        "Diabetes mellitus type 2",
    )
    assert (preferred["category"], preferred["verification_status"]) == (
        "encounter-diagnosis",
        "confirmed",
    )
    assert preferred["onset_at"].isoformat() == "2019-03-01T00:00:00+00:00"
    assert preferred["abatement_at"].isoformat() == "2020-01-01T00:00:00+00:00"
    assert (icd["code"], icd["code_system"]) == ("I10", ICD10CM)


def test_allergy_substance_falls_back_to_the_reaction_and_reactions_nest(
    r4: tuple[Settings, ImportReport],
) -> None:
    allergy = _rows(r4, "allergies")["allergy-reaction-substance"]

    assert (allergy["substance_code"], allergy["substance_display"]) == ("70618", "Penicillin")
    assert allergy["reactions"] == [
        {
            "manifestation": "Hives",
            "manifestation_code": "126485001",
            "manifestation_system": SNOMED,
            "severity": "moderate",
        },
        {
            "manifestation": "Itchy eyes",
            "manifestation_code": None,
            "manifestation_system": None,
            "severity": "moderate",
        },
        {
            "manifestation": None,
            "manifestation_code": None,
            "manifestation_system": None,
            "severity": "severe",
        },
    ]


def test_procedure_code_falls_back_to_cpt_and_an_open_period_has_no_end(
    r4: tuple[Settings, ImportReport],
) -> None:
    procedure = _rows(r4, "procedures")["proc-cpt"]

    assert (procedure["code"], procedure["code_system"]) == (
        "45378",
        "http://www.ama-assn.org/go/cpt",
    )
    assert procedure["performed_start"].isoformat() == "2023-05-06T07:00:00+00:00"
    assert procedure["performed_end"] is None


def test_dstu2_shapes_land_in_r4_columns(dstu2: tuple[Settings, ImportReport]) -> None:
    condition = _rows(dstu2, "conditions")["cond-dstu2"]
    allergy = _rows(dstu2, "allergies")["allergy-dstu2"]
    procedure = _rows(dstu2, "procedures")["proc-dstu2"]
    note = _rows(dstu2, "clinical_notes")["note-dstu2"]

    assert dstu2[1].success
    assert (condition["clinical_status"], condition["verification_status"]) == (
        "resolved",
        "confirmed",
    )
    assert (condition["category"], condition["encounter_id"]) == ("encounter-diagnosis", "enc-1")
    assert condition["recorded_at"].isoformat() == "2015-04-01T00:00:00+00:00"
    assert (allergy["substance_code"], allergy["criticality"], allergy["categories"]) == (
        "227493005",
        "high",
        ["food"],
    )
    assert (allergy["clinical_status"], allergy["verification_status"]) == (None, "confirmed")
    assert [r["manifestation"] for r in allergy["reactions"]] == ["Anaphylaxis"]
    assert procedure["status"] == "not-done"
    assert procedure["performed_start"] == procedure["performed_end"]
    assert (note["text"], note["note_date"].isoformat()) == (
        "Discharged.",
        "2016-07-09T10:00:00+00:00",
    )
