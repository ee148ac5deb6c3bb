from __future__ import annotations

import polars as pl

from data_contracts.registry import apply_contract, split_valid
from tests.contracts.frames import (
    SENTINEL,
    assert_no_failing_rule,
    assert_only_row_rejected,
    assert_only_warning,
    good_frame,
    with_cell,
)

TABLE = "medications"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()
    assert_no_failing_rule(TABLE, df)


def test_every_medication_resource_type_accepted() -> None:
    df = good_frame(TABLE, rows=4)
    for row, resource_type in enumerate(
        ("MedicationRequest", "MedicationOrder", "MedicationStatement", "MedicationAdministration")
    ):
        df = with_cell(df, row, "resource_type", resource_type)

    assert split_valid(TABLE, df)[1].is_empty()


def test_other_resource_type_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: isin")


def test_medication_without_code_or_display_rejected() -> None:
    df = with_cell(
        with_cell(good_frame(TABLE), 2, "rxnorm_code", None), 2, "medication_display", None
    )

    assert_only_row_rejected(TABLE, df, 2, "medications: has_medication")


def test_unknown_resolution_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "medication_resolution", SENTINEL)
    df = with_cell(df, 1, "medication_resource_id", None)

    assert_only_row_rejected(TABLE, df, 1, "medication_resolution: isin")


def test_resolved_reference_without_target_id_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "medication_resource_id", None)

    assert_only_row_rejected(TABLE, df, 0, "medications: resolved_has_target")


def test_code_row_naming_a_target_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "medication_resolution", "code")

    assert_only_row_rejected(TABLE, df, 1, "medications: resolved_has_target")


def test_unresolved_reference_naming_nothing_lands_with_warnings() -> None:
    df = good_frame(TABLE)
    for column, value in (
        ("medication_resolution", "unresolved"),
        ("medication_resource_id", None),
        ("medication_display", None),
        ("rxnorm_code", None),
        ("rxnorm_display", None),
    ):
        df = with_cell(df, 1, column, value)

    split = apply_contract(TABLE, df)

    assert split.rejected.is_empty()
    assert split.good.equals(df)
    failing = split.rules.filter(pl.col("rows_failing") > 0)
    assert sorted(failing["rule"]) == [
        "medications: has_rxnorm_code",
        "medications: reference_resolved",
    ]


def test_unresolved_reference_with_display_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "medication_resolution", "unresolved")
    df = with_cell(df, 1, "medication_resource_id", None)

    assert_only_warning(TABLE, df, "medications: reference_resolved")


def test_drug_without_rxnorm_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 2, "rxnorm_code", None)

    assert_only_warning(TABLE, df, "medications: has_rxnorm_code")
