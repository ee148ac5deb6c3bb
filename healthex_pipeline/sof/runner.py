"""Run one ViewDefinition over FHIR files: Bulk NDJSON (plain or .gz), bundles, single resources.

NDJSON is read by DuckDB itself, typed where the view allows (shapes.py): a sample of the files
gives the structure, the compiled view gives the columns to read, and the whole run is one
statement. If that run fails (a record shaped unlike the sample), the view is rerun on JSON
text (``read_ndjson_objects``); if DuckDB cannot read the files as JSON lines, they go through
the project's own reader (``unpack``), which names the line and the reason. Bundles and
single-resource files always take that reader. Nothing is evaluated per resource in Python.

Errors name the file by the path the caller gave and say why, never quoting its content.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from healthex_pipeline.sof.compiler import CAST_ERRORS_COLUMN, CompiledView, compile_view
from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.macros import install_macros
from healthex_pipeline.sof.sql_text import sql_string
from healthex_pipeline.unpack import IngestLimits, InputRejected, frame, unpack

# Names DuckDB reads as NDJSON (any compression DuckDB detects from the name, e.g. ``.gz``).
_LINE_SUFFIXES = (".ndjson", ".jsonl")
_INPUT = "_sof_input"
SAMPLE_SIZE = 1000
SAMPLE_BYTES = 1 << 20
# The JSON-text fallback's object size limit. The typed read keeps DuckDB's default: read
# buffers are sized from this limit, and 256 MiB ones added ~70 % to the time of a 100k-resource
# run. Should DuckDB reject a larger record, the typed run fails and the fallback reads it.
MAX_OBJECT_BYTES = 256 << 20
# Rows per Arrow batch fetched from DuckDB: the result is built from batches as they stream
# out, never also held whole inside DuckDB.
BATCH_ROWS = 1 << 17
# Reader reasons that make a file unreadable; other quarantine reasons (a resource of an unknown
# type, a bundle entry without a resource) only mean that document is not a resource to view.
_UNREADABLE = frozenset({"invalid JSON", "invalid UTF-8"})
# Messages the compiled SQL raises itself (they name view elements, never data).
_OWN_MESSAGES = ("select", "where", "FHIRPath", "ViewDefinition", "SQL-on-FHIR")


class InputError(Exception):
    """An input file cannot be read; the message names it by position (``input 2``) and says why.

    Never by path: file names can carry a patient's name (Synthea's do).
    """


class ViewRuntimeError(Exception):
    """The view failed while running (e.g. a column yielding several values)."""


@dataclass(frozen=True, slots=True)
class ViewResult:
    """The view's rows, how many had values that did not cast, and which read served NDJSON."""

    table: pa.Table
    cast_error_rows: int
    read: str  # "typed", "json", "reader" or "none" (no NDJSON input)


def load_view_file(path: Path) -> Mapping[str, Any]:
    """Read and compile-check a ViewDefinition file; ViewDefinitionError names what is wrong."""
    try:
        view = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ViewDefinitionError("not a readable file") from exc
    except orjson.JSONDecodeError as exc:
        raise ViewDefinitionError("not valid JSON") from exc
    if not isinstance(view, dict):
        raise ViewDefinitionError("not a JSON object")
    compile_view(view, source=_INPUT)
    return view


def _is_lines(path: Path) -> bool:
    return path.name.lower().removesuffix(".gz").endswith(_LINE_SUFFIXES)


def _label(paths: Sequence[Path], path: Path) -> str:
    return f"input {paths.index(path) + 1}"


def _check_readable(paths: Sequence[Path]) -> None:
    for path in paths:
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except (OSError, ValueError) as exc:
            raise InputError(f"{_label(paths, path)}: not a readable file") from exc


def _file_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join(sql_string(str(p)) for p in paths) + "]"


def _execute(con: duckdb.DuckDBPyConnection, compiled: CompiledView) -> pa.Table:
    install_macros(con, used_by=compiled.sql)
    return con.sql(compiled.sql).to_arrow_reader(BATCH_ROWS).read_all()


def _head_lines(paths: Sequence[Path]) -> list[str]:
    """Complete lines from the start of the files, SAMPLE_BYTES in all (decompressing .gz)."""
    lines: list[str] = []
    budget = SAMPLE_BYTES
    for path in paths:
        if budget <= 0:
            break
        try:
            with (gzip.open if path.name.lower().endswith(".gz") else open)(path, "rb") as f:
                data = f.read(budget)
        except (OSError, EOFError):
            continue  # the reads that follow report what is wrong with the file
        chunks = data.split(b"\n")
        if len(data) == budget:
            chunks.pop()  # the file goes on: the last line may be cut
        budget -= len(data)
        lines += [chunk.decode("utf-8", "replace") for chunk in chunks if chunk.strip()]
    return lines


def _structure(
    con: duckdb.DuckDBPyConnection, paths: Sequence[Path], resource: str
) -> Mapping[str, Any] | None:
    """The merged JSON structure of up to SAMPLE_SIZE resources of the view's type.

    Taken from the first lines of the files (a sample needs no full scan): which elements are
    objects, arrays or strings there decides the typed read (shapes.py).
    """
    [(text,)] = con.execute(
        "SELECT json_group_structure(j) FROM (SELECT j FROM (SELECT json(line) AS j"
        " FROM (SELECT unnest(?::VARCHAR[]) AS line) WHERE json_valid(line))"
        f" WHERE json_extract_string(j, '$.resourceType') = ? LIMIT {SAMPLE_SIZE})",
        [_head_lines(paths), resource],
    ).fetchall()
    structure = orjson.loads(text) if text is not None else None
    return structure if isinstance(structure, dict) else None


