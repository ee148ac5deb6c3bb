from __future__ import annotations

from data_contracts.registry import split_valid
from tests.contracts.frames import SENTINEL, assert_only_row_rejected, good_frame, with_cell

TABLE = "quarantine"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_unknown_stage_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "stage", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "stage: isin")


def test_missing_reason_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "reason", None)

    assert_only_row_rejected(TABLE, df, 1, "reason: not_nullable")


def test_rejections_carry_the_provenance_columns_quarantine_has() -> None:
    df = with_cell(good_frame(TABLE), 1, "raw_sha256", None)

    _, rejected = split_valid(TABLE, df)

    assert rejected.columns == [
        "user_key",
        "connector",
        "resource_type",
        "resource_id",
        "raw_sha256",
        "run_id",
        "reason",
    ]
