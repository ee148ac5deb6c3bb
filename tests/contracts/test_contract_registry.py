from __future__ import annotations

import polars as pl
import pytest

from data_contracts.failures import ContractSchemaError
from data_contracts.provenance import PROVENANCE_COLUMNS
from data_contracts.registry import CONTRACTS, ContractReport, split_valid, validate_table
from tests.contracts.frames import SENTINEL, assert_only_row_rejected, good_frame, with_cell

CURATED = [
    "lab_results",
    "medications",
    "immunizations",
    "encounters",
    "conditions",
    "procedures",
    "allergies",
    "clinical_notes",
    "patients",
]


def test_registry_holds_the_curated_tables_and_quarantine() -> None:
    assert set(CONTRACTS) == {*CURATED, "quarantine"}


@pytest.mark.parametrize("table", CURATED)
def test_curated_tables_start_with_provenance(table: str) -> None:
    columns = list(CONTRACTS[table].to_schema().columns)

    assert columns[: len(PROVENANCE_COLUMNS)] == list(PROVENANCE_COLUMNS)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("user_key", SENTINEL, "user_key: str_matches"),
        ("connector", SENTINEL, "connector: isin"),
        ("raw_sha256", SENTINEL, "raw_sha256: str_matches"),
        ("resource_id", None, "resource_id: not_nullable"),
        ("fetched_at", None, "fetched_at: not_nullable"),
    ],
)
@pytest.mark.parametrize("table", CURATED)
def test_provenance_checks_reject_row(table: str, column: str, value: object, reason: str) -> None:
    df = with_cell(good_frame(table), 1, column, value)

    good, rejected = split_valid(table, df)

    assert rejected["reason"].to_list() == [reason]
    assert good.equals(df.filter(pl.int_range(pl.len()) != 1))
    assert SENTINEL not in rejected["reason"][0]


def test_several_failures_of_a_row_are_joined_sorted() -> None:
    df = with_cell(with_cell(good_frame("lab_results"), 1, "status", SENTINEL), 1, "connector", "x")

    assert_only_row_rejected("lab_results", df, 1, "connector: isin; status: isin")


def test_rejected_holds_provenance_and_reason_only() -> None:
    df = with_cell(good_frame("encounters"), 0, "connector", SENTINEL)

    _, rejected = split_valid("encounters", df)

    assert rejected.columns == [*PROVENANCE_COLUMNS, "reason"]


def test_validate_table_counts_failing_rows_per_check() -> None:
    df = with_cell(good_frame("lab_results", rows=4), 0, "status", SENTINEL)
    df = with_cell(with_cell(df, 2, "resource_id", None), 2, "connector", SENTINEL)

    report = validate_table("lab_results", df)

    assert report == ContractReport(
        rows=4,
        failing_rows=2,
        failures={"status: isin": 1, "resource_id: not_nullable": 1, "connector: isin": 1},
    )


def test_wrong_dtype_is_a_schema_error_naming_table_and_column() -> None:
    df = good_frame("lab_results").with_columns(pl.col("value_num").cast(pl.Int64))

    with pytest.raises(ContractSchemaError, match=r"lab_results: .*value_num: dtype"):
        split_valid("lab_results", df)


def test_naive_timestamp_is_a_schema_error() -> None:
    df = good_frame("encounters").with_columns(pl.col("period_start").dt.replace_time_zone(None))

    with pytest.raises(ContractSchemaError, match=r"encounters: .*period_start"):
        validate_table("encounters", df)


def test_missing_column_is_a_schema_error() -> None:
    df = good_frame("medications").drop("intent")

    with pytest.raises(ContractSchemaError, match=r"medications: .*intent: column_in_dataframe"):
        split_valid("medications", df)


def test_extra_column_is_a_schema_error() -> None:
    df = good_frame("immunizations").with_columns(pl.lit(SENTINEL).alias("note"))

    with pytest.raises(ContractSchemaError, match=r"immunizations: .*note: column_in_schema"):
        split_valid("immunizations", df)


def test_unknown_table_raises() -> None:
    with pytest.raises(KeyError, match="no data contract"):
        split_valid("observations", good_frame("lab_results"))


def test_empty_frame_passes() -> None:
    df = good_frame("lab_results", rows=0)

    good, rejected = split_valid("lab_results", df)

    assert good.is_empty()
    assert rejected.columns == [*PROVENANCE_COLUMNS, "reason"]
