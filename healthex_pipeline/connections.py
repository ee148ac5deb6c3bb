"""Connections and their per-facility status: what `healthex status` shows and sensors update.

A connection is one user × connector (with the vendor's id for the patient once known); each
facility (a HealthEx source facility, a Fasten org connection) has its own status, because
facilities deliver independently and some take an hour. Pending Fasten downloads wait here until
the partition's run fetches them. Only pseudonyms, vendor ids and counts live here.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from healthex_pipeline.sqlite import connect

_SCHEMA = """
CREATE TABLE IF NOT EXISTS connections (
    user_key TEXT NOT NULL,
    connector TEXT NOT NULL,
    vendor_patient_id TEXT,
    link TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_key, connector)
);
CREATE TABLE IF NOT EXISTS facility_status (
    user_key TEXT NOT NULL,
    connector TEXT NOT NULL,
    facility TEXT NOT NULL,
    status TEXT NOT NULL,
    records INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_key, connector, facility)
);
CREATE TABLE IF NOT EXISTS pending_downloads (
    task_id TEXT PRIMARY KEY,
    user_key TEXT NOT NULL,
    connector TEXT NOT NULL,
    facility TEXT NOT NULL,
    urls TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

WAITING = "waiting"
NEEDS_PATIENT_ACTION = "needs patient action"
CONNECTION = ""  # the facility value of a connection-level status


@dataclass(frozen=True)
class FacilityStatus:
    """One line of `healthex status`."""

    connector: str
    facility: str
    status: str
    records: int | None


@dataclass(frozen=True)
class PendingDownload:
    """An export the vendor announced and the partition's next run must fetch."""

    task_id: str
    facility: str
    urls: tuple[str, ...]


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ConnectionStore:
    """SQLite-backed; several processes (sensors, runs, CLI) may use it at once."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self._path)

    def open(self, user_key: str, connector: str, link: str | None = None) -> None:
        """Record a new connection (idempotent) waiting for the patient and the first delivery."""
        with self._connect() as con:
            con.execute(
                "INSERT INTO connections (user_key, connector, link, created_at) VALUES "
                "(?, ?, ?, ?) ON CONFLICT DO UPDATE SET link = coalesce(excluded.link, link)",
                (user_key, connector, link, _now()),
            )
        self.set_status(user_key, connector, CONNECTION, WAITING, only_if_absent=True)

    def set_vendor_patient(self, user_key: str, connector: str, vendor_patient_id: str) -> None:
        with self._connect() as con:
            con.execute(
                "INSERT INTO connections (user_key, connector, vendor_patient_id, created_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET vendor_patient_id = "
                "excluded.vendor_patient_id",
                (user_key, connector, vendor_patient_id, _now()),
            )

    def vendor_patient(self, user_key: str, connector: str) -> str | None:
        with self._connect() as con:
            row = con.execute(
                "SELECT vendor_patient_id FROM connections WHERE user_key = ? AND connector = ?",
                (user_key, connector),
            ).fetchone()
        return row[0] if row else None

    def set_status(
        self,
        user_key: str,
        connector: str,
        facility: str,
        status: str,
        records: int | None = None,
        only_if_absent: bool = False,
    ) -> None:
        """Set a facility's (or, with facility "", the connection's) status."""
        conflict = (
            "NOTHING"
            if only_if_absent
            else (
                "UPDATE SET status = excluded.status, records = excluded.records, "
                "updated_at = excluded.updated_at"
            )
        )
        with self._connect() as con:
            con.execute(
                f"INSERT INTO facility_status VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO {conflict}",
                (user_key, connector, facility, status, records, _now()),
            )

    def statuses(self, user_key: str) -> list[FacilityStatus]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT connector, facility, status, records FROM facility_status "
                "WHERE user_key = ? ORDER BY connector, facility",
                (user_key,),
            ).fetchall()
        return [FacilityStatus(*row) for row in rows]

    def updated_at(self, user_key: str, line: FacilityStatus) -> str:
        """When a facility's status last changed (ISO 8601, UTC)."""
        with self._connect() as con:
            (value,) = con.execute(
                "SELECT updated_at FROM facility_status "
                "WHERE user_key = ? AND connector = ? AND facility = ?",
                (user_key, line.connector, line.facility),
            ).fetchone()
        return str(value)

    def add_download(
        self, user_key: str, connector: str, facility: str, task_id: str, urls: list[str]
    ) -> bool:
        """Queue an announced export; False when the task was already queued (a repeat)."""
        with self._connect() as con:
            cursor = con.execute(
                "INSERT INTO pending_downloads VALUES (?, ?, ?, ?, ?, 'pending', ?) "
                "ON CONFLICT DO NOTHING",
                (task_id, user_key, connector, facility, "\n".join(urls), _now()),
            )
        return cursor.rowcount == 1

    def pending_downloads(self, user_key: str, connector: str) -> list[PendingDownload]:
        with self._connect() as con:
            rows = con.execute(
                "SELECT task_id, facility, urls FROM pending_downloads "
                "WHERE user_key = ? AND connector = ? AND state = 'pending' ORDER BY updated_at",
                (user_key, connector),
            ).fetchall()
        return [PendingDownload(t, f, tuple(u.split("\n"))) for t, f, u in rows]

    def finish_download(self, task_id: str, state: str) -> None:
        """Mark a download staged (``done``) or given up (``failed: <reason>``)."""
        with self._connect() as con:
            con.execute(
                "UPDATE pending_downloads SET state = ?, updated_at = ? WHERE task_id = ?",
                (state, _now(), task_id),
            )

    def purge(self, user_key: str, connector: str) -> int:
        """Delete every row of one user's connection; returns the rows removed."""
        removed = 0
        with self._connect() as con:
            for table in ("connections", "facility_status", "pending_downloads"):
                cursor = con.execute(
                    f"DELETE FROM {table} WHERE user_key = ? AND connector = ?",
                    (user_key, connector),
                )
                removed += cursor.rowcount
        return removed

    def purge_facility(self, user_key: str, connector: str, facility: str) -> int:
        """Delete one facility's status and pending downloads (disconnecting an organization)."""
        with self._connect() as con:
            removed = con.execute(
                "DELETE FROM facility_status WHERE user_key = ? AND connector = ? AND facility = ?",
                (user_key, connector, facility),
            ).rowcount
            removed += con.execute(
                "DELETE FROM pending_downloads "
                "WHERE user_key = ? AND connector = ? AND facility = ?",
                (user_key, connector, facility),
            ).rowcount
        return removed
