"""Contract of ``immunizations``: one row per Immunization."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import any_present, not_before_1900, not_in_future
from data_contracts.provenance import Provenance, UtcDatetime


class Immunizations(Provenance):
    """An administered (or reported) vaccine dose: vaccine, date, lot."""

    resource_type: str = pa.Field(eq="Immunization")
    cvx_code: str = pa.Field(nullable=True)
    vaccine_display: str = pa.Field(nullable=True)
    occurrence_at: UtcDatetime = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    lot_number: str = pa.Field(nullable=True)
    primary_source: bool = pa.Field(nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``immunizations: <check>``."""

        name = "immunizations"

    @pa.check("occurrence_at", name="not_in_future")
    @classmethod
    def _occurrence_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("occurrence_at", name="not_before_1900")
    @classmethod
    def _occurrence_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="has_vaccine")
    @classmethod
    def _has_vaccine(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A dose that names no vaccine (no CVX code, no display) cannot be analysed."""
        return data.lazyframe.select(
            pl.col("cvx_code").is_not_null() | pl.col("vaccine_display").is_not_null()
        )

    @pa.dataframe_check(name="has_cvx_code", raise_warning=True)
    @classmethod
    def _has_cvx_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a vaccine named only in text matches no schedule and no other source's dose."""
        return any_present(data, "cvx_code")
