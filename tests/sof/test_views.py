"""The staging ViewDefinitions in transforms/views, run over real (synthetic) FHIR fixtures."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pytest

from healthex_pipeline.sof.compiler import compile_view
from tests.sof.conftest import VIEWS_DIR, bundle_resources, fixture_path, load_resources, run_view

VIEW_NAMES = (
    "observation",
    "observation_component",
    "medication_request",
    "medication_statement",
    "medication_statement_dstu2",
    "medication_administration",
    "medication_order",
    "medication",
    "immunization",
    "immunization_dstu2",
    "encounter",
    "encounter_dstu2",
    "condition",
    "condition_dstu2",
    "procedure",
    "procedure_dstu2",
    "allergy_intolerance",
    "allergy_intolerance_dstu2",
    "document_reference",
    "document_reference_dstu2",
    "diagnostic_report",
    "patient",
)
# Resources without a `status` element: R4 Condition and AllergyIntolerance (clinical and
# verification status instead), DSTU2 Condition, and Patient.
WITHOUT_STATUS = frozenset({"condition", "condition_dstu2", "allergy_intolerance", "patient"})
# Views of resources that have a business identifier carry its first system and value (the
# cross-connector dedup key) right after the common columns.
WITHOUT_IDENTIFIER = frozenset({"patient", "medication", "observation_component"})
COMMON = {
    "version_id": None,
    "last_updated": None,
    "identifier_system": None,
    "identifier_value": None,
}


ALBUTEROL = "NDA020503 200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler"
# Medication resources that state no timing, route or dose (the medication views' columns).
NO_TIMING_ROUTE_DOSE = dict.fromkeys(
    (
        "timing_frequency",
        "timing_period",
        "timing_period_unit",
        "timing_code",
        "timing_code_display",
        "timing_text",
        "route_code",
        "route_system",
        "route_display",
        "route_text",
        "dose_value",
        "dose_unit",
        "dose_code",
    )
)


def view(name: str) -> dict[str, Any]:
    return orjson.loads((VIEWS_DIR / f"{name}.json").read_bytes())


def rows_by_id(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in run_view(con, view(name))}


def apple_record(name: str) -> dict[str, Any]:
    return orjson.loads((fixture_path("apple-health/clinical-records") / name).read_bytes())


def fasten_resources() -> list[dict[str, Any]]:
    """The unlicensed Fasten fixtures (only in ../shared): PHR NDJSON + converted C-CDA bundle."""
    folder = fixture_path("fasten")
    if not folder.is_dir():
        pytest.skip("fasten fixtures (unlicensed, ../shared only) absent")
    lines = (folder / "JohnDoe.phr").read_bytes().splitlines()
    resources = [orjson.loads(line) for line in lines if line.strip()]
    bundle = orjson.loads((folder / "ccda_to_fhir_converted_C-CDA_R2-1_CCD.xml.json").read_bytes())
    return resources + [entry["resource"] for entry in bundle["entry"]]


def test_every_view_file_is_listed_and_named_after_its_file() -> None:
    files = sorted(p.stem for p in VIEWS_DIR.glob("*.json"))
    assert files == sorted(VIEW_NAMES)
    assert all(view(name)["name"] == name for name in VIEW_NAMES)


@pytest.mark.parametrize("name", VIEW_NAMES)
def test_view_compiles_with_the_common_columns_first(name: str) -> None:
    compiled = compile_view(view(name), source="src", passthrough=("raw_sha256",))
    names = [column for column, _ in compiled.columns]
    assert names[:4] == ["raw_sha256", "id", "version_id", "last_updated"]
    identified = name not in WITHOUT_IDENTIFIER
    assert (names[4:6] == ["identifier_system", "identifier_value"]) == identified
    assert (names[6 if identified else 4] == "status") == (name not in WITHOUT_STATUS)
    assert names[-1] == "_cast_errors"
    assert compiled.fhir_versions == tuple(view(name)["fhirVersion"])


def test_observation_dstu2_lab_rows(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-dstu2"))
    rows = rows_by_id(con, "observation")
    labs = [r for r in rows.values() if "laboratory" in r["category_codes"]]
    assert len(rows) == 74
    assert len(labs) == 11  # DSTU2 category is a single object, not an array
    assert rows["871a9978-c049-471a-b3e0-154705471f4e"] == {
        "id": "871a9978-c049-471a-b3e0-154705471f4e",
        **COMMON,
        "status": "final",
        "category_codes": ["laboratory"],
        "loinc_code": "6690-2",
        "loinc_display": "Leukocytes [#/volume] in Blood by Automated count",
        "first_code": "6690-2",
        "first_system": "http://loinc.org",
        "first_display": "Leukocytes [#/volume] in Blood by Automated count",
        "code_text": "Leukocytes [#/volume] in Blood by Automated count",
        "effective_datetime": "2018-12-14T10:09:26-05:00",
        "effective_instant": None,
        "effective_period_start": None,
        "issued": "2018-12-14T10:09:26.488-05:00",
        "value_quantity_value": 3.5834,
        "value_quantity_unit": "10*3/uL",
        "value_quantity_code": "10*3/uL",
        "value_quantity_system": "http://unitsofmeasure.org",
        "value_quantity_comparator": None,
        "value_string": None,
        "value_cc_text": None,
        "value_cc_display": None,
        "value_cc_code": None,
        "value_boolean": None,
        "value_integer": None,
        "value_range_low": None,
        "value_range_high": None,
        "ref_low": None,
        "ref_high": None,
        "ref_text": None,
        "interpretation": None,
        "interpretation_display": None,
        "interpretation_text": None,
        "encounter_ref": "urn:uuid:d3743ad7-7a8f-4fd0-a3c6-c4f9977b777a",
        "_cast_errors": [],
    }


def test_observation_r4_codeable_concept_value(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-r4"))
    rows = rows_by_id(con, "observation")
    assert len(rows) == 535
    assert sum("laboratory" in r["category_codes"] for r in rows.values()) == 133
    smoking = rows["00d9ca11-8cc1-f9c5-2f1c-40f74240f56c"]
    assert (smoking["loinc_code"], smoking["value_cc_code"], smoking["value_cc_text"]) == (
        "72166-2",
        "266919005",
        "Never smoker",
    )
    assert all(r["_cast_errors"] == [] for r in rows.values())


def test_observation_apple_reference_range_text(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, [apple_record("ref_range_text.json")])
    (row,) = run_view(con, view("observation"))
    assert {k: row[k] for k in ("category_codes", "code_text", "effective_datetime")} == {
        "category_codes": ["laboratory", "Lab"],
        "code_text": "ALT",
        "effective_datetime": "2012-06-19T17:11:00Z",
    }
    assert (row["value_quantity_value"], row["value_quantity_unit"], row["ref_text"]) == (
        24.0,
        "U/L",
        "<36",
    )


def test_medication_request_synthea_codeable_concepts(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-r4"))
    rows = rows_by_id(con, "medication_request")
    assert len(rows) == 25
    assert all(r["med_rxnorm"] and r["med_ref"] is None for r in rows.values())
    assert rows["0fd0b9f8-bdc5-0b73-5f7f-af44e9f9bcee"] == {
        "id": "0fd0b9f8-bdc5-0b73-5f7f-af44e9f9bcee",
        **COMMON,
        "status": "active",
        "intent": "order",
        "authored_on": "2021-10-16T17:29:15+10:00",
        "med_is_code": True,
        "med_rxnorm": "2123111",
        "med_rxnorm_display": ALBUTEROL,
        "med_text": ALBUTEROL,
        "med_coding_display": ALBUTEROL,
        "med_ref": None,
        "med_ref_display": None,
        "dosage_text": "Take as needed.",
        **NO_TIMING_ROUTE_DOSE,
        "as_needed_boolean": True,
        "as_needed_for": False,
        "encounter_ref": "urn:uuid:ce2eecc4-3614-3e3a-9df2-75b4b1e87d68",
        "contained_id": None,
        "contained_rxnorm": None,
        "contained_rxnorm_display": None,
        "contained_text": None,
        "contained_display": None,
        "_cast_errors": [],
    }


def test_medication_request_apple_reference_and_contained(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load_resources(con, [apple_record("MedicationRequest-test.json")])
    (row,) = run_view(con, view("medication_request"))
    assert {k: row[k] for k in ("id", "status", "med_ref", "med_ref_display", "encounter_ref")} == {
        "id": "ABCD",
        "status": "completed",
        "med_ref": "Medication/ABCDEFG",
        "med_ref_display": "Cephalexin 500 mg Cap",
        "encounter_ref": None,  # the encounter has a display only
    }
    assert row["contained_id"].startswith("eyAuU-.rNOnX")
    assert (row["contained_text"], row["contained_rxnorm"]) == ("DRUG_NAME 500 mg Cap", None)


@pytest.mark.shared
def test_medication_statement_fasten(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, fasten_resources())
    rows = rows_by_id(con, "medication_statement")
    assert len(rows) == 3
    phr = rows["medication-statement"]
    assert (phr["med_rxnorm"], phr["med_text"], phr["authored_on"]) == (
        "206765",
        "lisinopril oral 10 mg",
        "2016-05-01T16:13:03Z",
    )
    assert (phr["effective_period_start"], phr["last_updated"]) == (
        "2010-05-01",
        "2018-10-04T19:42:52.061-04:00",
    )
    ccda = rows["78a709dd-67ec-3e20-bde2-43b3515397e5"]
    assert ccda["med_ref"] == "Medication/c022ecbf-0bca-30a8-b918-b5378d8bae52"


@pytest.mark.shared
def test_medication_fasten(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, fasten_resources())
    rows = rows_by_id(con, "medication")
    assert {i: (r["rxnorm"], r["code_display"]) for i, r in rows.items()} == {
        "Medication-1": (None, "Glipizide and Metformin Hydrochloride"),
        "c022ecbf-0bca-30a8-b918-b5378d8bae52": (
            "573621",
            "Proventil 0.09 MG/ACTUAT inhalant solution",
        ),
        "30ed8b7e-4839-3d68-b2e5-8c8b39a40971": ("197380", "Atenolol 25 MG Oral Tablet"),
    }


def test_medication_order_dstu2_shape(con: duckdb.DuckDBPyConnection) -> None:
    # No fixture set holds a MedicationOrder, so this one resource is hand-written in the
    # DSTU2 shape (dateWritten, medicationCodeableConcept, contained Medication).
    order = {
        "resourceType": "MedicationOrder",
        "id": "mo1",
        "status": "active",
        "dateWritten": "2015-01-15",
        "medicationReference": {"reference": "#med1", "display": "Lisinopril"},
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med1",
                "code": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "314076",
                            "display": "lisinopril 10 MG Oral Tablet",
                        }
                    ]
                },
            }
        ],
        "dosageInstruction": [{"text": "1 daily"}],
        "encounter": {"reference": "Encounter/e1"},
    }
    load_resources(con, [order])
    (row,) = run_view(con, view("medication_order"))
    assert row == {
        "id": "mo1",
        **COMMON,
        "status": "active",
        "authored_on": "2015-01-15",
        "med_is_code": False,
        "med_rxnorm": None,
        "med_rxnorm_display": None,
        "med_text": None,
        "med_coding_display": None,
        "med_ref": "#med1",
        "med_ref_display": "Lisinopril",
        "dosage_text": "1 daily",
        **NO_TIMING_ROUTE_DOSE,
        "as_needed_boolean": None,
        "as_needed_for": False,
        "encounter_ref": "Encounter/e1",
        "contained_id": "med1",
        "contained_rxnorm": "314076",
        "contained_rxnorm_display": "lisinopril 10 MG Oral Tablet",
        "contained_text": None,
        "contained_display": "lisinopril 10 MG Oral Tablet",
        "_cast_errors": [],
    }


def test_immunization_r4(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-r4"))
    rows = rows_by_id(con, "immunization")
    assert len(rows) == 79
    assert rows["013b6051-b3b2-2c5a-4e44-b74586a8b633"] == {
        "id": "013b6051-b3b2-2c5a-4e44-b74586a8b633",
        **COMMON,
        "status": "completed",
        "cvx_code": "20",
        "vaccine_text": "DTaP",
        "vaccine_coding_display": "DTaP",
        "occurrence": "2017-08-26T17:29:15+10:00",
        "lot_number": None,
        "primary_source": True,
        "encounter_ref": "urn:uuid:9cd3b854-b66e-ea5e-b58d-753982e188cb",
        "_cast_errors": [],
    }


def test_immunization_dstu2(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-dstu2"))
    rows = rows_by_id(con, "immunization_dstu2")
    assert len(rows) == 22
    assert rows["11a37068-458b-43ea-9edc-012449826a09"] == {
        "id": "11a37068-458b-43ea-9edc-012449826a09",
        **COMMON,
        "status": "completed",
        "cvx_code": "83",
        "vaccine_text": "Hep A, ped/adol, 2 dose",
        "vaccine_coding_display": "Hep A, ped/adol, 2 dose",
        "occurrence": "2020-02-21T10:09:26-05:00",
        "lot_number": None,
        "reported": False,
        "was_not_given": False,
        "encounter_ref": "urn:uuid:739a0053-abbc-459a-8b4e-4375c0083816",
        "_cast_errors": [],
    }


def test_encounter_r4_with_reason(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-r4"))
    rows = rows_by_id(con, "encounter")
    assert len(rows) == 96
    assert rows["08cae170-5de7-7db8-64fa-fb51fbbf3716"] == {
        "id": "08cae170-5de7-7db8-64fa-fb51fbbf3716",
        **COMMON,
        "status": "finished",
        "class_code": "AMB",
        "type_code": "185347001",
        "type_display": "Encounter for problem",
        "type_text": "Encounter for problem",
        "period_start": "2017-05-15T17:29:15+10:00",
        "period_end": "2017-05-15T17:44:15+10:00",
        "reason_code": "24079001",
        "reason_display": "Atopic dermatitis",
        "reason_text": None,
        "service_provider_ref": "Organization?identifier=https://github.com/synthetichealth/synthea"
        "|fd328395-ab1d-35c6-a2d0-d05a9a79cf11",
        "service_provider_display": "MERCY MEDICAL CTR",
        "_cast_errors": [],
    }


def test_encounter_dstu2_class_is_a_plain_code(con: duckdb.DuckDBPyConnection) -> None:
    load_resources(con, bundle_resources("bundles/synthea-dstu2"))
    rows = rows_by_id(con, "encounter_dstu2")
    assert len(rows) == 7
    assert rows["32cc8d56-59e7-433d-92ba-16e506fe1753"] == {
        "id": "32cc8d56-59e7-433d-92ba-16e506fe1753",
        **COMMON,
        "status": "finished",
        "class_code": "ambulatory",
        "type_code": "410620009",
        "type_display": "Well child visit (procedure)",
        "type_text": "Well child visit (procedure)",
        "period_start": "2019-11-22T10:09:26-05:00",
        "period_end": "2019-11-22T10:39:26-05:00",
        "reason_code": None,
        "reason_display": None,
        "reason_text": None,
        "service_provider_ref": "urn:uuid:ecdc917d-a909-3a96-81b7-d6463b45afa5",
        "service_provider_display": None,
        "_cast_errors": [],
    }
