"""Records-ready notifications: one per delivery, once its rows are in the curated tables.

A notification is a one-row Parquet file named after the delivery's manifest, under the
partition (so a purge removes it with the user); its existence is what makes it "once".
The product backend reads the ``notifications`` view; rows hold counts, never values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.raw_zone import Manifest, RawPartition
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse

TABLE = "notifications"
READY = "ready"


@dataclass(frozen=True)
class Notification:
    """What one delivery brought, per curated table."""

    manifest_id: str
    facility: str
    rows_by_table: dict[str, int]

    @property
    def records(self) -> int:
        return sum(self.rows_by_table.values())


def _rows_by_table(
    con: duckdb.DuckDBPyConnection, warehouse: Warehouse, ctx: PartitionContext, shas: list[str]
) -> dict[str, int]:
    counts = {}
    for model in models():
        path = warehouse.partition_file(model.name, ctx.user_key, ctx.connector)
        [(n,)] = (
            con.execute(
                "SELECT count(*) FROM read_parquet(?) WHERE list_contains(?, raw_sha256)",
                [str(path), shas],
            ).fetchall()
            if path.exists()
            else [(0,)]
        )
        counts[model.name] = int(n)
    return counts


def _row(notification: Notification, ctx: PartitionContext) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "user_key": ctx.user_key,
                "connector": ctx.connector,
                "facility": notification.facility,
                "delivery": notification.manifest_id,
                **notification.rows_by_table,
                "records": notification.records,
                "run_id": ctx.run_id,
                "notified_at": datetime.now(UTC),
            }
        ]
    )


def notify_new_deliveries(
    con: duckdb.DuckDBPyConnection,
    raw: RawPartition,
    warehouse: Warehouse,
    connections: ConnectionStore,
    ctx: PartitionContext,
) -> list[Notification]:
    """Write a notification for every delivery of the partition that has none yet."""
    sent = []
    for manifest in raw.manifests():
        name = f"{manifest.manifest_id}.parquet"
        if warehouse.partition_file(TABLE, ctx.user_key, ctx.connector, name).exists():
            continue
        notification = _notification(con, warehouse, ctx, manifest)
        warehouse.write(TABLE, ctx.user_key, ctx.connector, _row(notification, ctx), name=name)
        connections.set_status(
            ctx.user_key, ctx.connector, notification.facility, READY, notification.records
        )
        sent.append(notification)
    return sent


def _notification(
    con: duckdb.DuckDBPyConnection, warehouse: Warehouse, ctx: PartitionContext, manifest: Manifest
) -> Notification:
    shas = sorted({o.sha256 for o in manifest.objects})
    return Notification(
        manifest_id=manifest.manifest_id,
        facility=str(manifest.source.get("facility", "")),
        rows_by_table=_rows_by_table(con, warehouse, ctx, shas),
    )
