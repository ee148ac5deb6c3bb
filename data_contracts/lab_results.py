"""Contract of ``lab_results``: one row per laboratory result (an Observation or a component)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import LOINC, not_before_1900, not_in_future
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

QUANTITY_COMPARATORS = ("<", "<=", ">=", ">")
"""FHIR QuantityComparator: the value is a bound, not a measurement."""

REF_RANGE_SOURCES = ("low_high", "text")
"""Where the reference range came from: ``referenceRange.low/high``, else its parsed text."""


class LabResults(Provenance):
    """A lab result as the analytics layer reads it: code, value, unit, reference range, time.

    A panel's components are rows of their own (``component_index`` 0, 1, …, ``panel_*`` naming
    the panel); the Observation's own value has ``component_index`` null. Source value and unit
    stay beside their UCUM code and normalized form (``healthex_pipeline/units.py``).
    """

    resource_type: str = pa.Field(eq="Observation")
    component_index: int = pa.Field(nullable=True, ge=0)
    loinc_code: str = pa.Field(nullable=True)
    code_system: str = pa.Field(nullable=True)
    code_display: str = pa.Field(nullable=True)
    panel_loinc_code: str = pa.Field(nullable=True)
    panel_code_display: str = pa.Field(nullable=True)
    effective_at: UtcDatetime = pa.Field(nullable=True)
    issued_at: UtcDatetime = pa.Field(nullable=True)
    value_num: float = pa.Field(nullable=True)
    value_text: str = pa.Field(nullable=True)
    value_comparator: str = pa.Field(nullable=True, isin=QUANTITY_COMPARATORS)
    unit: str = pa.Field(nullable=True)
    ucum_code: str = pa.Field(nullable=True)
    normalized_value: float = pa.Field(nullable=True)
    normalized_unit: str = pa.Field(nullable=True)
    ref_low: float = pa.Field(nullable=True)
    ref_high: float = pa.Field(nullable=True)
    ref_text: str = pa.Field(nullable=True)
    ref_range_source: str = pa.Field(nullable=True, isin=REF_RANGE_SOURCES)
    interpretation: str = pa.Field(nullable=True)
    # From the interpretation when known, else the value against the range; null when neither.
    abnormal: bool = pa.Field(nullable=True)
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

    @pa.dataframe_check(name="normalized_value_has_unit")
    @classmethod
    def _normalized_value_has_unit(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A normalized value without its unit cannot be read; the model sets both or neither."""
        return data.lazyframe.select(
            pl.col("normalized_value").is_null() | pl.col("normalized_unit").is_not_null()
        )

    @pa.dataframe_check(name="component_has_panel")
    @classmethod
    def _component_has_panel(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Panel columns belong to component rows only, so a row's kind is never ambiguous."""
        return data.lazyframe.select(
            pl.col("component_index").is_not_null()
            | (pl.col("panel_loinc_code").is_null() & pl.col("panel_code_display").is_null())
        )

    @pa.dataframe_check(name="numeric_value_has_unit", raise_warning=True)
    @classmethod
    def _numeric_value_has_unit(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A number without a unit cannot be compared across labs (warn: some are unitless)."""
        return data.lazyframe.select(pl.col("value_num").is_null() | pl.col("unit").is_not_null())

    @pa.dataframe_check(name="unit_is_ucum", raise_warning=True)
    @classmethod
    def _unit_is_ucum(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A unit neither UCUM nor a known alias is not normalized: add it to the alias table."""
        return data.lazyframe.select(pl.col("unit").is_null() | pl.col("ucum_code").is_not_null())

    @pa.dataframe_check(name="loinc_coded", raise_warning=True)
    @classmethod
    def _loinc_coded(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Results without a LOINC code cannot be trended with the same test from another lab."""
        return data.lazyframe.select((pl.col("code_system") == LOINC).fill_null(value=False))
