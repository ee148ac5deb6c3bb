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

TABLE = "procedures"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_procedure() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_procedure_without_code_or_display_rejected() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 2, "code", None), 2, "code_display", None)

    assert_only_row_rejected(TABLE, df, 2, "procedures: has_code")


def test_ending_before_start_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "performed_end", AT - dt.timedelta(hours=1))

    assert_only_row_rejected(TABLE, df, 1, "procedures: performed_end_ge_performed_start")


def test_future_start_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 0, "performed_start", future)

    assert_only_row_rejected(
        TABLE, df, 0, "performed_start: not_in_future; procedures: performed_end_ge_performed_start"
    )


def test_start_before_1900_rejected() -> None:
    ancient = dt.datetime(1873, 4, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "performed_start", ancient)

    assert_only_row_rejected(TABLE, df, 1, "performed_start: not_before_1900", sentinel="1873")


def test_procedure_without_time_kept() -> None:
    df = with_cell(
        with_cell(good_frame(TABLE), 1, "performed_start", None), 1, "performed_end", None
    )

    assert split_valid(TABLE, df)[1].is_empty()


def test_procedure_in_an_unknown_code_system_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "code_system", SENTINEL)

    assert_only_warning(TABLE, df, "procedures: known_code_system")


def test_procedure_coded_in_cpt_has_no_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "code_system", "http://www.ama-assn.org/go/cpt")

    assert_no_failing_rule(TABLE, df)


def test_procedure_without_performed_time_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 0, "performed_start", None)
    df = with_cell(df, 0, "performed_end", None)

    assert_only_warning(TABLE, df, "procedures: has_performed_start")
