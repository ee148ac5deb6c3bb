"""Contract of ``quarantine``: inputs or rows the pipeline set aside, with why and where."""

from __future__ import annotations

import pandera.polars as pa

from data_contracts.provenance import CONNECTORS, SHA256_PATTERN, USER_KEY_PATTERN, UtcDatetime

STAGES = ("ingest", "staging", "contract")


class Quarantine(pa.DataFrameModel):
    """One set-aside item; ``reason`` describes the failure, never the offending values."""

    user_key: str = pa.Field(str_matches=USER_KEY_PATTERN)
    connector: str = pa.Field(isin=CONNECTORS)
    stage: str = pa.Field(isin=STAGES)
    raw_sha256: str = pa.Field(str_matches=SHA256_PATTERN)
    locator: str
    resource_type: str = pa.Field(nullable=True)
    resource_id: str = pa.Field(nullable=True)
    reason: str
    run_id: str
    quarantined_at: UtcDatetime

    class Config(pa.DataFrameModel.Config):
        """Exactly the declared columns, never coerced; failures read ``quarantine: <check>``."""

        name = "quarantine"
        strict = True
        coerce = False
