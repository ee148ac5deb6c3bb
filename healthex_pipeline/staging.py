"""Staging: unpacked resources per raw object, and every ViewDefinition run over a partition.

Per partition (``staging/user=<key>/connector=<c>/``):
- ``resources/<sha256>.parquet``: the resources of one raw object (derived once, immutable);
- ``views/<view>.parquet``: each staging view over all of the partition's resources, rebuilt
  only when the set of objects or the transforms change (fingerprint in the file's metadata).
Both are encrypted under the partition's data key, like every per-partition file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from healthex_pipeline.encryption import Vault
from healthex_pipeline.quarantine import ContentError
from healthex_pipeline.settings import partition_dir
from healthex_pipeline.sof.sql_text import sql_string
from healthex_pipeline.transforms import (
    BATCH_COLUMN,
    STAGING_SOURCE,
    staging_fingerprint,
    staging_views,
)

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

    def write_view(self, view: str, rows: pa.Table, fingerprint: str) -> None:
        self._write(self.view_file(view), rows, fingerprint)

    def _write(self, path: Path, table: pa.Table, fingerprint: str | None = None) -> None:
        self.vault.write_parquet(path, table, self.user_key, self.connector, fingerprint)

    def fingerprint(self) -> str:
        names = "\n".join(f.stem for f in self.resource_files())
        return hashlib.sha256(f"{staging_fingerprint()}\n{names}".encode()).hexdigest()


def _batch_resources(
    con: duckdb.DuckDBPyConnection, partitions: Sequence[StagingPartition]
) -> None:
    """The partitions' unpacked resources as one relation, each row tagged with its partition."""
    tables = []
    for index, partition in enumerate(partitions):
        files = partition.resource_files()
        if files:
            table = partition.vault.read_many(files)
            tables.append(
                table.append_column(BATCH_COLUMN, pa.array([index] * table.num_rows, pa.int32()))
            )
    if tables:
        con.register("batch_resources_arrow", pa.concat_tables(tables))
        con.execute(
            "CREATE OR REPLACE TEMP VIEW batch_resources AS "
            "SELECT * REPLACE (resource::JSON AS resource) FROM batch_resources_arrow"
        )
    else:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE batch_resources ({RESOURCES_COLUMNS}, "
            f"{BATCH_COLUMN} INTEGER)"
        )


def build_views(
    con: duckdb.DuckDBPyConnection, partitions: Sequence[StagingPartition]
) -> list[dict[str, ViewStats] | None]:
    """Run every staging view over the partitions; per partition, None when nothing changed.

    Each view runs once over every changed partition's resources together (a batch run's
    users cost one statement a view, not one a view and user); its rows are then split by
    partition and written to each partition's file, under that partition's key.
    """
    views = staging_views()
    fingerprints = [p.fingerprint() for p in partitions]
    changed = [
        (index, partition)
        for index, (partition, fingerprint) in enumerate(zip(partitions, fingerprints, strict=True))
        if not all(partition.view_fingerprint(v.name) == fingerprint for v in views)
    ]
    stats: list[dict[str, ViewStats] | None] = [None] * len(partitions)
    if not changed:
        return stats
    _batch_resources(con, [partition for _, partition in changed])
    for index, _ in changed:
        stats[index] = {}
    for view in views:
        # The unpacked resource_type is the resource's own resourceType: filtering on it
        # first keeps each view from parsing every other type's JSON (the view checks again).
        conditions = [f"resource_type = {sql_string(view.compiled.resource)}"]
        versions = view.compiled.fhir_versions
        if versions:
            conditions.append("fhir_version IN (" + ", ".join(map(sql_string, versions)) + ")")
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {STAGING_SOURCE} AS "
            f"SELECT * FROM batch_resources WHERE {' AND '.join(conditions)}"
        )
        try:
            table = con.sql(view.compiled.sql).to_arrow_table()
        except duckdb.Error as exc:
            raise ContentError(view.compiled.resource, f"staging view {view.name}", exc) from None
        for position, (index, partition) in enumerate(changed):
            rows = table.filter(pc.field(BATCH_COLUMN) == position).drop_columns([BATCH_COLUMN])
            partition.write_view(view.name, rows, fingerprints[index])
            errors = rows.column("_cast_errors").to_pylist()
            view_stats = stats[index]
            assert view_stats is not None
            view_stats[view.name] = ViewStats(rows.num_rows, sum(1 for e in errors if e))
    return stats
