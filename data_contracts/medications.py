"""Contract of ``medications``: medication requests, orders, statements and administrations."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.checks import any_present
from data_contracts.provenance import Provenance, UtcDatetime

MEDICATION_RESOURCE_TYPES = (
    "MedicationRequest",
    "MedicationStatement",
    "MedicationOrder",
    "MedicationAdministration",
)
RESOLUTIONS = ("code", "contained", "bundled", "landed", "unresolved")
"""Where the drug came from: the resource's own code, or what its medicationReference named."""
RESOLVED_REFERENCES = ("contained", "bundled", "landed")


class Medications(Provenance):
    """A prescription, statement or administration: drug, status, timing, dosage and route."""

    resource_type: str = pa.Field(isin=MEDICATION_RESOURCE_TYPES)
    rxnorm_code: str = pa.Field(nullable=True)
    rxnorm_display: str = pa.Field(nullable=True)
    medication_display: str = pa.Field(nullable=True)
    medication_resolution: str = pa.Field(isin=RESOLUTIONS)
    # The resolved Medication's id (a contained one's local id); null for codes and unresolved.
    medication_resource_id: str = pa.Field(nullable=True)
    status: str = pa.Field(nullable=True)
    intent: str = pa.Field(nullable=True)
    authored_at: UtcDatetime = pa.Field(nullable=True)
    dosage_text: str = pa.Field(nullable=True)
    timing_frequency: int = pa.Field(nullable=True)
    timing_period: float = pa.Field(nullable=True)
    timing_period_unit: str = pa.Field(nullable=True)
    timing_code: str = pa.Field(nullable=True)
    timing_text: str = pa.Field(nullable=True)
    as_needed: bool = pa.Field(nullable=True)
    route_code: str = pa.Field(nullable=True)
    route_system: str = pa.Field(nullable=True)
    route_display: str = pa.Field(nullable=True)
    dose_value: float = pa.Field(nullable=True)
    dose_unit: str = pa.Field(nullable=True)
    encounter_id: str = pa.Field(nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``medications: <check>``."""

        name = "medications"

    @pa.dataframe_check(name="has_medication")
    @classmethod
    def _has_medication(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A row naming no drug cannot be analysed, unless its reference is what failed.

        An unresolved reference is kept (and warned about) so the gap stays visible.
        """
        return data.lazyframe.select(
            pl.col("medication_display").is_not_null()
            | pl.col("rxnorm_code").is_not_null()
            | (pl.col("medication_resolution") == "unresolved")
        )

    @pa.dataframe_check(name="resolved_has_target")
    @classmethod
    def _resolved_has_target(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A resolved reference names the Medication it resolved to; nothing else names one."""
        resolved = pl.col("medication_resolution").is_in(RESOLVED_REFERENCES)
        return data.lazyframe.select(resolved == pl.col("medication_resource_id").is_not_null())

    @pa.dataframe_check(name="reference_resolved", raise_warning=True)
    @classmethod
    def _reference_resolved(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: the medicationReference pointed at nothing this user's data holds."""
        return data.lazyframe.select(pl.col("medication_resolution") != "unresolved")

    @pa.dataframe_check(name="has_rxnorm_code", raise_warning=True)
    @classmethod
    def _has_rxnorm_code(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Warn: a drug named only in text matches no other source's copy of it."""
        return any_present(data, "rxnorm_code")
