"""Curated tables as one Parquet file per table × user × connector, and a catalog of views.

The catalog (a DuckDB file) holds only views over the Parquet files, never rows, so a purge
deletes a user's files and nothing else has to be rewritten. Each table also keeps a zero-row
``_schema.parquet`` so its view resolves before any user's data has landed.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from healthex_pipeline.settings import partition_dir

DATA_FILE = "data.parquet"
SCHEMA_FILE = "_schema.parquet"
FINGERPRINT_KEY = b"healthex.inputs"


def write_parquet_atomic(path: Path, table: pa.Table, fingerprint: str | None = None) -> None:
    """Write to a temporary name and rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fingerprint is not None:
        metadata = dict(table.schema.metadata or {})
        metadata[FINGERPRINT_KEY] = fingerprint.encode()
        table = table.replace_schema_metadata(metadata)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def read_fingerprint(path: Path) -> str | None:
    """The inputs fingerprint a file was written from, or None when absent."""
    if not path.exists():
        return None
    metadata = pq.read_schema(path).metadata or {}
    value = metadata.get(FINGERPRINT_KEY)
    return value.decode() if value else None


class Warehouse:
    """Per-partition Parquet files under ``warehouse/<table>/`` and the serving catalog."""

    def __init__(self, root: Path, catalog_path: Path) -> None:
        self.root = root
        self.catalog_path = catalog_path

    def partition_file(
        self, table: str, user_key: str, connector: str, name: str = DATA_FILE
    ) -> Path:
        return partition_dir(self.root / table, user_key, connector) / name

    def write(
        self,
        table: str,
        user_key: str,
        connector: str,
        data: pa.Table,
        fingerprint: str | None = None,
        name: str = DATA_FILE,
    ) -> Path:
        """Replace one partition's file of a table and make sure the table is in the catalog."""
        path = self.partition_file(table, user_key, connector, name)
        write_parquet_atomic(path, data, fingerprint)
        schema_path = self.root / table / SCHEMA_FILE
        if not schema_path.exists():
            write_parquet_atomic(schema_path, data.schema.empty_table())
            self.refresh_catalog()
        return path

    def remove(self, table: str, user_key: str, connector: str, name: str = DATA_FILE) -> None:
        self.partition_file(table, user_key, connector, name).unlink(missing_ok=True)

    def tables(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{SCHEMA_FILE}"))

    def refresh_catalog(self) -> None:
        """(Re)create one view per table; retried because another run may hold the file."""
        statements = [
            f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet("
            f"'{self.root / table}/**/*.parquet', union_by_name = true, hive_partitioning = false)"
            for table in self.tables()
        ]
        for attempt in range(50):
            try:
                with duckdb.connect(str(self.catalog_path)) as con:
                    for statement in statements:
                        con.execute(statement)
                return
            except duckdb.IOException:
                if attempt == 49:
                    raise
                time.sleep(0.1)

    def connect_readonly(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the catalog, for `healthex sql` and the AI team's reads."""
        if not self.catalog_path.exists():
            self.refresh_catalog()
        con = duckdb.connect(str(self.catalog_path), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        return con
