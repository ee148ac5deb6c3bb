"""Serving files bucketed by user: ``serving/<table>/bucket=<bb>/data.parquet``.

One file per user made the AI team's reads cost a file listing of every user: at 100,000 users
a scan of one table through its glob took 31 s and one user's rows 9-14 s (measured here; see
bench/README.md), where a scan of 256 bucket files holding the same rows does not grow with the
file count. A user's rows live in exactly one bucket (two hex digits of the SHA-256 of the
pseudonym), sorted by ``user_key`` so a reader of one user skips the other row groups; rebuilding
or purging a user rewrites that one bucket (about 1/256 of the users) under the bucket's lock,
so a purge stays O(bucket), and the old file is replaced, not edited, so no byte of the removed
rows remains in it.

Every bucket of a table always has a file (zero rows when no user of it has any), so a reader of
one user opens that bucket's file by name (the catalog's ``<table>_of`` macros): through the
table's glob one user's timeline cost 123 ms at 100,000 users (every footer opened), by name
9 ms. DuckDB refuses a path that does not exist, so an emptied bucket keeps its empty file.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from healthex_pipeline.durable import write_atomically

DATA_FILE = "data.parquet"
BUCKET_DIGITS = 2
"""256 buckets: at 100,000 users about 390 users a file."""
SCHEMA_BUCKET = "_schema"
"""A zero-row file per table keeps the table's view valid (and typed) before any user has rows."""
ROW_GROUP = 4096
USER_KEY = "user_key"


def bucket_of(user_key: str) -> str:
    """The bucket a user's rows live in (stable: derived from the pseudonym alone)."""
    return hashlib.sha256(user_key.encode()).hexdigest()[:BUCKET_DIGITS]


def buckets() -> list[str]:
    """Every bucket name, in order."""
    return [f"{n:0{BUCKET_DIGITS}x}" for n in range(16**BUCKET_DIGITS)]


def bucket_file(root: Path, table: str, bucket: str) -> Path:
    """One bucket's file of a serving table."""
    return root / table / f"bucket={bucket}" / DATA_FILE


def table_glob(root: Path, table: str) -> str:
    """Every file of a table, the schema file included (what the catalog's view reads)."""
    return str(root / table / "*" / DATA_FILE)


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One writer per bucket: two users of a bucket rebuilt at once must not lose a write."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write(path: Path, table: pa.Table) -> None:
    """Replace ``path`` atomically (a reader sees the old file or the new one)."""
    write_atomically(path, lambda tmp: pq.write_table(table, tmp, row_group_size=ROW_GROUP))


def _with_user(rows: pa.Table, user_key: str) -> pa.Table:
    return rows.add_column(0, USER_KEY, pa.array([user_key] * rows.num_rows, pa.string()))


def replace_rows(root: Path, table: str, user_key: str, rows: pa.Table | None) -> int:
    """Make ``rows`` the user's rows of ``table`` (None: remove them); the rows it replaced."""
    return replace_users(root, table, {user_key: rows})


def replace_users(root: Path, table: str, rows_by_user: Mapping[str, pa.Table | None]) -> int:
    """Replace several users' rows of ``table``, each bucket rewritten once; rows replaced.

    A user mapped to None loses their rows. Batched runs and bulk loads go through here, so a
    bucket holding many of the batch's users is written once, not once per user.
    """
    keyed = {u: _with_user(r, u) for u, r in rows_by_user.items() if r is not None}
    if keyed:
        schema = next(iter(keyed.values())).schema
        schema_path = bucket_file(root, table, SCHEMA_BUCKET)
        with _locked(schema_path.parent):
            if not schema_path.exists() or not pq.read_schema(schema_path).equals(schema):
                _write(schema_path, schema.empty_table())
            _fill_buckets(root, table, schema)
    by_bucket: dict[str, list[str]] = defaultdict(list)
    for user_key in rows_by_user:
        by_bucket[bucket_of(user_key)].append(user_key)
    replaced = 0
    for bucket, user_keys in sorted(by_bucket.items()):
        path = bucket_file(root, table, bucket)
        new = [keyed[u] for u in user_keys if u in keyed]
        if not new and not path.exists():
            continue
        with _locked(path.parent):
            parts = list(new)
            if path.exists():
                old = pq.read_table(path)
                kept = old.filter(~pc.field(USER_KEY).isin(user_keys))
                replaced += old.num_rows - kept.num_rows
                parts.insert(0, kept)
            merged = pa.concat_tables(parts, promote_options="permissive")
            # A stable sort: each user's rows keep the order they were built in. An emptied
            # bucket is rewritten with no rows (its file must exist for the per-user readers).
            _write(path, merged.sort_by(USER_KEY))
    return replaced


def _fill_buckets(root: Path, table: str, schema: pa.Schema) -> None:
    """Give every bucket without a file an empty one (checked each write: a kill may cut it)."""
    for bucket in buckets():
        path = bucket_file(root, table, bucket)
        if not path.exists():
            with _locked(path.parent):
                if not path.exists():
                    _write(path, schema.empty_table())


def read_rows(root: Path, table: str, user_key: str) -> pa.Table | None:
    """The user's rows of ``table`` without the ``user_key`` column; None if it has no file."""
    path = bucket_file(root, table, bucket_of(user_key))
    if not path.exists():
        return None
    rows = pq.read_table(path, filters=pc.field(USER_KEY) == user_key)
    return rows.drop_columns([USER_KEY])


def tables_holding(root: Path, user_key: str) -> list[str]:
    """The tables whose bucket still holds a row of the user (a purge's verification)."""
    if not root.exists():
        return []
    return [
        directory.name
        for directory in sorted(p for p in root.iterdir() if p.is_dir())
        if (rows := read_rows(root, directory.name, user_key)) is not None and rows.num_rows
    ]
