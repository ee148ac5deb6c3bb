"""The AI team's serving layer: each user's current facts as plaintext Parquet, and a catalog.

Per user and table, the `<table>_current` rows (see current.py) are projected onto the columns
``transforms/current.toml`` allows and stored in the user's bucket of the table (see
serving_store.py: ``serving/<table>/bucket=<bb>/data.parquet``, a ``user_key`` column, sorted by
it); ``patient_timeline`` is materialized the same way. ``serving/catalog.duckdb`` holds only
views (schema ``serving``) over those files: the AI team opens it read-only and never sees raw,
staging or curated files, or the key store.

The files are plaintext because a reader outside the pipeline must open them with plain DuckDB
(which cannot decrypt the pipeline's Parquet). They hold no direct identifiers; a purge rewrites
the user's bucket of every serving table without their rows and removes their AI context folder.

Rows are named by ``source_ref``, never by the FHIR id: some sources build ids from the
patient's member number (Cigna's ``Condition/ifp-<member id>-…``). A ref is a keyed hash of
``ResourceType/id`` (the key derives from the master key), so it cannot be guessed back from
an id; ``resolve_ref`` maps one to its curated row for compliance.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from healthex_pipeline import duck
from healthex_pipeline.current import CurrentSpec, current_sql, specs
from healthex_pipeline.durable import write_atomically
from healthex_pipeline.keys import load_master_key
from healthex_pipeline.serving_store import (
    BUCKET_DIGITS,
    SCHEMA_BUCKET,
    bucket_file,
    replace_users,
    table_glob,
)
from healthex_pipeline.settings import Settings
from healthex_pipeline.sof.sql_text import sql_string
from healthex_pipeline.warehouse import Warehouse

CATALOG_FILE = "catalog.duckdb"
SCHEMA = "serving"
TIMELINE = "patient_timeline"

ENCOUNTER_TYPE = "'Encounter'"
"""The SQL literal encounter refs are made with (encounter_id names an Encounter)."""
REF_LENGTH = 32
"""Hex digits of a source_ref: 128 bits."""
_REF_CONTEXT = b"healthex serving source_ref v1"

TIMELINE_SCHEMA = pa.schema(
    [
        ("event_at", pa.timestamp("us", "UTC")),
        ("kind", pa.string()),
        ("resource_type", pa.string()),
        ("source_ref", pa.string()),
        ("code", pa.string()),
        ("display", pa.string()),
        ("detail", pa.string()),
    ]
)


@dataclass
class ServingBuild:
    """Rows served per table for one user, and copies the dedup collapsed (counts only)."""

    rows: dict[str, int] = field(default_factory=dict)
    duplicates_collapsed: dict[str, int] = field(default_factory=dict)


def user_dir(root: Path, table: str, user_key: str) -> Path:
    """A user's own folder under ``table`` (the AI context's; a purge removes the folder)."""
    return root / table / f"user_key={user_key}"


def serving_tables() -> list[str]:
    """Every table of the serving schema, the timeline last."""
    return [*specs(), TIMELINE]


def ref_key(settings: Settings) -> str:
    """The secret source refs are keyed with, derived from the master key (hex)."""
    master = load_master_key(settings.secrets_dir)
    return hmac.new(master, _REF_CONTEXT, hashlib.sha256).hexdigest()


def _ref(key: str, resource_type: str, resource_id: str) -> str:
    """SQL of the source ref of a (type, id) pair (``key`` is hex, safe as a literal)."""
    assert all(c in "0123456789abcdef" for c in key)
    return f"left(sha256('{key}|' || {resource_type} || '/' || {resource_id}), {REF_LENGTH})"


def _projection(spec: CurrentSpec, key: str) -> str:
    refs = (
        [f"{_ref(key, 'resource_type', 'resource_id')} AS source_ref"]
        if spec.serve_source_ref
        else []
    )
    columns = [
        f"{_ref(key, ENCOUNTER_TYPE, 'encounter_id')} AS encounter_ref"
        if column == "encounter_id"
        else column
        for column in spec.serving
    ]
    return ", ".join(["resource_type", *refs, *columns])


def _timeline_sql(available: list[str]) -> str:
    parts = [
        f"SELECT CAST({t.at} AS TIMESTAMPTZ) AS event_at, '{name}' AS kind, resource_type, "
        f"source_ref, CAST({t.code} AS VARCHAR) AS code, CAST({t.display} AS VARCHAR) AS display, "
        f"CAST({t.detail} AS VARCHAR) AS detail FROM srv_{name}"
        for name, spec in specs().items()
        if name in available and (t := spec.timeline) is not None
    ]
    return " UNION ALL ".join(parts) + " ORDER BY event_at NULLS LAST, kind, source_ref"


def _served(
    con: duckdb.DuckDBPyConnection,
    warehouse: Warehouse,
    known: set[str],
    key: str,
    user_key: str,
    build: ServingBuild,
) -> dict[str, pa.Table]:
    """One user's serving tables and timeline from their curated rows; counts into ``build``."""
    tables: dict[str, pa.Table] = {}
    for name, spec in specs().items():
        if name not in known:
            continue
        con.register(f"base_{name}", warehouse.read_table(name, user_key))
        con.execute(f"CREATE TEMP TABLE cur_{name} AS {current_sql(spec, f'base_{name}')}")
        tables[name] = con.sql(f"SELECT {_projection(spec, key)} FROM cur_{name}").to_arrow_table()
        con.register(f"srv_{name}", tables[name])
        ((collapsed,),) = con.execute(
            f"SELECT coalesce(sum(copies - 1), 0) FROM cur_{name}"
        ).fetchall()
        build.duplicates_collapsed[name] = build.duplicates_collapsed.get(name, 0) + int(collapsed)
    tables[TIMELINE] = (
        con.sql(_timeline_sql(list(tables))).to_arrow_table().cast(TIMELINE_SCHEMA)
        if tables
        else TIMELINE_SCHEMA.empty_table()
    )
    for name, table in tables.items():
        build.rows[name] = build.rows.get(name, 0) + table.num_rows
    return tables


