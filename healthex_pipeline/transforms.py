"""The declarative transforms: ViewDefinitions (staging) and SQL models (curated), loaded once.

They live outside the package in ``transforms/`` so reviewers read them as specifications; the
fingerprint of their text is part of every derived file's fingerprint, so editing a view or a
model rebuilds exactly what depends on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import orjson
import sqlglot
from sqlglot import exp

from healthex_pipeline.sof.compiler import CompiledView, compile_view

TRANSFORMS_DIR = Path(__file__).resolve().parents[1] / "transforms"
VIEWS_DIR = TRANSFORMS_DIR / "views"
MODELS_DIR = TRANSFORMS_DIR / "models"
MACROS_FILE = TRANSFORMS_DIR / "macros.sql"

# Columns of the unpacked-resources relation that every staging row carries along.
PASSTHROUGH: tuple[str, ...] = ("raw_sha256", "locator", "full_url", "fhir_version", "resource_id")
BATCH_COLUMN = "batch_partition"
"""Which partition of a batch a resource came from: views run once over a batch's partitions,
carry it through and are split on it (it is never written)."""
STAGING_SOURCE = "resources_for_view"
# Relations a model may read besides staging views.
MODEL_INPUTS: frozenset[str] = frozenset(
    {"raw_objects", "raw_resources", "reference_targets", "unit_conversions"}
)


@dataclass(frozen=True)
class StagingView:
    """One ViewDefinition and its compiled SQL."""

    name: str
    compiled: CompiledView
    text_hash: str


@dataclass(frozen=True)
class Model:
    """One curated model: its SQL and the staging views it reads."""

    name: str
    sql: str
    staging_deps: tuple[str, ...]
    text_hash: str
    # The MODEL_INPUTS it reads, so a build registers only what a model needs.
    inputs: tuple[str, ...] = ()


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def staging_views() -> tuple[StagingView, ...]:
    """Every ViewDefinition in ``transforms/views``, compiled against the unpacked resources."""
    views = []
    for path in sorted(VIEWS_DIR.glob("*.json")):
        data = path.read_bytes()
        view = orjson.loads(data)
        compiled = compile_view(
            view, source=STAGING_SOURCE, passthrough=(*PASSTHROUGH, BATCH_COLUMN)
        )
        views.append(StagingView(name=path.stem, compiled=compiled, text_hash=_hash(data)))
    return tuple(views)


@cache
def models() -> tuple[Model, ...]:
    """Every curated model in ``transforms/models``, with dependencies read from its SQL."""
    known = {f"stg_{view.name}" for view in staging_views()}
    result = []
    for path in sorted(MODELS_DIR.glob("*.sql")):
        sql = path.read_text()
        tables = {table.name for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}
        ctes = {cte.alias for cte in sqlglot.parse_one(sql, read="duckdb").find_all(exp.CTE)}
        unknown = tables - known - MODEL_INPUTS - ctes
        if unknown:
            raise ValueError(f"model {path.name} reads unknown relations: {sorted(unknown)}")
        deps = tuple(sorted(t.removeprefix("stg_") for t in tables & known))
        result.append(
            Model(
                name=path.stem,
                sql=sql,
                staging_deps=deps,
                text_hash=_hash(sql.encode()),
                inputs=tuple(sorted(tables & MODEL_INPUTS)),
            )
        )
    return tuple(result)


@cache
def macros_sql() -> str:
    """The SQL macros every model connection installs."""
    return MACROS_FILE.read_text()


@cache
def staging_fingerprint() -> str:
    """Changes whenever any view, the compiler's output or the macros change."""
    parts = [v.name + v.text_hash + _hash(v.compiled.sql.encode()) for v in staging_views()]
    return _hash("\n".join(parts).encode())
