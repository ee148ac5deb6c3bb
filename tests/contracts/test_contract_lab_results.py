from __future__ import annotations

import datetime as dt

from data_contracts.registry import apply_contract, split_valid
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


def test_component_row_with_its_panel_accepted() -> None:
    df = with_cell(
        with_cell(good_frame(TABLE), 1, "component_index", 2), 1, "panel_loinc_code", "57698-3"
    )

    assert split_valid(TABLE, df)[1].is_empty()


def test_negative_component_index_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "component_index", -1)

    assert_only_row_rejected(TABLE, df, 1, "component_index: greater_than_or_equal_to")


def test_panel_columns_on_an_observations_own_row_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "panel_code_display", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "lab_results: component_has_panel")


def test_normalized_value_without_its_unit_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "normalized_unit", None)

    assert_only_row_rejected(TABLE, df, 1, "lab_results: normalized_value_has_unit")


def test_unknown_comparator_and_range_source_rejected() -> None:
    df = with_cell(
        with_cell(good_frame(TABLE), 0, "value_comparator", SENTINEL),
        2,
        "ref_range_source",
        SENTINEL,
    )

    good, rejected = split_valid(TABLE, df)

    assert rejected["reason"].to_list() == ["value_comparator: isin", "ref_range_source: isin"]
    assert good["resource_id"].to_list() == ["id-1"]
    assert all(SENTINEL not in reason for reason in rejected["reason"])


def test_unit_outside_ucum_and_aliases_is_only_a_warning() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 1, "ucum_code", None), 1, "normalized_value", None)

    split = apply_contract(TABLE, df)

    assert (split.good.height, split.rejected.height, split.warned_rows) == (3, 0, 1)
    rules = dict(split.rules.select("rule", "rows_failing").iter_rows())
    assert rules["lab_results: unit_is_ucum"] == 1


def test_number_without_unit_and_result_without_loinc_are_warnings() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 0, "unit", None), 2, "code_system", "urn:oid:1.2.3")

    split = apply_contract(TABLE, df)

    assert (split.good.height, split.warned_rows) == (3, 2)
    rules = dict(split.rules.select("rule", "rows_failing").iter_rows())
    assert (rules["lab_results: numeric_value_has_unit"], rules["lab_results: loinc_coded"]) == (
        1,
        1,
    )
