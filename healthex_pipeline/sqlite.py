"""The project's small SQLite stores (registry, connections, webhook events), opened one way.

``secure_delete`` makes SQLite overwrite deleted content instead of leaving it in free pages, so
a purged user's rows are physically gone once the write-ahead log is checkpointed (``purge``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived connection, committed on success; safe from several processes."""
    with closing(sqlite3.connect(path, timeout=30)) as con, con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA secure_delete=ON")
        yield con


def compact(path: Path) -> None:
    """Checkpoint and truncate the WAL: older page images in it are the only copies left.

    ``secure_delete`` already zeroed the deleted cells and freed pages in the database file, so
    no ``VACUUM`` (which rewrites the whole file, O(every user)) is needed; the deletion tests'
    byte scans prove it.
    """
    with closing(sqlite3.connect(path, timeout=30)) as con:
        con.execute("PRAGMA secure_delete=ON")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
