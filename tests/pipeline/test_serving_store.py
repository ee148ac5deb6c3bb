"""Bucketed serving files: a user's rows are replaced or removed without touching anyone else's."""

from __future__ import annotations

from itertools import count
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from healthex_pipeline.serving_store import (
    SCHEMA_BUCKET,
    bucket_file,
    bucket_of,
    buckets,
    read_rows,
    replace_rows,
    replace_users,
    tables_holding,
)


def _keys_sharing_a_bucket() -> tuple[str, str, str]:
    """Two pseudonyms in one bucket and a third in another (found, not assumed)."""
    seen: dict[str, str] = {}
    for index in count():
        key = f"u_{index:024x}"
        bucket = bucket_of(key)
        if bucket in seen:
            first = seen[bucket]
            other = next(k for b, k in seen.items() if b != bucket)
            return first, key, other
        seen[bucket] = key
    raise AssertionError("unreachable")


def _rows(marker: str, n: int) -> pa.Table:
    return pa.table({"code": [f"{marker}-{i}" for i in range(n)], "n": list(range(n))})


def test_replace_keeps_the_bucket_neighbours_and_the_users_own_order(tmp_path: Path) -> None:
    alice, bob, carol = _keys_sharing_a_bucket()
    replace_users(
        tmp_path, "labs", {alice: _rows("AAA", 3), bob: _rows("BBB", 2), carol: _rows("CCC", 1)}
    )

    replaced = replace_rows(tmp_path, "labs", alice, _rows("ZZZ", 4).take([3, 1, 2, 0]))

    assert replaced == 3
    assert read_rows(tmp_path, "labs", alice) == _rows("ZZZ", 4).take([3, 1, 2, 0])
    assert read_rows(tmp_path, "labs", bob) == _rows("BBB", 2)
    assert read_rows(tmp_path, "labs", carol) == _rows("CCC", 1)
    shared = pq.read_table(bucket_file(tmp_path, "labs", bucket_of(alice)))
    assert shared.column("user_key").to_pylist() == sorted([alice] * 4 + [bob] * 2)
    schema_file = pq.read_table(bucket_file(tmp_path, "labs", SCHEMA_BUCKET))
    assert schema_file.num_rows == 0 and schema_file.column_names == ["user_key", "code", "n"]


def test_removing_a_user_leaves_no_byte_of_their_rows(tmp_path: Path) -> None:
    alice, bob, _ = _keys_sharing_a_bucket()
    replace_users(tmp_path, "labs", {alice: _rows("SECRETALICE", 5), bob: _rows("BOBROW", 2)})
    replace_rows(tmp_path, "timeline", alice, _rows("SECRETALICE", 1))
    assert tables_holding(tmp_path, alice) == ["labs", "timeline"]

    removed = sum(replace_rows(tmp_path, t, alice, None) for t in ("labs", "timeline"))

    assert removed == 6
    assert tables_holding(tmp_path, alice) == []
    assert read_rows(tmp_path, "labs", bob) == _rows("BOBROW", 2)
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"SECRETALICE" not in stored and alice.encode() not in stored
    assert b"BOBROW" in stored, "the scan must see what the store holds"
    emptied = pq.read_table(bucket_file(tmp_path, "timeline", bucket_of(alice)))
    assert emptied.num_rows == 0, "an emptied bucket keeps a zero-row file for per-user readers"


def test_a_user_without_rows_reads_as_empty_and_removal_is_idempotent(tmp_path: Path) -> None:
    alice, bob, carol = _keys_sharing_a_bucket()
    replace_rows(tmp_path, "labs", alice, _rows("AAA", 1))

    empty = read_rows(tmp_path, "labs", bob)
    assert empty is not None and empty.num_rows == 0 and empty.column_names == ["code", "n"]
    other = read_rows(tmp_path, "labs", carol)
    assert other is not None and other.num_rows == 0, "every bucket has a file"
    assert read_rows(tmp_path, "never_written", carol) is None, "no table, no file"
    assert replace_rows(tmp_path, "labs", carol, None) == 0
    assert replace_rows(tmp_path, "labs", alice, None) == 1
    assert replace_rows(tmp_path, "labs", alice, None) == 0


def test_every_bucket_has_a_file_once_a_table_is_written(tmp_path: Path) -> None:
    alice, _, _ = _keys_sharing_a_bucket()
    replace_rows(tmp_path, "labs", alice, _rows("AAA", 2))
    bucket_of_alice = bucket_file(tmp_path, "labs", bucket_of(alice))
    other = [bucket_file(tmp_path, "labs", b) for b in buckets() if b != bucket_of(alice)]

    assert len(other) == 255 and all(pq.read_table(p).num_rows == 0 for p in other)
    assert pq.read_table(bucket_of_alice).num_rows == 2
    other[0].unlink()  # a kill between the schema file and the last empty bucket
    replace_rows(tmp_path, "labs", alice, _rows("AAA", 1))
    assert other[0].exists(), "the next write fills it in"
