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
