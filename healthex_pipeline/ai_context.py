"""One JSON document per user for the AI summary team, built from that user's serving files only.

Every statement carries ``sources``: the ``source_ref`` of each serving row it was made from,
so a generated summary can cite them and a reviewer can look each one up in ``serving.<table>``
(and, through ``serving.resolve_ref`` and lineage, in the curated tables and the raw zone).
Sections are small by design: recent labs as per-test series with a trend, active medications,
immunizations, active problems, allergies and the latest encounters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from healthex_pipeline.durable import write_atomically
from healthex_pipeline.serving import user_dir
from healthex_pipeline.serving_store import read_rows
from healthex_pipeline.settings import Settings

CONTEXT_DIR = "ai_context"
CONTEXT_FILE = "context.json"
SCHEMA_VERSION = 1
LAB_WINDOW_DAYS = 730
"""Labs count as recent within two years of the user's newest lab result."""
LAB_SERIES_LENGTH = 3
RECENT_ENCOUNTERS = 10
TREND_TOLERANCE = 0.05
"""A change under 5 % of the previous value reads as stable."""

SECTIONS: dict[str, tuple[str, str]] = {
    # name: (serving table, SQL over it yielding statement columns + `sources`)
    "recent_labs": (
        "lab_results",
        f"""
        WITH numbered AS (
            SELECT *, row_number() OVER (
                PARTITION BY coalesce(loinc_code, lower(code_display)), component_index
                ORDER BY effective_at DESC NULLS LAST, source_ref) AS nth
            FROM t
            WHERE effective_at >= (SELECT max(effective_at) FROM t)
                - INTERVAL {LAB_WINDOW_DAYS} DAY
        ), series AS (
            SELECT loinc_code, any_value(code_display ORDER BY nth) AS display,
                list({{'at': effective_at, 'value': value_num, 'comparator': value_comparator,
                       'text': value_text, 'unit': unit, 'interpretation': interpretation,
                       'ref_low': ref_low, 'ref_high': ref_high, 'abnormal': abnormal,
                       'normalized_value': normalized_value,
                       'normalized_unit': normalized_unit}}
                    ORDER BY nth) AS series,
                list(source_ref ORDER BY nth) AS sources,
                max(effective_at) AS latest_at
            FROM numbered WHERE nth <= {LAB_SERIES_LENGTH}
            GROUP BY coalesce(loinc_code, lower(code_display)), loinc_code, component_index
        )
        SELECT loinc_code, display, series,
            -- Compared in the normalized unit, so mg/dL and g/L results of one test line up.
            CASE
                WHEN series[1].normalized_value IS NULL OR series[2].normalized_value IS NULL
                    OR series[1].normalized_unit <> series[2].normalized_unit THEN NULL
                WHEN abs(series[1].normalized_value - series[2].normalized_value)
                    <= {TREND_TOLERANCE} * abs(series[2].normalized_value) THEN 'stable'
                WHEN series[1].normalized_value > series[2].normalized_value THEN 'rising'
                ELSE 'falling'
            END AS trend,
            sources
        FROM series ORDER BY latest_at DESC, display
        """,
    ),
    "active_medications": (
        "medications",
        """
        SELECT rxnorm_code, medication_display AS display, status,
            min(authored_at) AS since, any_value(dosage_text ORDER BY authored_at DESC) AS dosage,
            list(source_ref ORDER BY authored_at DESC, source_ref) AS sources
        FROM t WHERE status IN ('active', 'on-hold', 'intended')
        GROUP BY ALL ORDER BY display
        """,
    ),
    "immunizations": (
        "immunizations",
        """
        SELECT cvx_code, vaccine_display AS display,
            list(occurrence_at ORDER BY occurrence_at) AS dates,
            list(source_ref ORDER BY occurrence_at, source_ref) AS sources
        FROM t WHERE coalesce(status, 'completed') = 'completed'
        GROUP BY ALL ORDER BY max(occurrence_at) DESC, display
        """,
    ),
    "active_problems": (
        "conditions",
        """
        SELECT code, code_system, code_display AS display, min(onset_at) AS onset,
            list(source_ref ORDER BY onset_at, source_ref) AS sources
        FROM t WHERE coalesce(clinical_status, 'active') IN ('active', 'recurrence', 'relapse')
            AND coalesce(verification_status, 'confirmed') NOT IN ('refuted', 'entered-in-error')
        GROUP BY ALL ORDER BY onset DESC NULLS LAST, display
        """,
    ),
    "allergies": (
        "allergies",
        """
        SELECT substance_code, substance_display AS display, criticality, categories,
            list(source_ref ORDER BY source_ref) AS sources
        FROM t WHERE coalesce(clinical_status, 'active') NOT IN ('inactive', 'resolved')
            AND coalesce(verification_status, 'confirmed') NOT IN ('refuted', 'entered-in-error')
        GROUP BY ALL ORDER BY display
        """,
    ),
    "recent_encounters": (
        "encounters",
        f"""
        SELECT period_start AS start, period_end AS "end", encounter_class,
            type_display AS display, reason_display AS reason,
            [source_ref] AS sources
        FROM t ORDER BY period_start DESC NULLS LAST, source_ref
        LIMIT {RECENT_ENCOUNTERS}
        """,
    ),
}


def context_path(settings: Settings, user_key: str) -> Path:
    """Where the user's document lives: in their serving folder, so a purge removes it."""
    return user_dir(settings.serving_root, CONTEXT_DIR, user_key) / CONTEXT_FILE


def _section(
    con: duckdb.DuckDBPyConnection, rows: pa.Table | None, sql: str
) -> list[dict[str, Any]]:
    if rows is None:
        return []
    con.register("t", rows)
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def build_context(settings: Settings, user_key: str) -> dict[str, Any]:
    """The user's context document (not written)."""
    root = settings.serving_root
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "user_key": user_key,
        "generated_at": datetime.now(UTC),
    }
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for section, (table, sql) in SECTIONS.items():
            document[section] = _section(con, read_rows(root, table, user_key), sql)
    return document


def write_context(settings: Settings, user_key: str) -> dict[str, int]:
    """Write the user's document next to their serving files; statements per section."""
    document = build_context(settings, user_key)
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_NAIVE_UTC)
    write_atomically(context_path(settings, user_key), lambda tmp: tmp.write_bytes(data))
    return {section: len(document[section]) for section in SECTIONS}


def cited_sources(document: dict[str, Any]) -> set[str]:
    """Every source ref the document cites."""
    return {
        source
        for section in SECTIONS
        for statement in document.get(section, [])
        for source in statement["sources"]
    }
