"""Map a column's FHIR type to its DuckDB type and the macro casting a JSON item to it.

Date/time types stay VARCHAR in FHIR's own string form (the curated layer converts them); their
macro only validates the form so malformed values are reported as cast errors.
"""

from __future__ import annotations

from dataclasses import dataclass

from healthex_pipeline.sof.path_sql import INTEGER_TYPES


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How one output column is typed: DuckDB type, cast macro, and whether casts are checked."""

    duckdb_type: str
    cast_macro: str
    checked: bool


_VARCHAR_CHECKED = {
    "date": "sof_to_date",
    "dateTime": "sof_to_datetime",
    "instant": "sof_to_instant",
    "time": "sof_to_time",
}


def column_type(fhir_type: str | None, declared: bool) -> ColumnType:
    """The typing of a column whose FHIR type is ``fhir_type`` (declared or inferred)."""
    if fhir_type == "boolean":
        return ColumnType("BOOLEAN", "sof_to_boolean", declared)
    if fhir_type in INTEGER_TYPES:
        return ColumnType("BIGINT", "sof_to_bigint", declared)
    if fhir_type == "decimal":
        return ColumnType("DOUBLE", "sof_to_double", declared)
    if fhir_type in _VARCHAR_CHECKED:
        return ColumnType("VARCHAR", _VARCHAR_CHECKED[fhir_type], declared)
    if fhir_type is not None and fhir_type[:1].islower():
        return ColumnType("VARCHAR", "sof_to_string", declared)
    # Untyped or a complex type: keep the JSON text, never report a cast error.
    return ColumnType("VARCHAR", "sof_to_any", False)
