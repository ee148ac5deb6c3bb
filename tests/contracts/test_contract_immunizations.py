from __future__ import annotations

import datetime as dt

from data_contracts.registry import split_valid
from tests.contracts.frames import (
    SENTINEL,
    assert_only_row_rejected,
    assert_only_warning,
    good_frame,
    with_cell,
)

TABLE = "immunizations"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_immunization() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_immunization_without_cvx_or_display_rejected() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 0, "cvx_code", None), 0, "vaccine_display", None)

    assert_only_row_rejected(TABLE, df, 0, "immunizations: has_vaccine")


def test_future_occurrence_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "occurrence_at", future)

    assert_only_row_rejected(TABLE, df, 1, "occurrence_at: not_in_future", sentinel="2987")


def test_occurrence_before_1900_rejected() -> None:
    ancient = dt.datetime(1873, 4, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "occurrence_at", ancient)

    assert_only_row_rejected(TABLE, df, 1, "occurrence_at: not_before_1900", sentinel="1873")


def test_vaccine_without_cvx_code_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "cvx_code", None)

    assert_only_warning(TABLE, df, "immunizations: has_cvx_code")
