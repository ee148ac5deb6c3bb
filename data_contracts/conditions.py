"""Contract of ``conditions``: one row per Condition (problem-list entry or diagnosis)."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import (
    ICD_10_CM,
    SNOMED_CT,
    any_present,
    in_code_systems,
    not_before_1900,
    not_in_future,
)
from data_contracts.provenance import Provenance, UtcDatetime

CONDITION_CATEGORIES = ("problem-list-item", "encounter-diagnosis", "health-concern")
"""The R4 categories the model derives; anything else is left null there, never passed through."""


class Conditions(Provenance):
    """A diagnosis or problem: its code, statuses, category and when it began and ended."""

    resource_type: str = pa.Field(eq="Condition")
    code: str = pa.Field(nullable=True)
    code_system: str = pa.Field(nullable=True)
    code_display: str = pa.Field(nullable=True)
    clinical_status: str = pa.Field(nullable=True)
    verification_status: str = pa.Field(nullable=True)
    category: str = pa.Field(isin=CONDITION_CATEGORIES, nullable=True)
    onset_at: UtcDatetime = pa.Field(nullable=True)
    abatement_at: UtcDatetime = pa.Field(nullable=True)
    recorded_at: UtcDatetime = pa.Field(nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``conditions: <check>``."""

        name = "conditions"

    @pa.check("onset_at", name="not_in_future")
    @classmethod
    def _onset_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("onset_at", name="not_before_1900")
    @classmethod
    def _onset_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="has_code")
    @classmethod
    def _has_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A condition nobody can name (no code, no display text) cannot be summarised."""
        return data.lazyframe.select(
            pl.col("code").is_not_null() | pl.col("code_display").is_not_null()
        )

    @pa.dataframe_check(name="abatement_at_ge_onset_at")
    @classmethod
    def _abatement_after_onset(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A condition that resolves before it begins has swapped or mis-parsed dates."""
        return data.lazyframe.select(
            (pl.col("abatement_at") >= pl.col("onset_at")).fill_null(value=True)
        )

    @pa.dataframe_check(name="known_code_system", raise_warning=True)
    @classmethod
    def _known_code_system(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a diagnosis coded outside SNOMED CT and ICD-10-CM (or not coded) groups poorly."""
        return in_code_systems(data, "code_system", (SNOMED_CT, ICD_10_CM))

    @pa.dataframe_check(name="has_onset", raise_warning=True)
    @classmethod
    def _has_onset(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a condition without onset cannot be placed on the patient's timeline."""
        return any_present(data, "onset_at")
