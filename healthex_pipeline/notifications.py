"""Notifications for the product backend: records ready, consent expiring, re-authorize.

A notification is a one-row Parquet file under the partition (so a purge removes it with the
user), named after what it is about (a delivery's manifest; a consent's expiry date; the day a
vendor asked for patient action); its existence is what makes it "once". The backend reads the
``notifications`` table by ``kind``; rows hold counts and dates, never values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.raw_zone import Manifest, RawPartition
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse

TABLE = "notifications"
READY = "ready"
RECORDS_READY = "records_ready"
CONSENT_EXPIRING = "consent_expiring"
REAUTHORIZE = "reauthorize"


@dataclass(frozen=True)
class Notification:
    """What one delivery brought, per curated table."""

    manifest_id: str
    facility: str
    rows_by_table: dict[str, int]

    @property
    def records(self) -> int:
        return sum(self.rows_by_table.values())


def _rows_by_table(warehouse: Warehouse, ctx: PartitionContext, shas: list[str]) -> dict[str, int]:
    counts = {}
    for model in models():
        path = warehouse.partition_file(model.name, ctx.user_key, ctx.connector)
        if not path.exists():
            counts[model.name] = 0
            continue
        wanted = set(shas)
        column = warehouse.read(path, ["raw_sha256"]).column(0).to_pylist()
        counts[model.name] = sum(1 for sha in column if sha in wanted)
    return counts


def _row(notification: Notification, ctx: PartitionContext) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "user_key": ctx.user_key,
                "connector": ctx.connector,
                "kind": RECORDS_READY,
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
        notification = _notification(warehouse, ctx, manifest)
        warehouse.write(TABLE, ctx.user_key, ctx.connector, _row(notification, ctx), name=name)
        connections.set_status(
            ctx.user_key, ctx.connector, notification.facility, READY, notification.records
        )
        sent.append(notification)
    return sent


def _notification(warehouse: Warehouse, ctx: PartitionContext, manifest: Manifest) -> Notification:
    shas = sorted({o.sha256 for o in manifest.objects})
    return Notification(
        manifest_id=manifest.manifest_id,
        facility=str(manifest.source.get("facility", "")),
        rows_by_table=_rows_by_table(warehouse, ctx, shas),
    )


def notify_consent(
    warehouse: Warehouse,
    user_key: str,
    connector: str,
    kind: str,
    due: datetime,
    run_id: str,
) -> bool:
    """Ask the user to renew (``consent_expiring``) or re-authorize (``reauthorize``).

    Once per consent expiry date, or per day asked; returns whether a new one was written.
    """
    name = f"{kind}-{due.date().isoformat()}.parquet"
    if warehouse.partition_file(TABLE, user_key, connector, name).exists():
        return False
    row = {
        "user_key": user_key,
        "connector": connector,
        "kind": kind,
        "due_at": due,
        "records": 0,
        "run_id": run_id,
        "notified_at": datetime.now(UTC),
    }
    warehouse.write(TABLE, user_key, connector, pa.Table.from_pylist([row]), name=name)
    return True
