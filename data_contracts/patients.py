"""Contract of ``patients``: one row per Patient, restricted to non-identifying demographics.

The table's columns are exactly these (the contract is strict), so a name, birth date, address,
telecom or identifier column cannot be added without changing this file; ``resource_id`` must be
the SHA-256 the model puts there, never the Patient's id itself.
"""

from __future__ import annotations

import datetime as dt

import pandera.polars as pa
import polars as pl

from data_contracts.provenance import SHA256_PATTERN, Provenance

ADMINISTRATIVE_GENDERS = ("male", "female", "other", "unknown")
US_STATE_PATTERN = r"^[A-Z]{2}$"
EARLIEST_BIRTH_YEAR = 1850


class Patients(Provenance):
    """Birth year, sex, deceased flag and US state: what a summary may say about the person."""

    resource_type: str = pa.Field(eq="Patient")
    resource_id: str = pa.Field(str_matches=SHA256_PATTERN)
    birth_year: int = pa.Field(nullable=True)
    sex: str = pa.Field(isin=ADMINISTRATIVE_GENDERS, nullable=True)
    deceased: bool
    us_state: str = pa.Field(str_matches=US_STATE_PATTERN, nullable=True)

    class Config(Provenance.Config):
        """Name the schema after its table so row-level failures read ``patients: <check>``."""

        name = "patients"

    @pa.check("birth_year", name="plausible_birth_year")
    @classmethod
    def _plausible_birth_year(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Born between 1850 and this year: anything else is a parse or default-value artefact."""
        return data.lazyframe.select(
            pl.col(data.key).is_between(EARLIEST_BIRTH_YEAR, dt.datetime.now(dt.UTC).year)
        )
