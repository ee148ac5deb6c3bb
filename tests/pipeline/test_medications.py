"""Medications through the whole pipeline: the fixture sets whose medicationReferences resolve
(or do not), and crafted resources for every way the drug is resolved, RxNorm chosen among
codings, dosage timing/route/dose, and the resource types no fixture set holds (R4
MedicationAdministration, DSTU2 MedicationStatement)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import curated, quarantine
from tests.support.expected import iter_resources, table_of, tally
from tests.support.fixture_sets import fixture_dir, require_set

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
SNOMED = "http://snomed.info/sct"


def _medication(resource_id: str, rxnorm: str, display: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": resource_id,
        "code": {"coding": [{"system": RXNORM, "code": rxnorm, "display": display}]},
        **extra,
    }


def _request(resource_id: str, **medication: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": resource_id,
        "status": "active",
        "intent": "order",
        "authoredOn": "2024-03-04T05:06:07Z",
        **medication,
    }


R4_BUNDLE: list[dict[str, Any]] = [
    _request(
        "req-code",
        medicationCodeableConcept={
            "coding": [
                {"system": NDC, "code": "0093-7146", "display": "Amoxicillin 500mg cap (NDC)"},
                {"system": RXNORM, "code": "308191", "display": "amoxicillin 500 MG Oral Capsule"},
            ]
        },
        dosageInstruction=[
            {
                "text": "1 capsule twice a day as needed for pain",
                "timing": {
                    "repeat": {"frequency": 2, "period": 1, "periodUnit": "d"},
                    "code": {"coding": [{"code": "BID", "display": "twice a day"}]},
                },
                "asNeededCodeableConcept": {"text": "pain"},
                "route": {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral"}]},
                "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg", "code": "mg"}}],
            },
            {"text": "second instruction, not shown"},
        ],
        encounter={"reference": "Encounter/enc-1"},
    ),
    _request(
        "req-contained",
        medicationReference={"reference": "#c2", "display": "what the request calls it"},
        contained=[
            _medication("c1", "1000001", "not the one referenced"),
            {
                "resourceType": "Medication",
                "id": "c2",
                "code": {
                    "coding": [
                        {"system": NDC, "code": "0001-0002"},
                        {"system": RXNORM, "code": "197361", "display": "amlodipine 5 MG"},
                    ],
                    "text": "Amlodipine 5 mg tablet",
                },
            },
        ],
    ),
    _request("req-bundled", medicationReference={"reference": "urn:uuid:bundled-med"}),
    _request("req-landed", medicationReference={"reference": "Medication/landed-med"}),
    _request(
        "req-unresolved",
        medicationReference={"reference": "Medication/nowhere", "display": "Mystery pill"},
    ),
    _request("req-unresolved-bare", medicationReference={"reference": "#missing"}),
    _request(
        "req-bad-dose",
        medicationCodeableConcept={"text": "Ibuprofen"},
        dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": "lots"}}]}],
    ),
    _medication("bundled-med", "310965", "ibuprofen 200 MG Oral Tablet"),
    {
        "resourceType": "MedicationAdministration",
        "id": "admin-1",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "1719286", "display": "10 ML ondansetron"}]
        },
        "effectivePeriod": {"start": "2024-05-06T07:08:00Z", "end": "2024-05-06T07:10:00Z"},
        "context": {"reference": "Encounter/enc-9"},
        "dosage": {
            "text": "4 mg IV push",
            "route": {"coding": [{"system": SNOMED, "code": "47625008", "display": "IV"}]},
            "dose": {"value": 4, "unit": "mg"},
        },
    },
    {
        "resourceType": "MedicationAdministration",
        "id": "admin-error",
        "status": "entered-in-error",
        "medicationCodeableConcept": {"text": "Wrong patient"},
        "effectiveDateTime": "2024-05-06",
    },
]
# The same Medication landed twice in files of their own: the newer copy is the one shown.
LANDED_OLD = _medication(
    "landed-med", "1111", "old copy", meta={"lastUpdated": "2020-01-01T00:00:00Z"}
)
LANDED_NEW = _medication(
    "landed-med",
    "197380",
    "atenolol 25 MG Oral Tablet",
    meta={"lastUpdated": "2022-01-01T00:00:00Z"},
)

DSTU2_BUNDLE: list[dict[str, Any]] = [
    {
        "resourceType": "MedicationOrder",
        "id": "order-1",
        "status": "active",
        "dateWritten": "2015-01-15",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "314076", "display": "lisinopril 10 MG"}]
        },
        "dosageInstruction": [
            {
                "text": "1 tablet every 12 hours",
                "timing": {"repeat": {"frequency": 1, "period": 12, "periodUnits": "h"}},
                "asNeededBoolean": False,
                "route": {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral"}]},
                "doseQuantity": {"value": 1, "unit": "tablet"},
            }
        ],
    },
    {
        "resourceType": "MedicationStatement",
        "id": "statement-not-taken",
        "status": "completed",
        "wasNotTaken": True,
        "dateAsserted": "2015-02-01",
        "effectivePeriod": {"start": "2014-06-01", "end": "2015-01-01"},
        "medicationReference": {"reference": "urn:uuid:dstu2-med"},
        "dosage": [
            {
                "text": "2 puffs every 4 hours",
                "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnits": "h"}},
                "quantityQuantity": {"value": 2, "unit": "puff"},
            }
        ],
    },
    {
        "resourceType": "MedicationStatement",
        "id": "statement-taken",
        "status": "active",
        "effectiveDateTime": "2015-03-01T08:00:00Z",
        "medicationCodeableConcept": {"text": "Vitamin D 1000 IU"},
    },
    _medication("dstu2-med", "745679", "albuterol 0.09 MG/ACTUAT inhaler"),
]


def _bundle(resources: list[dict[str, Any]]) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources]
    return orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def _import(root: Path, files: dict[str, bytes]) -> tuple[Settings, ImportReport, Path]:
    settings = Settings(home=root / "home")
    settings.ensure()
    inputs = root / "inputs"
    inputs.mkdir()
    for name, data in files.items():
        (inputs / name).write_bytes(data)
    paths = sorted(inputs.iterdir())
    return settings, import_files(settings, "acct-meds", "healthex", paths), inputs


@pytest.fixture(scope="module")
def crafted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ImportReport, Path]:
    """One import: the R4 bundle, the landed Medication's two copies and a DSTU2 bundle (each
    object's FHIR version is detected on its own)."""
    return _import(
        tmp_path_factory.mktemp("meds"),
        {
            "a_r4_bundle.json": _bundle(R4_BUNDLE),
            "b_landed_old.json": orjson.dumps(LANDED_OLD),
            "c_landed_new.json": orjson.dumps(LANDED_NEW),
            "d_dstu2_bundle.json": _bundle(DSTU2_BUNDLE),
        },
    )


