"""Shared helpers for the SQL-on-FHIR tests: fixture paths and a DuckDB loaded with resources."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from healthex_pipeline.sof.compiler import compile_view
from healthex_pipeline.sof.macros import install_macros

_REPO_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
VIEWS_DIR = Path(__file__).resolve().parents[2] / "transforms" / "views"


def fixture_path(subpath: str) -> Path:
    """``tests/fixtures/<subpath>`` when present, else ``../shared/fixtures/<subpath>``."""
    local = _REPO_FIXTURES / subpath
    return local if local.exists() else _SHARED_FIXTURES / subpath


def bundle_resources(subpath: str) -> list[dict[str, Any]]:
    """Every entry resource of every Bundle file in a fixture folder, in file-name order."""
    resources: list[dict[str, Any]] = []
    for path in sorted(fixture_path(subpath).glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        resources.extend(entry["resource"] for entry in bundle.get("entry", []))
    return resources


def load_resources(con: duckdb.DuckDBPyConnection, resources: Iterable[Mapping[str, Any]]) -> None:
    """(Re)create table ``src(resource JSON)`` holding ``resources``."""
    con.execute("CREATE OR REPLACE TABLE src (resource JSON)")
    con.executemany("INSERT INTO src VALUES (?)", [[orjson.dumps(r).decode()] for r in resources])


def run_view(
    con: duckdb.DuckDBPyConnection, view: Mapping[str, Any], source: str = "src"
) -> list[dict[str, Any]]:
    """Compile ``view`` over ``source`` and return its rows as dicts."""
    relation = con.sql(compile_view(view, source=source).sql)
    return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the compiler's macros installed."""
    connection = duckdb.connect()
    install_macros(connection)
    yield connection
    connection.close()
