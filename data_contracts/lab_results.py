"""Contract of ``lab_results``: one row per laboratory Observation."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import not_before_1900, not_in_future
from data_contracts.provenance import Provenance, UtcDatetime

OBSERVATION_STATUSES = (
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "unknown",
)
"""FHIR ObservationStatus (R4 and DSTU2 alike) minus entered-in-error, which is dropped upstream."""


class LabResults(Provenance):
    """A lab result as the analytics layer reads it: code, value, unit, reference range, time."""

    resource_type: str = pa.Field(eq="Observation")
    loinc_code: str = pa.Field(nullable=True)
    code_system: str = pa.Field(nullable=True)
    code_display: str = pa.Field(nullable=True)
    effective_at: UtcDatetime = pa.Field(nullable=True)
    issued_at: UtcDatetime = pa.Field(nullable=True)
    value_num: float = pa.Field(nullable=True)
    value_text: str = pa.Field(nullable=True)
    unit: str = pa.Field(nullable=True)
    ucum_code: str = pa.Field(nullable=True)
    ref_low: float = pa.Field(nullable=True)
    ref_high: float = pa.Field(nullable=True)
    ref_text: str = pa.Field(nullable=True)
    interpretation: str = pa.Field(nullable=True)
    # Required by FHIR, but Apple Health exports omit it; kept null rather than invented.
    status: str = pa.Field(isin=OBSERVATION_STATUSES, nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``lab_results: <check>``."""

        name = "lab_results"

    @pa.check("effective_at", name="not_in_future")
    @classmethod
    def _effective_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("effective_at", name="not_before_1900")
    @classmethod
    def _effective_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="has_code")
    @classmethod
    def _has_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A result nobody can name (no LOINC, no display text) is useless downstream."""
        return data.lazyframe.select(
            pl.col("loinc_code").is_not_null() | pl.col("code_display").is_not_null()
        )

    @pa.dataframe_check(name="ref_low_le_ref_high")
    @classmethod
    def _reference_range_ordered(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """An inverted reference range means the bounds were swapped or mis-parsed."""
        return data.lazyframe.select(
            (pl.col("ref_low") <= pl.col("ref_high")).fill_null(value=True)
        )
