"""What ``healthex sof test`` and ``healthex sof run`` do, behind the thin typer layer in cli.py.

Each function takes the parsed arguments, writes to the given streams and returns the exit
code, so the commands are testable without a process and cli.py stays argument parsing only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv

from healthex_pipeline.sof.errors import ViewDefinitionError
from healthex_pipeline.sof.runner import InputError, ViewRuntimeError, load_view_file, run_view
from healthex_pipeline.sof.sql_text import quote_identifier, sql_string
from healthex_pipeline.sof.suite import SuiteReport, run_file, suite_files

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
# The file name the upstream suite asks runners for (the CLI puts it under HEALTHEX_HOME/sof).
REPORT_NAME = "test_report.json"


def run_tests(
    directory: Path,
    report: Path = Path(REPORT_NAME),
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Run the suite files in ``directory`` and write the report.

    The last stdout line is the summary ``N passed, M failed``. Exit 0 only when nothing
    failed, 1 when something did, 2 when nothing could run.
    """
    stdout: IO[str] = out if out is not None else sys.stdout
    stderr: IO[str] = err if err is not None else sys.stderr
    if not directory.is_dir():
        stderr.write(f"healthex sof test: {directory}: not a readable folder\n")
        return EXIT_USAGE
    files, others = suite_files(directory)
    if not files and (directory / "tests").is_dir():  # the suite's root: its tests/ folder
        files, others = suite_files(directory / "tests")
    for path in others:
        stderr.write(f"healthex sof test: skipped {path}: not a SQL-on-FHIR test file\n")
    if not files:
        stderr.write(f"healthex sof test: {directory}: no SQL-on-FHIR test files (*.json)\n")
        return EXIT_USAGE
    result = SuiteReport(tuple(r for path in files for r in run_file(path)))
    try:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_bytes(orjson.dumps(result.to_report(), option=orjson.OPT_INDENT_2) + b"\n")
    except OSError as exc:
        stderr.write(f"healthex sof test: {report}: cannot write the report ({exc.strerror})\n")
        return EXIT_USAGE
    stderr.write(f"healthex sof test: report written to {report}\n")
    for r in result.results:
        if not r.passed:
            stdout.write(f"FAIL {r.file} :: {r.name}: {r.error}\n")
    stdout.write(f"{result.passed} passed, {result.failed} failed\n")
    return EXIT_OK if result.failed == 0 else EXIT_FAILED


def _csv_ready(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """List columns as JSON text: CSV has no lists (and a collection column is one)."""
    con.register("_sof_result", table)
    columns = [
        f"to_json({quote_identifier(f.name)})::VARCHAR AS {quote_identifier(f.name)}"
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)
        else quote_identifier(f.name)
        for f in table.schema
    ]
    return con.sql(f"SELECT {', '.join(columns)} FROM _sof_result").to_arrow_table()


def write_result(table: pa.Table, output_format: str, out: Path | None, stdout: IO[bytes]) -> None:
    """Write rows as CSV (header first), a JSON array of row objects, or Parquet (to ``out``)."""
    if output_format == "parquet":
        if out is None:
            raise ValueError("parquet needs --out")
        con = duckdb.connect()
        try:
            con.register("_sof_result", table)
            con.execute(f"COPY _sof_result TO {sql_string(str(out))} (FORMAT parquet)")
        finally:
            con.close()
        return
    if output_format == "json":
        data = orjson.dumps(table.to_pylist()) + b"\n"
    else:
        con = duckdb.connect()
        try:
            sink = pa.BufferOutputStream()
            pa_csv.write_csv(_csv_ready(con, table), sink)
            data = sink.getvalue().to_pybytes()
        finally:
            con.close()
    if out is None:
        stdout.write(data)
    else:
        out.write_bytes(data)


def run_one_view(
    view_path: Path,
    files: Sequence[Path],
    output_format: str = "csv",
    out: Path | None = None,
    stdout: IO[bytes] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Run the view at ``view_path`` over ``files`` and write the rows.

    Exit 2 for an invalid view, an unreadable file or a missing ``--out``; 1 when the view fails
    on the data; 0 otherwise. Messages name files by the path given and say why, never quoting
    their content.
    """
    sink: IO[bytes] = stdout if stdout is not None else sys.stdout.buffer
    stderr: IO[str] = err if err is not None else sys.stderr
    command = "healthex sof run"
    if output_format == "parquet" and out is None:
        stderr.write(f"{command}: --format parquet needs --out PATH\n")
        return EXIT_USAGE
    try:
        view = load_view_file(view_path)
    except ViewDefinitionError as exc:
        stderr.write(f"{command}: {view_path}: invalid view: {exc}\n")
        return EXIT_USAGE
    try:
        result = run_view(view, files)
    except InputError as exc:
        stderr.write(f"{command}: {exc}\n")
        return EXIT_USAGE
    except ViewRuntimeError as exc:
        stderr.write(f"{command}: {view_path}: the view failed: {exc}\n")
        return EXIT_FAILED
    try:
        write_result(result.table, output_format, out, sink)
    except OSError as exc:
        stderr.write(f"{command}: {out}: cannot write ({exc.strerror})\n")
        return EXIT_USAGE
    stderr.write(f"{command}: {result.table.num_rows} rows\n")
    if result.cast_error_rows:
        stderr.write(
            f"{command}: {result.cast_error_rows} rows had values that do not fit their"
            " column's type (written as empty)\n"
        )
    return EXIT_OK
