from __future__ import annotations

import datetime as dt

from data_contracts.registry import split_valid
from tests.contracts.frames import AT, SENTINEL, assert_only_row_rejected, good_frame, with_cell

TABLE = "encounters"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_encounter() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_period_ending_before_start_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "period_end", AT - dt.timedelta(days=1))

    assert_only_row_rejected(TABLE, df, 1, "encounters: period_end_ge_period_start")


def test_open_period_kept() -> None:
    df = with_cell(good_frame(TABLE), 1, "period_end", None)

    assert split_valid(TABLE, df)[1].is_empty()
