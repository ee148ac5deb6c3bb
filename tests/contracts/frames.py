"""Builders of contract-conforming frames and crafted bad rows for the contract tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from data_contracts.registry import CONTRACTS, apply_contract, split_valid

SENTINEL = "SENTINEL-7f3a9c"
"""A cell value that must never surface in a rejection reason."""

AT = dt.datetime(2021, 6, 7, 1, 0, tzinfo=dt.UTC)

_PROVENANCE: dict[str, Any] = {
    "user_key": "u_0123456789abcdef01234567",
    "connector": "healthex",
    "resource_version": "1",
    "raw_sha256": "a" * 64,
    "fetched_at": AT,
    "run_id": "run-1",
    "source_updated_at": AT,
    "identifier_key": "b" * 64,
}

_ROWS: dict[str, dict[str, Any]] = {
    "lab_results": _PROVENANCE
    | {
        "resource_type": "Observation",
        "component_index": None,
        "loinc_code": "5193-8",
        "code_system": "http://loinc.org",
        "code_display": "Hepatitis B virus surface Ab",
        "panel_loinc_code": None,
        "panel_code_display": None,
        "effective_at": AT,
        "issued_at": AT,
        "value_num": 3.1,
        "value_text": None,
        "value_comparator": None,
        "unit": "mIU/mL",
        "ucum_code": "m[IU]/mL",
        "normalized_value": 3.1,
        "normalized_unit": "[IU]/L",
        "ref_low": 10.0,
        "ref_high": 100.0,
        "ref_text": ">=10.00",
        "ref_range_source": "low_high",
        "interpretation": "L",
        "abnormal": True,
        "status": "final",
        "encounter_id": "enc-1",
    },
    "medications": _PROVENANCE
    | {
        "resource_type": "MedicationRequest",
        "rxnorm_code": "314076",
        "rxnorm_display": "lisinopril 10 MG Oral Tablet",
        "medication_display": "lisinopril 10 MG Oral Tablet",
        "medication_resolution": "landed",
        "medication_resource_id": "med-1",
        "status": "active",
        "intent": "order",
        "authored_at": AT,
        "dosage_text": "1 tablet daily",
        "timing_frequency": 1,
        "timing_period": 1.0,
        "timing_period_unit": "d",
        "timing_code": "QD",
        "timing_text": "daily",
        "as_needed": False,
        "route_code": "26643006",
        "route_system": "http://snomed.info/sct",
        "route_display": "Oral route",
        "dose_value": 1.0,
        "dose_unit": "tablet",
        "encounter_id": "enc-1",
    },
    "immunizations": _PROVENANCE
    | {
        "resource_type": "Immunization",
        "cvx_code": "140",
        "vaccine_display": "Influenza, seasonal, injectable, preservative free",
        "occurrence_at": AT,
        "status": "completed",
        "lot_number": "LOT-1",
        "primary_source": True,
        "encounter_id": "enc-1",
    },
    "encounters": _PROVENANCE
    | {
        "resource_type": "Encounter",
        "encounter_class": "AMB",
        "type_code": "185349003",
        "type_display": "Encounter for check up",
        "period_start": AT,
        "period_end": AT + dt.timedelta(minutes=30),
        "status": "finished",
        "reason_code": "494",
        "reason_display": "Limb Pain",
        "service_provider": "Organization/1",
    },
    "conditions": _PROVENANCE
    | {
        "resource_type": "Condition",
        "code": "44054006",
        "code_system": "http://snomed.info/sct",
        "code_display": "Diabetes mellitus type 2",
        "clinical_status": "active",
        "verification_status": "confirmed",
        "category": "problem-list-item",
        "onset_at": AT,
        "abatement_at": None,
        "recorded_at": AT,
        "encounter_id": "enc-1",
    },
    "procedures": _PROVENANCE
    | {
        "resource_type": "Procedure",
        "code": "73761001",
        "code_system": "http://snomed.info/sct",
        "code_display": "Colonoscopy",
        "status": "completed",
        "performed_start": AT,
        "performed_end": AT + dt.timedelta(minutes=45),
        "encounter_id": "enc-1",
    },
    "allergies": _PROVENANCE
    | {
        "resource_type": "AllergyIntolerance",
        "substance_code": "70618",
        "substance_system": "http://www.nlm.nih.gov/research/umls/rxnorm",
        "substance_display": "Penicillin",
        "clinical_status": "active",
        "verification_status": "confirmed",
        "allergy_type": "allergy",
        "categories": ["medication"],
        "criticality": "high",
        "onset_at": AT,
        "recorded_at": AT,
        "reactions": [
            {
                "manifestation": "Hives",
                "manifestation_code": "126485001",
                "manifestation_system": "http://snomed.info/sct",
                "severity": "moderate",
            }
        ],
    },
    "clinical_notes": _PROVENANCE
    | {
        "resource_type": "DocumentReference",
        "status": "current",
        "note_type_code": "11506-3",
        "note_type_system": "http://loinc.org",
        "note_type_display": "Progress note",
        "note_date": AT,
        "author_display": "Dr. A",
        "content_type": "text/plain; charset=utf-8",
        "content_source": "inline",
        "content_size_bytes": 11,
        "content_sha256": "b" * 64,
        "text": "Doing well.",
        "text_truncated": False,
        "text_limit_bytes": 65536,
        "attachment_count": 1,
        "encounter_id": "enc-1",
    },
    "patients": _PROVENANCE
    | {
        "resource_type": "Patient",
        "birth_year": 1975,
        "sex": "female",
        "deceased": False,
        "us_state": "OR",
    },
    "quarantine": {
        "user_key": "u_0123456789abcdef01234567",
        "connector": "fasten",
        "stage": "ingest",
        "raw_sha256": "b" * 64,
        "locator": "input 2 line 17",
        "resource_type": "Observation",
        "resource_id": "obs-1",
        "reason": "not a JSON object with a resourceType",
        "run_id": "run-1",
        "quarantined_at": AT,
    },
    "data_quality": {
        "user_key": "u_0123456789abcdef01234567",
        "connector": "fasten",
        "table_name": "conditions",
        "rule": "conditions: has_onset",
        "severity": "warn",
        "rows_checked": 10,
        "rows_failing": 2,
        "run_id": "run-1",
        "checked_at": AT,
    },
}


def good_frame(table: str, rows: int = 3) -> pl.DataFrame:
    """Return ``rows`` valid rows of ``table`` (ids ``id-0``, ``id-1``, …) in contract dtypes."""
    columns = CONTRACTS[table].to_schema().columns
    schema = {name: column.dtype.type for name, column in columns.items()}
    records = [_ROWS[table] | {"resource_id": _resource_id(table, i)} for i in range(rows)]
    return pl.DataFrame(records, schema=schema)


def _resource_id(table: str, i: int) -> str:
    """``id-<i>``; for patients a SHA-256 in hex, as the model writes their ids."""
    return f"{i:064x}" if table == "patients" else f"id-{i}"


def with_cell(df: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    """Return ``df`` with one cell replaced, keeping the column's dtype."""
    values = df[column].to_list()
    values[row] = value
    return df.with_columns(pl.Series(column, values, dtype=df.schema[column]))


