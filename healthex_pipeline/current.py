"""The `<table>_current` views: one row per clinical fact of a user, across connectors.

The rule and the per-table keys are declared in ``transforms/current.toml`` (read it for the
why); this module only turns them into SQL.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from functools import cache

from healthex_pipeline.transforms import TRANSFORMS_DIR

CURRENT_FILE = TRANSFORMS_DIR / "current.toml"
DEDUP_COLUMNS = ("copies", "copy_connectors", "match_rule")


@dataclass(frozen=True)
class TimelineFields:
    """SQL expressions (over serving columns) that place a table's rows on the timeline."""

    at: str
    code: str
    display: str
    detail: str


@dataclass(frozen=True)
class CurrentSpec:
    """One table's dedup key and serving projection."""

    table: str
    content: tuple[str, ...]
    row: tuple[str, ...]
    serving: tuple[str, ...]
    serve_source_ref: bool
    timeline: TimelineFields | None


@cache
def specs() -> dict[str, CurrentSpec]:
    """Every table's spec, in file order."""
    data = tomllib.loads(CURRENT_FILE.read_text())
    return {
        table: CurrentSpec(
            table=table,
            content=tuple(entry["content"]),
            row=tuple(entry.get("row", ())),
            serving=tuple(entry["serving"]),
            serve_source_ref=bool(entry.get("serve_source_ref", True)),
            timeline=TimelineFields(**entry["timeline"]) if "timeline" in entry else None,
        )
        for table, entry in data.items()
    }


@cache
def spec_hash() -> str:
    """Changes when the dedup or serving rules change, so derived files get rebuilt."""
    return hashlib.sha256(CURRENT_FILE.read_bytes()).hexdigest()


def _normalized(column: str) -> str:
    """A column as keyed text: trimmed and lower-cased, NULL as ''.

    Numbers need nothing more: "5.10" and "5.1" parse to the same DOUBLE, whose text is unique.
    """
    return f"coalesce(lower(trim(CAST({column} AS VARCHAR))), '')"


def current_sql(spec: CurrentSpec, source: str) -> str:
    """SELECT of the current facts of relation ``source`` (rows of ``spec.table``)."""
    content = ", ".join(_normalized(c) for c in ("resource_type", *spec.content))
    row = ", ".join(_normalized(c) for c in spec.row) or "''"
    return f"""
WITH keyed AS (
    SELECT *,
        CASE WHEN identifier_key IS NOT NULL THEN 'identifier' ELSE 'content' END AS match_rule,
        CASE WHEN identifier_key IS NOT NULL
            THEN 'identifier:' || identifier_key || ':' || md5(concat_ws(chr(31), {row}))
            ELSE 'content:' || md5(concat_ws(chr(31), {content}))
        END AS match_key
    FROM {source}
), ranked AS (
    SELECT *,
        row_number() OVER (
            PARTITION BY user_key, match_key
            ORDER BY source_updated_at DESC NULLS LAST, fetched_at DESC, connector, resource_id
        ) AS copy_rank
    FROM keyed
), copies AS (
    SELECT user_key, match_key, count(*) AS copies,
        list(DISTINCT connector ORDER BY connector) AS copy_connectors
    FROM keyed
    GROUP BY ALL
)
SELECT r.* EXCLUDE (copy_rank, match_key, match_rule), c.copies, c.copy_connectors, r.match_rule
FROM ranked AS r
JOIN copies AS c USING (user_key, match_key)
WHERE r.copy_rank = 1
"""
