from __future__ import annotations

import polars as pl

from data_contracts.registry import apply_contract, split_valid
from tests.contracts.frames import SENTINEL, good_frame, with_cell

TABLE = "data_quality"


def _rejected_reasons(df: pl.DataFrame) -> list[str]:
    return split_valid(TABLE, df)[1]["reason"].to_list()


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_unknown_severity_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "severity", "info")

    assert _rejected_reasons(df) == ["severity: isin"]


def test_rule_that_is_not_a_name_pair_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "rule", f"onset_at: value {SENTINEL} in future")

    assert _rejected_reasons(df) == ["rule: str_matches"]
    assert SENTINEL not in _rejected_reasons(df)[0]


def test_more_failing_than_checked_rows_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "rows_failing", 11)

    assert _rejected_reasons(df) == ["data_quality: rows_failing_le_rows_checked"]


def test_negative_count_rejected() -> None:
    df = with_cell(good_frame(TABLE), 2, "rows_checked", -1)

    assert sorted(_rejected_reasons(df)[0].split("; ")) == [
        "data_quality: rows_failing_le_rows_checked",
        "rows_checked: greater_than_or_equal_to",
    ]


def test_data_quality_has_no_warn_rules_of_its_own() -> None:
    rules = apply_contract(TABLE, good_frame(TABLE)).rules

    assert set(rules["severity"]) == {"error"}
