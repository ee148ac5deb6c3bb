"""What a killed writer leaves is removed by the next writer, and nothing a live one is writing.

Unit-level and fast: the kill tests prove the end result, these pin each cleanup rule.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pyarrow as pa

from healthex_pipeline.durable import sweep_stale_temps, temp_path
from healthex_pipeline.raw_zone import InboxFile, RawPartition
from healthex_pipeline.runs import repair_event_index
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _killed_temp(target: Path) -> Path:
    """A temp beside ``target`` as a writer killed mid-write leaves it."""
    path = target.with_name(f".{target.name}.{_dead_pid()}-0123456789abcdef.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"half a file")
    return path


def test_a_dead_writers_temp_is_swept_and_a_live_ones_is_kept(tmp_path: Path) -> None:
    dead = _killed_temp(tmp_path / "a" / "data.parquet")
    live = temp_path(tmp_path / "a" / "data.parquet")
    live.write_bytes(b"being written")
    kept = tmp_path / "a" / "data.parquet"
    kept.write_bytes(b"whole")

    assert sweep_stale_temps(tmp_path) == 1
    assert not dead.exists()
    assert live.exists() and kept.exists()


def test_writing_a_table_file_removes_its_killed_predecessors_temp(settings: Settings) -> None:
    warehouse = Warehouse.for_settings(settings)
    target = warehouse.partition_file("lab_results", "u_test", "healthex")
    dead = _killed_temp(target)

    warehouse.write("lab_results", "u_test", "healthex", pa.table({"x": [1]}))

    assert not dead.exists()
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_the_raw_lock_sweeps_temps_and_unnamed_objects_but_keeps_a_pending_batchs(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "bundle.json"
    source.write_bytes(b'{"resourceType": "Bundle"}')
    raw = RawPartition.at(settings, "u_test", "healthex")
    pending = raw.stage([InboxFile(source, "bundle.json")], "file-import")
    manifest = raw.land(raw.inbox / pending)  # objects written, killed before the commit
    [landed] = manifest.objects
    unnamed = raw.object_path("0" * 64)
    unnamed.write_bytes(b"an object no delivery names")
    half_object = _killed_temp(raw.object_path("1" * 64))
    staging_now = temp_path(raw.inbox / "batch")  # another import is staging this one
    staging_now.mkdir()

    with raw.locked():
        pass

    assert raw.object_path(landed.sha256).exists(), "the pending batch's object was removed"
    assert not unnamed.exists() and not half_object.exists()
    assert staging_now.exists(), "a batch still being staged was removed"
    assert raw.pending_batches() == [raw.inbox / pending]


def test_a_committed_batch_never_stays_half_removed_in_the_inbox(
    settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "bundle.json"
    source.write_bytes(b'{"resourceType": "Bundle"}')
    raw = RawPartition.at(settings, "u_test", "healthex")
    batch = raw.inbox / raw.stage([InboxFile(source, "bundle.json")], "file-import")
    with raw.locked():
        raw.commit(raw.land(batch), batch)

    assert raw.pending_batches() == []
    assert list(raw.inbox.iterdir()) == []


def test_an_event_index_a_kill_left_without_tables_is_removed_and_a_whole_one_kept(
    settings: Settings,
) -> None:
    index = settings.dagster_home / "history" / "runs" / "index.db"
    index.parent.mkdir(parents=True, exist_ok=True)
    index.touch()  # what SQLite leaves when the creating process dies before its tables

    assert repair_event_index(settings)
    assert not index.exists()

    with sqlite3.connect(index) as con:
        con.execute("CREATE TABLE event_logs (id INTEGER)")
    con.close()
    assert not repair_event_index(settings)
    assert index.exists()
