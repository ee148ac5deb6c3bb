"""Land a partition's pending deliveries: raw objects, unpacked resources, ingest quarantine.

Order is the crash-safety argument: objects first (content-addressed, so rewriting is harmless),
then each object's unpacked resources and quarantine file, and the manifest last. Until the
manifest exists nothing downstream treats the delivery as received.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

import duckdb

from healthex_pipeline.partition import PartitionContext
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.quarantine import QuarantineEntry, content_reason, to_table
from healthex_pipeline.raw_zone import RawObject, RawPartition
from healthex_pipeline.settings import Settings
from healthex_pipeline.staging import StagingPartition
from healthex_pipeline.unpack import (
    Framed,
    IngestLimits,
    InputRejected,
    check_size,
    frame,
    unpack,
)
from healthex_pipeline.warehouse import Warehouse


@dataclass
class IngestResult:
    """Counts for Dagster metadata and the CLI summary; no values."""

    deliveries: int = 0
    new_deliveries: int = 0
    objects: int = 0
    bytes: int = 0
    outcomes_skipped: int = 0
    resources_by_type: Counter[str] = field(default_factory=Counter)
    quarantined: int = 0

    def add(self, other: IngestResult) -> None:
        """Sum another partition's counts into these (a batch run reports its totals)."""
        for item in fields(self):
            mine, theirs = getattr(self, item.name), getattr(other, item.name)
            if isinstance(mine, Counter):
                mine.update(theirs)
            else:
                setattr(self, item.name, mine + theirs)


@dataclass(frozen=True)
class PartitionStores:
    """The three stores a partition's ingest writes to."""

    raw: RawPartition
    staging: StagingPartition
    warehouse: Warehouse

    @classmethod
    def for_settings(cls, settings: Settings, user_key: str, connector: str) -> PartitionStores:
        vault = settings.vault()
        return cls(
            raw=RawPartition(settings.raw_root, user_key, connector, vault),
            staging=StagingPartition(settings.staging_root, user_key, connector, vault),
            warehouse=Warehouse(settings.warehouse_root, vault),
        )


def _unpack_object(
    con: duckdb.DuckDBPyConnection,
    stores: PartitionStores,
    obj: RawObject,
    ctx: PartitionContext,
    limits: IngestLimits,
    fhir_version: str | None,
) -> tuple[int, int]:
    """Unpack one object into its resources file; returns (outcomes skipped, quarantined)."""
    try:
        check_size(obj.size, limits)
        framed = frame(stores.raw.read_object(obj.sha256), obj.name, limits)
        rejected_whole: list[QuarantineEntry] = []
    except InputRejected as exc:
        framed = Framed.empty()
        rejected_whole = [QuarantineEntry("ingest", obj.sha256, "file", None, None, str(exc))]
    try:
        unpacked = unpack(con, framed, obj.sha256, fhir_version)
    except duckdb.Error as exc:
        # Content the unpack statement cannot take; the engine's message may quote it.
        unpacked = unpack(con, Framed.empty(), obj.sha256, fhir_version)
        rejected_whole = [
            QuarantineEntry("ingest", obj.sha256, "file", None, None, content_reason(exc))
        ]
    entries = rejected_whole + [
        QuarantineEntry("ingest", obj.sha256, loc, rtype, rid, reason)
        for loc, rtype, rid, reason in unpacked.quarantined
    ]
    if entries:
        stores.warehouse.write(
            QUARANTINE_TABLE,
            ctx.user_key,
            ctx.connector,
            to_table(entries, ctx.user_key, ctx.connector, ctx.run_id),
            name=f"ingest-{obj.sha256}.parquet",
        )
    stores.staging.write_resources(obj.sha256, unpacked.resources)
    return unpacked.outcomes, len(entries)


def _type_counts(stores: PartitionStores, sha: str) -> Counter[str]:
    types = stores.staging.read_resources(sha, ["resource_type"]).column(0)
    return Counter({str(c["values"]): int(c["counts"]) for c in types.value_counts().to_pylist()})


def ingest_pending(
    con: duckdb.DuckDBPyConnection,
    stores: PartitionStores,
    ctx: PartitionContext,
    limits: IngestLimits,
    fhir_version: str | None = None,
) -> IngestResult:
    """Land every complete inbox batch of the partition, oldest first.

    Holds the partition's lock, so two runs of one partition never land the same batch twice.
    """
    result = IngestResult()
    with stores.raw.locked():
        for batch in stores.raw.pending_batches():
            _land_batch(con, stores, ctx, limits, fhir_version, batch, result)
    return result


def _land_batch(
    con: duckdb.DuckDBPyConnection,
    stores: PartitionStores,
    ctx: PartitionContext,
    limits: IngestLimits,
    fhir_version: str | None,
    batch: Path,
    result: IngestResult,
) -> None:
    """Land one inbox batch: objects, unpacked resources, then the manifest."""
    manifest = stores.raw.land(batch)
    counts: Counter[str] = Counter()
    for obj in manifest.objects:
        if not stores.staging.resources_file(obj.sha256).exists():
            outcomes, quarantined = _unpack_object(con, stores, obj, ctx, limits, fhir_version)
            result.outcomes_skipped += outcomes
            result.quarantined += quarantined
        counts += _type_counts(stores, obj.sha256)
    manifest.resource_counts = dict(sorted(counts.items()))
    result.deliveries += 1
    result.new_deliveries += stores.raw.commit(manifest, batch)
    result.objects += len(manifest.objects)
    result.bytes += sum(o.size for o in manifest.objects)
    result.resources_by_type += counts