def _rows(run: tuple[Settings, ImportReport, Path]) -> dict[str, dict[str, Any]]:
    settings, report, _ = run
    frame = curated(settings, "medications", report.user_key, "healthex")
    return {row["resource_id"]: row for row in frame.iter_rows(named=True)}


def _drug(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("medication_resolution", "medication_resource_id", "rxnorm_code", "medication_display")
    return tuple(row[key] for key in keys)


def test_each_resolution_path_names_its_target(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    rows = _rows(crafted)

    assert {rid: _drug(rows[rid]) for rid in ("req-contained", "req-bundled", "req-landed")} == {
        "req-contained": ("contained", "c2", "197361", "Amlodipine 5 mg tablet"),
        "req-bundled": ("bundled", "bundled-med", "310965", "ibuprofen 200 MG Oral Tablet"),
        "req-landed": ("landed", "landed-med", "197380", "atenolol 25 MG Oral Tablet"),
    }


def test_unresolved_references_are_kept_not_dropped(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    rows = _rows(crafted)

    assert _drug(rows["req-unresolved"]) == ("unresolved", None, None, "Mystery pill")
    assert _drug(rows["req-unresolved-bare"]) == ("unresolved", None, None, None)


def test_rxnorm_is_chosen_by_system_not_position(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    row = _rows(crafted)["req-code"]

    assert _drug(row) == ("code", None, "308191", "amoxicillin 500 MG Oral Capsule")
    assert row["rxnorm_display"] == "amoxicillin 500 MG Oral Capsule"


def test_first_dosage_gives_text_timing_route_and_dose(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    row = _rows(crafted)["req-code"]

    assert {key: row[key] for key in row if key.startswith(("dos", "timing", "route", "as_"))} == {
        "dosage_text": "1 capsule twice a day as needed for pain",
        "timing_frequency": 2,
        "timing_period": 1.0,
        "timing_period_unit": "d",
        "timing_code": "BID",
        "timing_text": "twice a day",
        "as_needed": True,
        "route_code": "26643006",
        "route_system": SNOMED,
        "route_display": "Oral",
        "dose_value": 500.0,
        "dose_unit": "mg",
    }
    assert row["encounter_id"] == "enc-1"


def test_medication_administration_lands_with_dose_route_and_encounter(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    rows = _rows(crafted)
    admin = rows["admin-1"]

    assert "admin-error" not in rows
    assert (admin["resource_type"], admin["status"], admin["intent"]) == (
        "MedicationAdministration",
        "completed",
        None,
    )
    assert _drug(admin) == ("code", None, "1719286", "10 ML ondansetron")
    assert admin["authored_at"].isoformat() == "2024-05-06T07:08:00+00:00"
    assert (admin["dosage_text"], admin["route_code"], admin["dose_value"], admin["dose_unit"]) == (
        "4 mg IV push",
        "47625008",
        4.0,
        "mg",
    )
    assert admin["encounter_id"] == "enc-9"


def test_malformed_dose_is_quarantined_as_the_oracle_counts(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    settings, report, inputs = crafted
    reasons = quarantine(settings, report.user_key, "healthex").filter(
        pl.col("resource_id") == "req-bad-dose"
    )

    assert reasons["reason"].to_list() == ["value does not cast: dose_value"]
    assert len(_rows(crafted)) == tally(inputs).counts["medications"] == 10


def test_dstu2_order_and_statements_land_in_r4_columns(
    crafted: tuple[Settings, ImportReport, Path],
) -> None:
    rows = _rows(crafted)
    order, not_taken, taken = (
        rows["order-1"],
        rows["statement-not-taken"],
        rows["statement-taken"],
    )

    assert crafted[1].success
    assert (order["resource_type"], order["rxnorm_code"], order["dosage_text"]) == (
        "MedicationOrder",
        "314076",
        "1 tablet every 12 hours",
    )
    assert (order["timing_frequency"], order["timing_period"], order["timing_period_unit"]) == (
        1,
        12.0,
        "h",
    )
    assert (order["as_needed"], order["route_code"], order["dose_value"], order["dose_unit"]) == (
        False,
        "26643006",
        1.0,
        "tablet",
    )
    assert (not_taken["resource_type"], not_taken["status"]) == ("MedicationStatement", "not-taken")
    assert _drug(not_taken) == (
        "bundled",
        "dstu2-med",
        "745679",
        "albuterol 0.09 MG/ACTUAT inhaler",
    )
    assert not_taken["authored_at"].isoformat() == "2014-06-01T00:00:00+00:00"
    assert (not_taken["dosage_text"], not_taken["dose_value"], not_taken["dose_unit"]) == (
        "2 puffs every 4 hours",
        2.0,
        "puff",
    )
    assert (taken["status"], taken["medication_display"], taken["rxnorm_code"]) == (
        "active",
        "Vitamin D 1000 IU",
        None,
    )
    assert taken["authored_at"].isoformat() == "2015-03-01T08:00:00+00:00"


# Per fixture set: rows per (resource type, resolution), and one row's drug as _drug() shows it.
REAL_SETS: dict[str, tuple[dict[tuple[str, str], int], str, tuple[Any, ...]]] = {
    # Epic searchset: medicationReference to Medication reads landed beside it; RxNorm is the
    # third coding of that Medication, after two urn:oid codings.
    "epic-r4": (
        {("MedicationRequest", "landed"): 2},
        "eV8JXh44YGEGZfJc6NiJDc3vLyK4bWsvXgOa8EfOQMWM3",
        (
            "landed",
            "eBfGfhp5IU58AmHmWFWP4EXp9K0UWW7jH12qAWUVfrnkzq7WHPrdiciYxWMfvUtP63",
            "762817",
            "measles, mumps and rubella injection",
        ),
    ),
    # Apple export: the reference names a Medication nobody sent (the contained one has another
    # id), so the row stays, unresolved, named by the reference's display.
    "apple-health": (
        {("MedicationRequest", "unresolved"): 1},
        "ABCD",
        ("unresolved", None, None, "Cephalexin 500 mg Cap"),
    ),
    # Fasten: a converted C-CDA bundle references its Medications as Medication/id.
    "fasten": (
        {
            ("MedicationRequest", "landed"): 2,
            ("MedicationStatement", "landed"): 2,
            ("MedicationStatement", "code"): 1,
        },
        "4149cba4-9687-3e3f-ab2c-c7888a1b60a6",
        ("landed", "30ed8b7e-4839-3d68-b2e5-8c8b39a40971", "197380", "Atenolol 25 MG Oral Tablet"),
    ),
}


@pytest.fixture(scope="module")
def real_sets(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """The medications of every available set in REAL_SETS, imported together as one user."""
    settings = Settings(home=tmp_path_factory.mktemp("meds-real") / "home")
    settings.ensure()
    directories = [fixture_dir(name) for name in sorted(REAL_SETS) if fixture_dir(name).is_dir()]
    report = import_files(settings, "acct-real", "healthex", directories)
    return curated(settings, "medications", report.user_key, "healthex")


@pytest.mark.parametrize("fixture_set", sorted(REAL_SETS))
def test_fixture_set_references_resolve_as_the_data_allows(
    real_sets: pl.DataFrame, fixture_set: str
) -> None:
    require_set(fixture_set)
    kinds, resource_id, drug = REAL_SETS[fixture_set]
    ids = {
        resource["id"]
        for resource in iter_resources(fixture_dir(fixture_set))
        if table_of(resource) == "medications"
    }

    frame = real_sets.filter(pl.col("resource_id").is_in(ids))
    counts = frame.group_by("resource_type", "medication_resolution").len().rows()
    assert {(t, r): n for t, r, n in counts} == kinds
    rows = {row["resource_id"]: row for row in frame.iter_rows(named=True)}
    assert _drug(rows[resource_id]) == drug
