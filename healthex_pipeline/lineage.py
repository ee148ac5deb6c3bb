"""`healthex lineage`: trace a curated row back to its raw bytes, manifests, transforms and run.

The report is for compliance review, so it carries ids, hashes and times only: never clinical
values, never the account id, and never an object's name within its delivery (file names such as
Synthea's carry patient names); an object is identified by its hash and input position instead.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import orjson

from data_contracts.provenance import PROVENANCE_COLUMNS
from healthex_pipeline.encryption import Vault
from healthex_pipeline.raw_zone import RawPartition, sha256_chunks
from healthex_pipeline.registry import USER_KEY_PATTERN
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.transforms import MODELS_DIR, TRANSFORMS_DIR, Model, models, staging_views
from healthex_pipeline.warehouse import DATA_FILE


class UnknownTableError(ValueError):
    """The table is not one of the curated models."""


@dataclass(frozen=True)
class RawObjectCheck:
    """Where the row's raw object sits and whether its bytes still match its hash."""

    path: str
    size: int | None
    exists: bool
    sha256_verified: bool


@dataclass(frozen=True)
class ManifestRef:
    """A manifest that carried the object, and the object's input positions in it."""

    manifest_id: str
    received_at: str
    input_indexes: list[int]
    source: dict[str, Any]


@dataclass(frozen=True)
class ViewRef:
    """A staging view the model reads, with the hash of its ViewDefinition text."""

    name: str
    text_sha256: str


@dataclass(frozen=True)
class TransformRef:
    """The model file that built the table and the staging views it read."""

    model_file: str
    text_sha256: str
    staging_views: list[ViewRef]


@dataclass(frozen=True)
class RunRef:
    """The Dagster run that wrote the row; ``found`` is False once the run is gone."""

    run_id: str
    found: bool
    status: str | None = None
    job_name: str | None = None
    started_at: str | None = None
    ended_at: str | None = None


@dataclass(frozen=True)
class RowLineage:
    """Where one curated row came from."""

    table: str
    user_key: str
    connector: str
    resource_type: str
    resource_id: str
    resource_version: str | None
    raw_sha256: str
    fetched_at: str | None
    run_id: str
    raw_object: RawObjectCheck
    manifests: list[ManifestRef]
    transform: TransformRef
    run: RunRef


def lineage(
    settings: Settings, table: str, resource_id: str, user_key: str | None = None
) -> list[RowLineage]:
    """Every row of ``table`` with ``resource_id`` (one user's only when given), traced back.

    Raises:
        UnknownTableError: ``table`` is not a curated model.
        ValueError: ``user_key`` is not a pseudonym (it becomes part of a path pattern).
    """
    model = _model(table)
    if user_key is not None and not re.fullmatch(USER_KEY_PATTERN, user_key):
        raise ValueError("not a user pseudonym")
    transform = _transform(model)
    user_glob = f"user={user_key}" if user_key else "user=*"
    files = sorted((settings.warehouse_root / table).glob(f"{user_glob}/connector=*/{DATA_FILE}"))
    vault = settings.vault()
    rows = [row for path in files for row in _matching_rows(vault, path, resource_id)]
    if not rows:
        return []
    instance = instance_for(settings)
    runs: dict[str, RunRef] = {}
    result = []
    for row in rows:
        raw = RawPartition.at(settings, row["user_key"], row["connector"])
        run_id = row["run_id"]
        if run_id not in runs:
            runs[run_id] = _run_ref(instance, run_id)
        fetched_at = row["fetched_at"]
        result.append(
            RowLineage(
                table=table,
                user_key=row["user_key"],
                connector=row["connector"],
                resource_type=row["resource_type"],
                resource_id=row["resource_id"],
                resource_version=row["resource_version"],
                raw_sha256=row["raw_sha256"],
                fetched_at=fetched_at.isoformat() if fetched_at else None,
                run_id=run_id,
                raw_object=_check_object(settings.home, raw, row["raw_sha256"]),
                manifests=_manifests(raw, row["raw_sha256"]),
                transform=transform,
                run=runs[run_id],
            )
        )
    return result


def to_json(rows: list[RowLineage]) -> bytes:
    """The report as a JSON list, keys sorted so reports diff cleanly."""
    return orjson.dumps(
        [asdict(row) for row in rows], option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
    )


def _model(table: str) -> Model:
    # Checked against the models before the name goes into a path.
    for model in models():
        if model.name == table:
            return model
    raise UnknownTableError(f"unknown table {table!r}")


def _transform(model: Model) -> TransformRef:
    view_hashes = {view.name: view.text_hash for view in staging_views()}
    return TransformRef(
        model_file=(MODELS_DIR / f"{model.name}.sql").relative_to(TRANSFORMS_DIR.parent).as_posix(),
        text_sha256=model.text_hash,
        staging_views=[ViewRef(dep, view_hashes[dep]) for dep in model.staging_deps],
    )


def _matching_rows(vault: Vault, path: Path, resource_id: str) -> list[dict[str, Any]]:
    found = vault.read_parquet(
        path, columns=list(PROVENANCE_COLUMNS), filters=[("resource_id", "==", resource_id)]
    )
    return found.to_pylist()


def _check_object(home: Path, raw: RawPartition, sha256: str) -> RawObjectCheck:
    path = raw.object_path(sha256)
    relative = path.relative_to(home).as_posix()
    if not path.is_file():
        return RawObjectCheck(path=relative, size=None, exists=False, sha256_verified=False)
    actual, size = sha256_chunks(raw.object_segments(sha256))
    return RawObjectCheck(path=relative, size=size, exists=True, sha256_verified=actual == sha256)


def _manifests(raw: RawPartition, sha256: str) -> list[ManifestRef]:
    found = []
    for manifest in raw.manifests():
        indexes = sorted(o.input_index for o in manifest.objects if o.sha256 == sha256)
        if indexes:
            found.append(
                ManifestRef(
                    manifest_id=manifest.manifest_id,
                    received_at=manifest.received_at,
                    input_indexes=indexes,
                    source=_safe_source(manifest.source),
                )
            )
    return sorted(found, key=lambda m: m.received_at)


def _safe_source(source: dict[str, Any]) -> dict[str, Any]:
    """The manifest's source minus URLs with a query string (they may be signed credentials)."""
    return {key: value for key, value in source.items() if not _is_url_with_query(value)}


def _is_url_with_query(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc and parts.query)


def _run_ref(instance: dg.DagsterInstance, run_id: str) -> RunRef:
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return RunRef(run_id=run_id, found=False)
    return RunRef(
        run_id=run_id,
        found=True,
        status=record.dagster_run.status.value,
        job_name=record.dagster_run.job_name,
        started_at=_iso(record.start_time),
        ended_at=_iso(record.end_time),
    )


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).isoformat() if timestamp is not None else None
