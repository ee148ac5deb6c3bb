"""Provenance columns every curated table starts with, so any row traces back to its raw input."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

UtcDatetime = Annotated[pl.Datetime, "us", "UTC"]
"""Column type of every timestamp: microseconds, UTC (polars' and DuckDB's default unit)."""

USER_KEY_PATTERN = r"^u_[0-9a-f]{24}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
CONNECTORS = ("healthex", "fasten", "apple_health")

PROVENANCE_COLUMNS = (
    "user_key",
    "connector",
    "resource_type",
    "resource_id",
    "resource_version",
    "raw_sha256",
    "fetched_at",
    "run_id",
    "source_updated_at",
    "identifier_key",
)


class Provenance(pa.DataFrameModel):
    """Base model of the curated tables: who, from which connector, which raw bytes, which run."""

    user_key: str = pa.Field(str_matches=USER_KEY_PATTERN)
    connector: str = pa.Field(isin=CONNECTORS)
    resource_type: str
    resource_id: str
    resource_version: str = pa.Field(nullable=True)
    raw_sha256: str = pa.Field(str_matches=SHA256_PATTERN)
    fetched_at: UtcDatetime
    run_id: str
    # meta.lastUpdated: which copy of a fact is newest when connectors deliver it twice.
    source_updated_at: UtcDatetime = pa.Field(nullable=True)
    # SHA-256 of the first business identifier (system|value): the cross-connector dedup key.
    identifier_key: str = pa.Field(nullable=True, str_matches=SHA256_PATTERN)

    class Config(pa.DataFrameModel.Config):
        """Curated tables hold exactly the declared columns; values are never coerced."""

        strict = True
        coerce = False
