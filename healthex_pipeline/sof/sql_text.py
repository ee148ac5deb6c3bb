"""Quoting for the SQL text the compiler writes: identifiers, string and JSON literals, paths."""

from __future__ import annotations

import json
from typing import Any


def quote_identifier(name: str) -> str:
    """Quote ``name`` as a SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    """Quote ``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_literal(value: Any) -> str:
    """A SQL ``JSON`` literal holding ``value``."""
    return f"{sql_string(json.dumps(value, ensure_ascii=False))}::JSON"


def json_path(name: str) -> str:
    """The DuckDB JSON path selecting member ``name`` of an object."""
    return sql_string('$."' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')
