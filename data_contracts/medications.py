"""Contract of ``medications``: MedicationRequest, MedicationStatement and DSTU2 MedicationOrder."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.provenance import Provenance, UtcDatetime

MEDICATION_RESOURCE_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationOrder")


class Medications(Provenance):
    """A prescription or medication statement, reduced to drug, status and timing."""

    resource_type: str = pa.Field(isin=MEDICATION_RESOURCE_TYPES)
    rxnorm_code: str = pa.Field(nullable=True)
    medication_display: str = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    intent: str = pa.Field(nullable=True)
    authored_at: UtcDatetime = pa.Field(nullable=True)
    dosage_text: str = pa.Field(nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``medications: <check>``."""

        name = "medications"

    @pa.dataframe_check(name="has_medication")
    @classmethod
    def _has_medication(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A row that names no drug (no RxNorm code, no display) cannot be analysed."""
        return data.lazyframe.select(
            pl.col("medication_display").is_not_null() | pl.col("rxnorm_code").is_not_null()
        )
