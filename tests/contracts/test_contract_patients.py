from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from data_contracts.failures import ContractSchemaError
from data_contracts.registry import split_valid
from tests.contracts.frames import SENTINEL, assert_only_row_rejected, good_frame, with_cell

TABLE = "patients"


def test_good_frame_passes() -> None:
    df = good_frame(TABLE)

    good, rejected = split_valid(TABLE, df)

    assert good.equals(df)
    assert rejected.is_empty()


def test_resource_id_must_be_the_hash_not_the_patient_id() -> None:
    df = with_cell(good_frame(TABLE), 1, "resource_id", SENTINEL)

    assert_only_row_rejected(TABLE, df, 1, "resource_id: str_matches")


@pytest.mark.parametrize("year", [1849, dt.datetime.now(dt.UTC).year + 1])
def test_implausible_birth_year_rejected(year: int) -> None:
    df = with_cell(good_frame(TABLE), 2, "birth_year", year)

    assert_only_row_rejected(TABLE, df, 2, "birth_year: plausible_birth_year", sentinel=str(year))


def test_sex_outside_administrative_gender_rejected() -> None:
    df = with_cell(good_frame(TABLE), 0, "sex", SENTINEL)

    assert_only_row_rejected(TABLE, df, 0, "sex: isin")


def test_state_must_be_a_two_letter_code() -> None:
    df = with_cell(good_frame(TABLE), 1, "us_state", "Oregon")

    assert_only_row_rejected(TABLE, df, 1, "us_state: str_matches", sentinel="Oregon")


def test_unknown_demographics_kept() -> None:
    df = good_frame(TABLE)
    for column in ("birth_year", "sex", "us_state"):
        df = with_cell(df, 1, column, None)

    assert split_valid(TABLE, df)[1].is_empty()


@pytest.mark.parametrize("column", ["name", "birth_date", "address", "telecom", "identifier"])
def test_an_identifying_column_is_a_schema_error(column: str) -> None:
    df = good_frame(TABLE).with_columns(pl.lit(SENTINEL).alias(column))

    with pytest.raises(ContractSchemaError, match=rf"patients: .*{column}: column_in_schema"):
        split_valid(TABLE, df)
