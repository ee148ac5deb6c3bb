"""Quarantine rows: what was set aside, where it was in the input, and why — never the value.

Quarantine is a warehouse table like the curated ones (per-partition files, so purge is the same
operation). Ingest writes one file per raw object (immutable, like the object); each curated build
writes one file per table, replaced on every build.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

TABLE = "quarantine"

SCHEMA = pa.schema(
    [
        ("user_key", pa.string()),
        ("connector", pa.string()),
        ("stage", pa.string()),
        ("raw_sha256", pa.string()),
        ("locator", pa.string()),
        ("resource_type", pa.string()),
        ("resource_id", pa.string()),
        ("reason", pa.string()),
        ("run_id", pa.string()),
        ("quarantined_at", pa.timestamp("us", tz="UTC")),
    ]
)


class ContentError(Exception):
    """An error FHIR content raised in an engine, re-raised with type, position and reason only.

    Engine messages quote the offending value (DuckDB: ``Could not convert string '…'``) and
    Dagster keeps an exception's message and its causes in the run's event log, so the message
    here names the resource type, the position and the error's class, and callers raise it
    ``from None`` to drop the original.
    """

    def __init__(self, resource_type: str | None, position: str, error: BaseException) -> None:
        self.resource_type = resource_type
        self.position = position
        self.reason = content_reason(error)
        super().__init__(f"{resource_type or 'resources'} at {position}: {self.reason}")


def content_reason(error: BaseException) -> str:
    """A PHI-free reason for an engine error: its class, never its message."""
    return f"engine error ({type(error).__name__})"


@dataclass(frozen=True)
class QuarantineEntry:
    """One set-aside input: a whole object, a line or entry, or a curated row."""

    stage: str
    raw_sha256: str
    locator: str
    resource_type: str | None
    resource_id: str | None
    reason: str


def to_table(
    entries: list[QuarantineEntry], user_key: str, connector: str, run_id: str
) -> pa.Table:
    """Rows in the quarantine schema, stamped with the partition and the run."""
    now = datetime.now(UTC)
    return pa.Table.from_pylist(
        [
            {
                "user_key": user_key,
                "connector": connector,
                "run_id": run_id,
                "quarantined_at": now,
                **entry.__dict__,
            }
            for entry in entries
        ],
        schema=SCHEMA,
    )
