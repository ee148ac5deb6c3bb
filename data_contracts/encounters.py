"""Contract of ``encounters``: one row per Encounter."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import any_present
from data_contracts.provenance import Provenance, UtcDatetime


class Encounters(Provenance):
    """A visit: class, type, period, reason and the organisation that provided it."""

    resource_type: str = pa.Field(eq="Encounter")
    encounter_class: str = pa.Field(nullable=True)
    type_code: str = pa.Field(nullable=True)
    type_display: str = pa.Field(nullable=True)
    period_start: UtcDatetime = pa.Field(nullable=True)
    period_end: UtcDatetime = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    reason_code: str = pa.Field(nullable=True)
    reason_display: str = pa.Field(nullable=True)
    service_provider: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``encounters: <check>``."""

        name = "encounters"

    @pa.dataframe_check(name="period_end_ge_period_start")
    @classmethod
    def _period_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A visit that ends before it starts has swapped or mis-parsed bounds."""
        return data.lazyframe.select(
            (pl.col("period_end") >= pl.col("period_start")).fill_null(value=True)
        )

    @pa.dataframe_check(name="has_class_or_type", raise_warning=True)
    @classmethod
    def _has_class_or_type(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a visit of no class and no type cannot be told apart from any other visit."""
        return any_present(data, "encounter_class", "type_code", "type_display")

    @pa.dataframe_check(name="finished_has_period_end", raise_warning=True)
    @classmethod
    def _finished_has_end(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a finished visit without an end has no length of stay."""
        return data.lazyframe.select(
            pl.col("status").ne_missing("finished") | pl.col("period_end").is_not_null()
        )
