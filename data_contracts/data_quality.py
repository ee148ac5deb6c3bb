"""Contract of ``data_quality``: per build, how many rows each contract rule checked and failed."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from data_contracts.provenance import CONNECTORS, USER_KEY_PATTERN, UtcDatetime
from data_contracts.severity import Severity

TABLE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
RULE_PATTERN = r"^\w+: \w+$"
"""``"<column or table>: <check>"``: names only, so a rule can never carry a cell value."""


class DataQuality(pa.DataFrameModel):
    """One rule of one curated table's contract, as applied by one build of a partition."""

    user_key: str = pa.Field(str_matches=USER_KEY_PATTERN)
    connector: str = pa.Field(isin=CONNECTORS)
    table_name: str = pa.Field(str_matches=TABLE_NAME_PATTERN)
    rule: str = pa.Field(str_matches=RULE_PATTERN)
    severity: str = pa.Field(isin=[severity.value for severity in Severity])
    rows_checked: int = pa.Field(ge=0)
    rows_failing: int = pa.Field(ge=0)
    run_id: str
    checked_at: UtcDatetime

    class Config(pa.DataFrameModel.Config):
        """Exactly the declared columns, never coerced; failures read ``data_quality: <check>``."""

        name = "data_quality"
        strict = True
        coerce = False

    @pa.dataframe_check(name="rows_failing_le_rows_checked")
    @classmethod
    def _failing_within_checked(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """A rule cannot fail more rows than it checked."""
        return data.lazyframe.select(pl.col("rows_failing") <= pl.col("rows_checked"))