def assert_only_row_rejected(
    table: str, df: pl.DataFrame, row: int, reason: str, sentinel: str = SENTINEL
) -> None:
    """Assert exactly ``row`` is rejected with ``reason``, the rest kept, and no value leaks."""
    good, rejected = split_valid(table, df)

    assert rejected["resource_id"].to_list() == [df["resource_id"][row]]
    assert rejected["reason"].to_list() == [reason]
    assert good.equals(df.filter(pl.int_range(pl.len()) != row))
    assert all(sentinel not in text for text in rejected["reason"])


def assert_only_warning(table: str, df: pl.DataFrame, rule: str, sentinel: str = SENTINEL) -> None:
    """Assert every row lands and the warn-level ``rule`` alone fails, on exactly one row."""
    split = apply_contract(table, df)

    assert split.good.equals(df)
    assert split.rejected.is_empty()
    failing = split.rules.filter(pl.col("rows_failing") > 0)
    assert failing.rows() == [(rule, "warn", df.height, 1)]
    assert split.warned_rows == 1
    assert all(sentinel not in label for label in split.rules["rule"])


def assert_no_failing_rule(table: str, df: pl.DataFrame) -> None:
    """Assert no rule of the table's contract, error or warn, fails any row of ``df``."""
    rules = apply_contract(table, df).rules

    assert rules.filter(pl.col("rows_failing") > 0).is_empty()
