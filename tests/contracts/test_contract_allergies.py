from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from data_contracts.failures import ContractSchemaError
from data_contracts.registry import split_valid
from tests.contracts.frames import (
    SENTINEL,
    assert_no_failing_rule,
    assert_only_row_rejected,
    assert_only_warning,
    good_frame,
    with_cell,
)

TABLE = "allergies"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_type_must_be_allergy_intolerance() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_type", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_type: equal_to")


def test_allergy_without_substance_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "substance_code", None)
    df = with_cell(df, 0, "substance_display", None)

    assert_only_row_rejected(TABLE, df, 0, "allergies: has_substance")


def test_future_onset_rejected() -> None:
    future = dt.datetime(2987, 6, 5, tzinfo=dt.UTC)
    df = with_cell(good_frame(TABLE), 2, "onset_at", future)

    assert_only_row_rejected(TABLE, df, 2, "onset_at: not_in_future", sentinel="2987")


def test_allergy_without_reactions_or_categories_kept() -> None:
    df = with_cell(with_cell(good_frame(TABLE), 1, "reactions", []), 1, "categories", [])

    assert split_valid(TABLE, df)[1].is_empty()


def test_reactions_missing_a_field_is_a_schema_error() -> None:
    narrower = pl.List(pl.Struct({"manifestation": pl.String, "severity": pl.String}))
    reactions = [[{"manifestation": "Hives", "severity": "mild"}]] * 3
    df = good_frame(TABLE).with_columns(pl.Series("reactions", reactions, dtype=narrower))

    with pytest.raises(ContractSchemaError, match=r"allergies: .*reactions: dtype"):
        split_valid(TABLE, df)


def test_substance_in_an_unknown_code_system_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "substance_system", "http://fdasis.nlm.nih.gov")

    assert_only_warning(TABLE, df, "allergies: known_substance_system")


def test_substance_coded_in_snomed_has_no_warning() -> None:
    df = with_cell(good_frame(TABLE), 1, "substance_system", "http://snomed.info/sct")

    assert_no_failing_rule(TABLE, df)


def test_allergy_without_onset_lands_with_a_warning() -> None:
    df = with_cell(good_frame(TABLE), 2, "onset_at", None)

    assert_only_warning(TABLE, df, "allergies: has_onset")
