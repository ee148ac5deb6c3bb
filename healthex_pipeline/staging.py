"""Staging: unpacked resources per raw object, and every ViewDefinition run over a partition.

Per partition (``staging/user=<key>/connector=<c>/``):
- ``resources/<sha256>.parquet``: the resources of one raw object (derived once, immutable);
- ``views/<view>.parquet``: each staging view over all of the partition's resources, rebuilt
  only when the set of objects or the transforms change (fingerprint in the file's metadata).
Both are encrypted under the partition's data key, like every per-partition file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from healthex_pipeline.encryption import Vault
from healthex_pipeline.quarantine import ContentError
from healthex_pipeline.settings import partition_dir
from healthex_pipeline.sof.sql_text import sql_string
from healthex_pipeline.transforms import STAGING_SOURCE, staging_fingerprint, staging_views

RESOURCES_COLUMNS = """
    raw_sha256 VARCHAR, locator VARCHAR, full_url VARCHAR, fhir_version VARCHAR,
    resource_type VARCHAR, resource_id VARCHAR, id_synthesized BOOLEAN, version_id VARCHAR,
    last_updated VARCHAR, resource JSON
"""


@dataclass(frozen=True)
class ViewStats:
    """Rows a view produced for a partition, and how many carry cast errors."""

    rows: int
    cast_error_rows: int


class StagingPartition:
    """The staging files of one user × connector."""

    def __init__(self, staging_root: Path, user_key: str, connector: str, vault: Vault) -> None:
        self.root = partition_dir(staging_root, user_key, connector)
        self.user_key = user_key
        self.connector = connector
        self.vault = vault

    @property
    def resources_dir(self) -> Path:
        return self.root / "resources"

    @property
    def views_dir(self) -> Path:
        return self.root / "views"

    def resources_file(self, sha256: str) -> Path:
        return self.resources_dir / f"{sha256}.parquet"

    def view_file(self, view: str) -> Path:
        return self.views_dir / f"{view}.parquet"

    def resource_files(self) -> list[Path]:
        if not self.resources_dir.exists():
            return []
        return sorted(self.resources_dir.glob("*.parquet"))

    def write_resources(self, sha256: str, resources: pa.Table) -> None:
        self._write(self.resources_file(sha256), resources)

    def read_resources(self, sha256: str, columns: list[str] | None = None) -> pa.Table:
        return self.vault.read_parquet(self.resources_file(sha256), columns)

    def register_view(self, con: duckdb.DuckDBPyConnection, view: str, name: str) -> None:
        """Expose one staging view's rows to ``con`` as ``name``."""
        con.register(f"{name}_arrow", self.vault.read_parquet(self.view_file(view)))
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {name}_arrow")

    def view_fingerprint(self, view: str) -> str | None:
        return self.vault.fingerprint(self.view_file(view))

    def register_resources(self, con: duckdb.DuckDBPyConnection, name: str) -> None:
        """Expose the partition's unpacked resources as a temp view (typed even when empty)."""
        files = self.resource_files()
        if files:
            con.register(f"{name}_files", self.vault.read_many(files))
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * REPLACE (resource::JSON AS "
                f"resource) FROM {name}_files"
            )
        else:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({RESOURCES_COLUMNS})")

    def _write(self, path: Path, table: pa.Table, fingerprint: str | None = None) -> None:
        self.vault.write_parquet(path, table, self.user_key, self.connector, fingerprint)

    def fingerprint(self) -> str:
        names = "\n".join(f.stem for f in self.resource_files())
        return hashlib.sha256(f"{staging_fingerprint()}\n{names}".encode()).hexdigest()

    def build_views(self, con: duckdb.DuckDBPyConnection) -> dict[str, ViewStats] | None:
        """Run every staging view; None when nothing changed since the last build."""
        fingerprint = self.fingerprint()
        views = staging_views()
        if all(self.view_fingerprint(v.name) == fingerprint for v in views):
            return None
        self.register_resources(con, "partition_resources")
        stats: dict[str, ViewStats] = {}
        for view in views:
            # The unpacked resource_type is the resource's own resourceType: filtering on it
            # first keeps each view from parsing every other type's JSON (the view checks again).
            conditions = [f"resource_type = {sql_string(view.compiled.resource)}"]
            versions = view.compiled.fhir_versions
            if versions:
                conditions.append(
                    "fhir_version IN (" + ", ".join(sql_string(v) for v in versions) + ")"
                )
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {STAGING_SOURCE} AS "
                f"SELECT * FROM partition_resources WHERE {' AND '.join(conditions)}"
            )
            try:
                table = con.sql(view.compiled.sql).to_arrow_table()
            except duckdb.Error as exc:
                raise ContentError(
                    view.compiled.resource, f"staging view {view.name}", exc
                ) from None
            self._write(self.view_file(view.name), table, fingerprint)
            errors = table.column("_cast_errors").to_pylist()
            stats[view.name] = ViewStats(table.num_rows, sum(1 for e in errors if e))
        return stats
