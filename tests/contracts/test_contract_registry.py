from __future__ import annotations

import warnings

import pandera.polars as pa
import polars as pl
import pytest

from data_contracts.encounters import Encounters
from data_contracts.failures import ContractSchemaError
from data_contracts.provenance import PROVENANCE_COLUMNS
from data_contracts.registry import (
    CONTRACTS,
    ContractReport,
    apply_contract,
    split_valid,
    validate_table,
)
from data_contracts.severity import declared_rules
from tests.contracts.frames import (
    SENTINEL,
    assert_no_failing_rule,
    assert_only_row_rejected,
    good_frame,
    with_cell,
)

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


def test_registry_holds_the_curated_tables_quarantine_and_data_quality() -> None:
    assert set(CONTRACTS) == {*CURATED, "quarantine", "data_quality"}


@pytest.mark.parametrize("table", CURATED)
def test_good_frames_fail_no_rule_error_or_warn(table: str) -> None:
    assert_no_failing_rule(table, good_frame(table))


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

    assert (report.rows, report.failing_rows, report.warning_rows) == (4, 2, 0)
    assert report.failures == {
        "status: isin": 1,
        "resource_id: not_nullable": 1,
        "connector: isin": 1,
    }


def test_validate_table_counts_every_warn_rule_and_the_rows_warned() -> None:
    df = with_cell(good_frame("conditions", rows=4), 0, "onset_at", None)
    df = with_cell(with_cell(df, 1, "onset_at", None), 1, "code_system", SENTINEL)

    report = validate_table("conditions", df)

    assert report == ContractReport(
        rows=4,
        failing_rows=0,
        failures={},
        warning_rows=2,
        warnings={"conditions: has_onset": 2, "conditions: known_code_system": 1},
    )


def test_rules_count_error_rules_on_every_row_and_warn_rules_on_landed_rows() -> None:
    df = with_cell(good_frame("conditions", rows=4), 0, "onset_at", None)
    df = with_cell(with_cell(df, 1, "onset_at", None), 1, "connector", SENTINEL)

    split = apply_contract("conditions", df)

    assert split.rejected["resource_id"].to_list() == ["id-1"]
    assert split.rejected["reason"].to_list() == ["connector: isin"]
    assert split.good["resource_id"].to_list() == ["id-0", "id-2", "id-3"]
    assert split.warned_rows == 1
    assert split.rules.filter(pl.col("rows_failing") > 0).rows() == [
        ("connector: isin", "error", 4, 1),
        ("conditions: has_onset", "warn", 3, 1),
    ]


def test_rules_list_every_declared_rule_once_with_its_severity() -> None:
    rules = apply_contract("encounters", good_frame("encounters")).rules

    assert rules["rule"].is_unique().all()
    assert dict(zip(rules["rule"], rules["severity"], strict=True)) == {
        label: severity.value for label, severity in declared_rules(Encounters).items()
    }
    assert rules.filter(pl.col("severity") == "warn")["rule"].to_list() == [
        "encounters: finished_has_period_end",
        "encounters: has_class_or_type",
    ]


def test_warn_rules_raise_no_schema_warning_that_would_quote_values() -> None:
    df = with_cell(good_frame("clinical_notes"), 0, "content_type", None)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split = apply_contract("clinical_notes", df)

    assert split.warned_rows == 1


def test_a_rule_declared_at_both_severities_is_refused() -> None:
    class Ambiguous(pa.DataFrameModel):
        value: int

        @pa.check("value", name="positive")
        @classmethod
        def _positive(cls, data: pa.PolarsData) -> pl.LazyFrame:
            return data.lazyframe.select(pl.col(data.key) > 0)

        @pa.check("value", name="positive", raise_warning=True)
        @classmethod
        def _also_positive(cls, data: pa.PolarsData) -> pl.LazyFrame:
            return data.lazyframe.select(pl.col(data.key) >= 0)

    with pytest.raises(ValueError, match="'value: positive' declared as both error and warn"):
        declared_rules(Ambiguous)


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
