from __future__ import annotations

import datetime as dt

from data_contracts.registry import split_valid
from tests.contracts.frames import (
    AT,
    SENTINEL,
    assert_no_failing_rule,
    assert_only_row_rejected,
    assert_only_warning,
    good_frame,
    with_cell,
)

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


def test_encounter_without_class_or_type_lands_with_a_warning() -> None:
    df = good_frame(TABLE)
    for column in ("encounter_class", "type_code", "type_display"):
        df = with_cell(df, 2, column, None)

    assert_only_warning(TABLE, df, "encounters: has_class_or_type")


def test_encounter_with_only_a_type_display_has_no_class_or_type_warning() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 2, "encounter_class", None), 2, "type_code", None)

    assert split_valid(TABLE, df)[0].equals(df)
    assert_no_failing_rule(TABLE, df)


def test_finished_encounter_without_end_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 0, "period_end", None)

    assert_only_warning(TABLE, df, "encounters: finished_has_period_end")


def test_open_encounter_without_end_has_no_warning() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 0, "period_end", None), 0, "status", "in-progress")

    assert_no_failing_rule(TABLE, df)
