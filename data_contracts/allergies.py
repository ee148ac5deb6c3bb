"""Contract of ``allergies``: one row per AllergyIntolerance, its reactions nested in the row."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

from data_contracts.checks import (
    RXNORM,
    SNOMED_CT,
    any_present,
    in_code_systems,
    not_before_1900,
    not_in_future,
)
from data_contracts.provenance import Provenance, UtcDatetime

REACTION = pl.Struct(
    {
        "manifestation": pl.String,
        "manifestation_code": pl.String,
        "manifestation_system": pl.String,
        "severity": pl.String,
    }
)
"""One manifestation of a reaction and that reaction's severity (mild, moderate, severe)."""


class Allergies(Provenance):
    """An allergy or intolerance: substance, statuses, type, categories, criticality, reactions."""

    resource_type: str = pa.Field(eq="AllergyIntolerance")
    substance_code: str = pa.Field(nullable=True)
    substance_system: str = pa.Field(nullable=True)
    substance_display: str = pa.Field(nullable=True)
    clinical_status: str = pa.Field(nullable=True)
    verification_status: str = pa.Field(nullable=True)
    allergy_type: str = pa.Field(nullable=True)
    categories: Annotated[pl.List, pl.String]
    criticality: str = pa.Field(nullable=True)
    onset_at: UtcDatetime = pa.Field(nullable=True)
    recorded_at: UtcDatetime = pa.Field(nullable=True)
    reactions: Annotated[pl.List, REACTION]

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``allergies: <check>``."""

        name = "allergies"

    @pa.check("onset_at", name="not_in_future")
    @classmethod
    def _onset_not_in_future(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_in_future(data)

    @pa.check("onset_at", name="not_before_1900")
    @classmethod
    def _onset_not_before_1900(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return not_before_1900(data)

    @pa.dataframe_check(name="has_substance")
    @classmethod
    def _has_substance(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """An allergy to nothing nameable (no code, no display text) cannot warn anyone."""
        return data.lazyframe.select(
            pl.col("substance_code").is_not_null() | pl.col("substance_display").is_not_null()
        )

    @pa.dataframe_check(name="known_substance_system", raise_warning=True)
    @classmethod
    def _known_substance_system(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a substance outside RxNorm and SNOMED CT (or not coded) escapes drug checks."""
        return in_code_systems(data, "substance_system", (RXNORM, SNOMED_CT))

    @pa.dataframe_check(name="has_onset", raise_warning=True)
    @classmethod
    def _has_onset(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: an allergy without onset cannot be placed on the patient's timeline."""
        return any_present(data, "onset_at")