def _run_typed(
    con: duckdb.DuckDBPyConnection, view: Mapping[str, Any], paths: Sequence[Path]
) -> pa.Table | None:
    """The view over a typed read, or None when the view or the sample allows no typed read."""
    files = _file_list(paths)
    structure = _structure(con, paths, str(view.get("resource")))
    if structure is None:
        return None
    compiled = compile_view(view, source=_INPUT, structure=structure)
    if compiled.read_columns is None:
        return None
    columns = ", ".join(
        f"{sql_string(name)}: {sql_string(kind)}" for name, kind in compiled.read_columns.items()
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_INPUT} AS SELECT * FROM read_json({files},"
        f" format='newline_delimited', columns={{{columns}}})"
    )
    return _execute(con, compiled)


def _run_json(con: duckdb.DuckDBPyConnection, view: Mapping[str, Any], files: str) -> pa.Table:
    """The view over each line as JSON text (no assumption about shapes)."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_INPUT} AS SELECT json AS resource"
        f" FROM read_ndjson_objects({files}, maximum_object_size={MAX_OBJECT_BYTES})"
    )
    return _execute(con, compile_view(view, source=_INPUT))


def _run_lines(
    con: duckdb.DuckDBPyConnection, view: Mapping[str, Any], paths: Sequence[Path]
) -> tuple[pa.Table, str] | None:
    """NDJSON files read by DuckDB: typed, else as JSON text; None when DuckDB cannot read them.

    Raises ViewRuntimeError when the view itself fails on JSON text.
    """
    try:
        table = _run_typed(con, view, paths)
        if table is not None:
            return table, "typed"
    except duckdb.Error:
        pass  # a record unlike the sample, or bad input: the JSON read tells which
    try:
        return _run_json(con, view, _file_list(paths)), "json"
    except duckdb.Error as exc:
        if _own_message(exc) is not None:
            raise ViewRuntimeError(_own_message(exc)) from exc
        return None


def _reader_resources(con: duckdb.DuckDBPyConnection, path: Path, label: str) -> pa.Table:
    """One file's resources through the project's reader; InputError when it is unreadable."""
    data = path.read_bytes()
    try:
        framed = frame(data, path.name, IngestLimits())
    except InputRejected as exc:
        raise InputError(f"{label}: {exc}") from exc
    if framed.rejected:
        locator, reason = framed.rejected[0]
        raise InputError(f"{label}: {locator}: {reason}")
    unpacked = unpack(con, framed, hashlib.sha256(data).hexdigest())
    unreadable = [
        (loc, reason) for loc, _, _, reason in unpacked.quarantined if reason in _UNREADABLE
    ]
    if unreadable:
        locator, reason = unreadable[0]
        raise InputError(f"{label}: {locator}: {reason}")
    return unpacked.resources.select(["resource"])


def _run_reader(
    con: duckdb.DuckDBPyConnection,
    view: Mapping[str, Any],
    paths: Sequence[Path],
    given: Sequence[Path],
) -> pa.Table:
    """Run the view over ``paths`` read one by one, each named by its place in ``given``."""
    tables = [_reader_resources(con, p, _label(given, p)) for p in paths]
    resources = pa.concat_tables(tables).cast(pa.schema([("resource", pa.string())]))
    con.register("_sof_reader_resources", resources)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_INPUT} AS"
        " SELECT resource::JSON AS resource FROM _sof_reader_resources"
    )
    try:
        return _execute(con, compile_view(view, source=_INPUT))
    except duckdb.Error as exc:
        withheld = f"DuckDB {type(exc).__name__} (message withheld: it may quote data)"
        raise ViewRuntimeError(_own_message(exc) or withheld) from exc


def _own_message(exc: duckdb.Error) -> str | None:
    """The compiled view's own error message (it names view elements, never data), if it is."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    message = text.split("Error: ", 1)[-1]
    return message if message.startswith(_OWN_MESSAGES) else None


def run_view(view: Mapping[str, Any], paths: Sequence[Path]) -> ViewResult:
    """Run ``view`` over ``paths``; rows of NDJSON files first, then of the other files.

    Raises ViewDefinitionError for an invalid view, InputError for an unreadable file and
    ViewRuntimeError when the view fails on the data.
    """
    compile_view(view, source=_INPUT)
    if not paths:
        raise InputError("no input files")
    _check_readable(paths)
    lines = [p for p in paths if _is_lines(p)]
    documents = [p for p in paths if not _is_lines(p)]
    con = duckdb.connect()
    try:
        tables: list[pa.Table] = []
        read = "none"
        if lines:
            served = _run_lines(con, view, lines)
            if served is None:
                documents = [*lines, *documents]
                read = "reader"
            else:
                tables.append(served[0])
                read = served[1]
        if documents:
            tables.append(_run_reader(con, view, documents, paths))
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        con.register("_sof_rows", table)
        [(rows_with_errors,)] = con.execute(
            f"SELECT count(*) FROM _sof_rows WHERE len({CAST_ERRORS_COLUMN}) > 0"
        ).fetchall()
    finally:
        con.close()
    return ViewResult(table.drop_columns([CAST_ERRORS_COLUMN]), int(rows_with_errors), read)
