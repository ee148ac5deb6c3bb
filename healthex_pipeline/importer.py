"""`healthex import`: stage local files as a delivery, run the partition, report by position.

The report names inputs by their position on the command line and their place inside the file
(line, entry), never by file name or content, since both can carry PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthex_pipeline.ai_context import context_path
from healthex_pipeline.durable import sweep_stale_temps
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.raw_zone import InboxFile, RawPartition, sha256_file
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import run_partition
from healthex_pipeline.serving_store import SCHEMA_BUCKET, bucket_file, bucket_of
from healthex_pipeline.settings import Settings, partition_dir
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse


class ImportInputError(Exception):
    """An input path cannot be read at all (missing, not a file or folder)."""


@dataclass(frozen=True)
class ImportReport:
    """What one import did, PHI-free."""

    user_key: str
    run_id: str
    success: bool
    inputs: int
    rows_by_table: dict[str, int]
    quarantined: list[str]  # "input 2 line 17: invalid JSON"


def expand_inputs(paths: list[Path]) -> list[InboxFile]:
    """Files to land: each file as given; a folder contributes every file below it."""
    files: list[InboxFile] = []
    for position, path in enumerate(paths, start=1):
        if path.is_file():
            files.append(InboxFile(path, path.name))
        elif path.is_dir():
            below = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            files += [InboxFile(p, p.relative_to(path).as_posix()) for p in below]
        else:
            raise ImportInputError(f"input {position} is not a readable file or folder")
    return files


def import_files(
    settings: Settings, account_id: str, connector: str, paths: list[Path], serve: bool = True
) -> ImportReport:
    """Land ``paths`` for one account and connector and build that partition through.

    ``serve=False`` leaves the user's serving rebuild to the caller (see ``run_partition``).
    """
    files = expand_inputs(paths)
    settings.ensure()
    user_key = PseudonymRegistry(settings.registry_path).user_key(account_id)
    position_of = {sha256_file(f.path)[0]: index for index, f in enumerate(files, start=1)}
    sweep_killed_writes(settings, user_key, connector)
    RawPartition.at(settings, user_key, connector).stage(files, "file-import")
    outcome = run_partition(settings, user_key, connector, serve=serve)
    warehouse = Warehouse.for_settings(settings)
    rows = {}
    for model in models():
        path = warehouse.partition_file(model.name, user_key, connector)
        rows[model.name] = warehouse.row_count(path)
    return ImportReport(
        user_key=user_key,
        run_id=outcome.run_id,
        success=outcome.success,
        inputs=len(files),
        rows_by_table=rows,
        quarantined=_quarantined_for(warehouse, user_key, connector, position_of),
    )


def sweep_killed_writes(settings: Settings, user_key: str, connector: str) -> int:
    """Remove temp files a killed run of this partition (or the user's serving) left; the count.

    Writers replace files atomically, so a kill leaves at most a temp beside its target; the raw
    zone sweeps its own under its lock, this covers staging, curated and serving.
    """
    mine = [partition_dir(settings.staging_root, user_key, connector)]
    tables = settings.warehouse_root
    for table in sorted(p for p in tables.iterdir() if p.is_dir()) if tables.exists() else []:
        mine.append(partition_dir(table, user_key, connector))
    # Shared folders are swept flat, never walked: each curated table's schema file sits beside
    # every user's folder, and serving keeps the user's rows in one bucket a table (beside its
    # schema bucket) and their AI context in their own folder. Only dead writers' temps go.
    flat = sorted(p for p in tables.iterdir() if p.is_dir()) if tables.exists() else []
    serving = settings.serving_root
    flat.append(serving)
    for table in sorted(p for p in serving.iterdir() if p.is_dir()) if serving.exists() else []:
        for bucket in (bucket_of(user_key), SCHEMA_BUCKET):
            flat.append(bucket_file(serving, table.name, bucket).parent)
    mine.append(context_path(settings, user_key).parent)
    return sum(sweep_stale_temps(root) for root in mine if root.exists()) + sum(
        sweep_stale_temps(root, recursive=False) for root in flat if root.exists()
    )


def _quarantined_for(
    warehouse: Warehouse, user_key: str, connector: str, position_of: dict[str, int]
) -> list[str]:
    """Quarantine entries of this import's inputs, named by input position and locator."""
    directory = warehouse.partition_file(QUARANTINE_TABLE, user_key, connector).parent
    lines = []
    for path in sorted(directory.glob("*.parquet")) if directory.exists() else []:
        table = warehouse.read(path, columns=["raw_sha256", "stage", "locator", "reason"])
        for row in table.to_pylist():
            position = position_of.get(row["raw_sha256"])
            if position is not None:
                lines.append(f"input {position} {row['locator']}: {row['reason']} ({row['stage']})")
    return lines
