"""`healthex import`: stage local files as a delivery, run the partition, report by position.

The report names inputs by their position on the command line and their place inside the file
(line, entry), never by file name or content, since both can carry PHI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.raw_zone import InboxFile, RawPartition, sha256_file
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import run_partition
from healthex_pipeline.settings import Settings
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
