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

TABLE = "conditions"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_condition() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_category_outside_the_derived_codes_rejected() -> None:
    df = with_cell(good_frame(TABLE), 2, "category", SENTINEL)

    assert_only_row_rejected(TABLE, df, 2, "category: isin")


def test_condition_without_code_or_display_rejected() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 0, "code", None), 0, "code_display", None)

    assert_only_row_rejected(TABLE, df, 0, "conditions: has_code")


def test_abatement_before_onset_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "abatement_at", AT - dt.timedelta(days=1))

    assert_only_row_rejected(TABLE, df, 1, "conditions: abatement_at_ge_onset_at")


def test_future_onset_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "onset_at", future)

    assert_only_row_rejected(TABLE, df, 1, "onset_at: not_in_future", sentinel="2987")


def test_onset_before_1900_rejected() -> None:
    ancient = dt.datetime(1873, 4, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 1, "onset_at", ancient)

    assert_only_row_rejected(TABLE, df, 1, "onset_at: not_before_1900", sentinel="1873")


def test_uncategorised_condition_without_dates_kept() -> None:
    df = good_frame(TABLE)
    for column in ("category", "onset_at", "abatement_at", "recorded_at"):
        df = with_cell(df, 1, column, None)

    assert split_valid(TABLE, df)[1].is_empty()


def test_condition_coded_in_icd9_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "code_system", "http://hl7.org/fhir/sid/icd-9-cm")

    assert_only_warning(TABLE, df, "conditions: known_code_system")


def test_condition_with_display_only_lands_with_a_code_system_warning() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 1, "code", None), 1, "code_system", None)

    assert_only_warning(TABLE, df, "conditions: known_code_system")


def test_condition_coded_in_icd10cm_has_no_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "code_system", "http://hl7.org/fhir/sid/icd-10-cm")

    assert_no_failing_rule(TABLE, df)


def test_condition_without_onset_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 0, "onset_at", None)

    assert_only_warning(TABLE, df, "conditions: has_onset")
