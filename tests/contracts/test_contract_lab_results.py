from __future__ import annotations

import datetime as dt

from data_contracts.registry import split_valid
from tests.contracts.frames import SENTINEL, assert_only_row_rejected, good_frame, with_cell

TABLE = "lab_results"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_observation() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_status_outside_observation_status_codes_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "status", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "status: isin")


def test_entered_in_error_status_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "status", "entered-in-error")

    assert_only_row_rejected(TABLE, df, 0, "status: isin")


def test_missing_status_is_accepted_as_null() -> None:
    # Apple Health exports omit Observation.status; the row lands with a null status.
    df = with_cell(good_frame(TABLE), 2, "status", None)

    good, rejected = split_valid(TABLE, df)

    assert (good.height, rejected.height) == (df.height, 0)


def test_lab_without_loinc_or_display_rejected() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 1, "loinc_code", None), 1, "code_display", None)

    assert_only_row_rejected(TABLE, df, 1, "lab_results: has_code")


def test_display_alone_is_a_code() -> None:
    df = with_cell(good_frame(TABLE), 1, "loinc_code", None)

    good, rejected = split_valid(TABLE, df)

    assert good.height == df.height
    assert rejected.is_empty()


def test_inverted_reference_range_rejected() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 1, "ref_low", 987654.25), 1, "ref_high", 1.5)

    assert_only_row_rejected(TABLE, df, 1, "lab_results: ref_low_le_ref_high", sentinel="987654")


def test_half_open_reference_range_kept() -> None:
    df = with_cell(good_frame(TABLE), 1, "ref_high", None)

    assert split_valid(TABLE, df)[1].is_empty()


def test_future_effective_at_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "effective_at", future)

    assert_only_row_rejected(TABLE, df, 1, "effective_at: not_in_future", sentinel="2987")


def test_effective_at_before_1900_rejected() -> None:
    ancient = dt.datetime(1873, 4, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "effective_at", ancient)

    assert_only_row_rejected(TABLE, df, 1, "effective_at: not_before_1900", sentinel="1873")
