"""DuckDB connections configured the one way every pipeline step needs them."""

from __future__ import annotations

import duckdb

from healthex_pipeline.sof.macros import install_macros
from healthex_pipeline.transforms import macros_sql


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory connection in UTC with the SQL-on-FHIR and model macros installed."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    install_macros(con)
    con.execute(macros_sql())
    return con