def build_users(settings: Settings, user_keys: Sequence[str]) -> ServingBuild:
    """Rebuild users' serving rows from their curated rows of every connector.

    Each table's buckets are written once for all the users (a batched run's users share them).
    """
    key = ref_key(settings)
    warehouse = Warehouse.for_settings(settings)
    known = set(warehouse.tables())  # listed once for the batch, not once a user
    build = ServingBuild()
    by_table: dict[str, dict[str, pa.Table]] = defaultdict(dict)
    for user_key in user_keys:
        with duck.connect() as con:
            for name, table in _served(con, warehouse, known, key, user_key, build).items():
                by_table[name][user_key] = table
    for name, by_user in by_table.items():
        replace_users(settings.serving_root, name, by_user)
    write_catalog(settings)
    return build


def build_user(settings: Settings, user_key: str) -> ServingBuild:
    """Rebuild one user's serving rows (a one-connector purge serves what is left)."""
    return build_users(settings, [user_key])


def resolve_ref(settings: Settings, user_key: str, source_ref: str) -> tuple[str, str, str] | None:
    """(table, resource_type, resource_id) of the user's current row a source ref names."""
    key = ref_key(settings)
    warehouse = Warehouse.for_settings(settings)
    known = set(warehouse.tables())
    for name, spec in specs().items():
        if name not in known or not spec.serve_source_ref:
            continue
        rows = warehouse.read_table(name, user_key).select(["resource_type", "resource_id"])
        # The same SQL the serving files were written with: one definition of a ref.
        with duckdb.connect() as con:
            con.register("candidates", rows)
            found = con.execute(
                "SELECT resource_type, resource_id FROM candidates "
                f"WHERE {_ref(key, 'resource_type', 'resource_id')} = ? LIMIT 1",
                [source_ref],
            ).fetchall()
        if found:
            return name, *found[0]
    return None


def user_folders(settings: Settings, user_key: str) -> list[Path]:
    """The user's own folders in serving (the AI context), as they exist now."""
    root = settings.serving_root
    if not root.exists():
        return []
    return [
        folder
        for table_dir in sorted(p for p in root.iterdir() if p.is_dir())
        if (folder := user_dir(root, table_dir.name, user_key)).exists()
    ]


def _catalog_sql(root: Path) -> str:
    """The catalog's DDL: per built serving table, a view over all its bucket files and a macro.

    ``serving.<table>_of(user_key)`` reads only the user's bucket (and the zero-row schema file,
    for the columns), so one user's read does not open every bucket's footer.
    """
    statements = [f"CREATE SCHEMA {SCHEMA}"]
    options = "hive_partitioning = false, union_by_name = true"
    for name in serving_tables():
        schema_file = bucket_file(root, name, SCHEMA_BUCKET)
        if not schema_file.exists():
            continue
        statements.append(
            f"CREATE VIEW {SCHEMA}.{name} AS SELECT * "
            f"FROM read_parquet({sql_string(table_glob(root, name))}, {options})"
        )
        prefix, suffix = str(bucket_file(root, name, "\0")).split("\0")
        bucket = f"left(sha256(user_key_), {BUCKET_DIGITS})"
        statements.append(
            f"CREATE MACRO {SCHEMA}.{name}_of(user_key_) AS TABLE SELECT * FROM read_parquet("
            f"[{sql_string(str(schema_file))}, "
            f"{sql_string(prefix)} || {bucket} || {sql_string(suffix)}], {options}) "
            "WHERE user_key = user_key_"
        )
    return ";\n".join(statements) + ";\n"


def catalog_path(settings: Settings) -> Path:
    """The file the AI team opens (read-only); it holds views and no rows."""
    return settings.serving_root / CATALOG_FILE


def write_catalog(settings: Settings) -> Path:
    """(Re)write the catalog when its views would change; it never holds a row."""
    path = catalog_path(settings)
    ddl = _catalog_sql(settings.serving_root)
    stamp = path.with_name(f"{CATALOG_FILE}.sha256")
    digest = hashlib.sha256(ddl.encode()).hexdigest()
    if path.exists() and stamp.exists() and stamp.read_text() == digest:
        return path

    def write(tmp: Path) -> None:
        with duckdb.connect(str(tmp)) as con:
            con.execute(ddl)
        os.chmod(tmp, 0o444)

    write_atomically(path, write)
    # The stamp is written after the catalog, so a kill between them only rewrites it again.
    write_atomically(stamp, lambda tmp: tmp.write_text(digest))
    return path


def connect(settings: Settings) -> duckdb.DuckDBPyConnection:
    """The AI team's read-only connection to the serving catalog."""
    con = duckdb.connect(str(catalog_path(settings)), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return con
