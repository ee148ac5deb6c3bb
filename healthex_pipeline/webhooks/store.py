"""Webhook events on SQLite: the receiver appends, a cursor-based sensor reads in order.

The sender retries, so one event can arrive several times; the event id is unique here and a
repeat is dropped. Rowids only grow (AUTOINCREMENT), so a sensor cursor never skips an event.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from healthex_pipeline.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    received_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class StoredEvent:
    """One received event; ``data`` is the envelope's ``data`` object (data layer: may be PHI)."""

    rowid: int
    event_id: str
    type: str
    data: dict[str, Any]
    received_at: str


class WebhookEventStore:
    """An append-only, deduplicated event log shared by the receiver and the sensor processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(_SCHEMA)

    def record(
        self, event_id: str, type: str, received_at: str, payload: Mapping[str, Any]
    ) -> bool:
        """Store an event's ``data``; False when the id was seen before (the repeat is dropped)."""
        with self._connect() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO events (event_id, type, data, received_at)"
                " VALUES (?, ?, ?, ?)",
                (event_id, type, orjson.dumps(dict(payload)), received_at),
            )
            return cursor.rowcount == 1

    def events_after(self, rowid: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events stored after ``rowid``, oldest first (0 reads from the start)."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT rowid, event_id, type, data, received_at FROM events"
                " WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (rowid, limit),
            ).fetchall()
        return [StoredEvent(r[0], r[1], r[2], orjson.loads(r[3]), r[4]) for r in rows]

    def purge(self, external_id: str) -> int:
        """Delete the events about one pseudonym (deletion); returns the rows removed."""
        with self._connect() as db:
            cursor = db.execute(
                "DELETE FROM events WHERE json_extract(CAST(data AS TEXT), '$.external_id') = ?",
                (external_id,),
            )
            return cursor.rowcount

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        """A short-lived connection per call: safe from any thread, commits on success."""
        return connect(self.path)
