"""Curated tables as one encrypted Parquet file per table × user × connector.

A purge deletes a user's files (and their partition keys) and nothing else has to be rewritten.
Each table keeps a zero-row plaintext ``_schema.parquet`` (column names and types, no data) so
it can be read before any user's data has landed. Readers get a DuckDB connection whose tables
are the files decrypted (each with its own partition key) in the reading process.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from healthex_pipeline.current import current_sql, specs
from healthex_pipeline.durable import write_atomically
from healthex_pipeline.encryption import Vault
from healthex_pipeline.settings import Settings, partition_dir

DATA_FILE = "data.parquet"
SCHEMA_FILE = "_schema.parquet"


def _write_schema(path: Path, schema: pa.Schema) -> None:
    """The plaintext zero-row schema file, replaced atomically."""
    write_atomically(path, lambda tmp: pq.write_table(schema.remove_metadata().empty_table(), tmp))


class Warehouse:
    """Per-partition Parquet files under ``warehouse/<table>/`` and the readers' connection."""

    def __init__(self, root: Path, vault: Vault) -> None:
        self.root = root
        self.vault = vault

    @classmethod
    def for_settings(cls, settings: Settings) -> Warehouse:
        return cls(settings.warehouse_root, settings.vault())

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
        """Replace one partition's file of a table; keep the table's schema file current."""
        path = self.partition_file(table, user_key, connector, name)
        self.vault.write_parquet(path, data, user_key, connector, fingerprint)
        self._widen_schema(table, data.schema)
        return path

    def _widen_schema(self, table: str, schema: pa.Schema) -> None:
        """Keep the table's schema file the union of every file's columns.

        Kinds of rows may differ in columns (notifications do); a changed type takes the new one.
        """
        path = self.root / table / SCHEMA_FILE
        if not path.exists():
            _write_schema(path, schema)
            return
        known = pq.read_schema(path)
        if all(
            known.get_field_index(f.name) >= 0 and known.field(f.name).type == f.type
            for f in schema
        ):
            return
        try:
            _write_schema(path, pa.unify_schemas([known, schema]))
        except pa.ArrowTypeError:
            _write_schema(path, schema)

    def row_count(self, path: Path) -> int:
        """Rows in one file (its footer only); 0 when the file is absent."""
        return self.vault.parquet_file(path).metadata.num_rows if path.exists() else 0

    def read(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        return self.vault.read_parquet(path, columns)

    def remove(self, table: str, user_key: str, connector: str, name: str = DATA_FILE) -> None:
        self.partition_file(table, user_key, connector, name).unlink(missing_ok=True)

    def tables(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{SCHEMA_FILE}"))

    def files(self, table: str, user_key: str | None = None) -> list[Path]:
        """A table's data files: all users', or one user's (read from their folder only)."""
        base = self.root / table
        if user_key is not None:
            base = base / f"user={user_key}"
            return sorted(base.glob("connector=*/*.parquet")) if base.exists() else []
        return sorted(base.glob("user=*/connector=*/*.parquet"))

    def read_table(self, table: str, user_key: str | None = None) -> pa.Table:
        """A table's rows; files written before a column was added read it as null."""
        schema = pq.read_schema(self.root / table / SCHEMA_FILE)
        return self.vault.read_many(self.files(table, user_key), schema)

    def connect(self, user_key: str | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with every table (or one user's rows) as a view.

        Each clinical table also gets its deduplicated ``<table>_current`` view (current.py).

        For ``healthex sql`` and the readers' queries; nothing is copied to disk. Rows are
        decrypted before DuckDB sees them: a DuckDB scan that made pyarrow call the key store
        back (Python, from a scan thread) could deadlock on the interpreter lock.
        """
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        current = specs()
        for table in self.tables():
            con.register(f"_{table}_files", self.read_table(table, user_key))
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM _{table}_files")
            if table in current:
                con.execute(f"CREATE VIEW {table}_current AS {current_sql(current[table], table)}")
        return con
