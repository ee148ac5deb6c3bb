"""Contract of ``procedures``: one row per Procedure."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import (
    CPT,
    SNOMED_CT,
    any_present,
    in_code_systems,
    not_before_1900,
    not_in_future,
)
from data_contracts.provenance import Provenance, UtcDatetime


class Procedures(Provenance):
    """A procedure: its code, status, when it was performed and in which encounter."""

    resource_type: str = pa.Field(eq="Procedure")
    code: str = pa.Field(nullable=True)
    code_system: str = pa.Field(nullable=True)
    code_display: str = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    performed_start: UtcDatetime = pa.Field(nullable=True)
    performed_end: UtcDatetime = pa.Field(nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``procedures: <check>``."""

        name = "procedures"

    @pa.check("performed_start", name="not_in_future")
    @classmethod
    def _start_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("performed_start", name="not_before_1900")
    @classmethod
    def _start_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="has_code")
    @classmethod
    def _has_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A procedure nobody can name (no code, no display text) cannot be summarised."""
        return data.lazyframe.select(
            pl.col("code").is_not_null() | pl.col("code_display").is_not_null()
        )

    @pa.dataframe_check(name="performed_end_ge_performed_start")
    @classmethod
    def _performed_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A procedure that ends before it starts has swapped or mis-parsed bounds."""
        return data.lazyframe.select(
            (pl.col("performed_end") >= pl.col("performed_start")).fill_null(value=True)
        )

    @pa.dataframe_check(name="known_code_system", raise_warning=True)
    @classmethod
    def _known_code_system(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a procedure coded outside SNOMED CT and CPT (or not coded) groups poorly."""
        return in_code_systems(data, "code_system", (SNOMED_CT, CPT))

    @pa.dataframe_check(name="has_performed_start", raise_warning=True)
    @classmethod
    def _has_performed_start(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a procedure without a performed time cannot be placed on the timeline."""
        return any_present(data, "performed_start")
