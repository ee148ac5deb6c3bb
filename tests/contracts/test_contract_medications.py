from __future__ import annotations

from data_contracts.registry import split_valid
from tests.contracts.frames import SENTINEL, assert_only_row_rejected, good_frame, with_cell

TABLE = "medications"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_dstu2_medication_order_and_statement_accepted() -> None:
    df = with_cell(good_frame(TABLE), 0, "resource_type", "MedicationOrder")
    df = with_cell(df, 1, "resource_type", "MedicationStatement")

    assert split_valid(TABLE, df)[1].is_empty()


def test_other_resource_type_rejected() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: isin")


def test_medication_without_code_or_display_rejected() -> None:
    df = with_cell(
        with_cell(good_frame(TABLE), 2, "rxnorm_code", None), 2, "medication_display", None
    )

    assert_only_row_rejected(TABLE, df, 2, "medications: has_medication")
