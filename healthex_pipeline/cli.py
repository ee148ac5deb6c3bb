"""`healthex` console script: parses arguments, then calls the package. No logic lives here."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from healthex_pipeline.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3


class Connector(StrEnum):
    """The three ways records arrive."""

    healthex = "healthex"
    fasten = "fasten"
    apple_health = "apple_health"


@app.command("import")
def import_command(
    user: Annotated[str, typer.Option(help="Account id (never stored outside the registry).")],
    connector: Annotated[Connector, typer.Option(help="Connector the files came through.")],
    paths: Annotated[list[Path], typer.Argument(help="Bundle/NDJSON files, Apple export dir/zip.")],
) -> None:
    """Land files for one user and build that partition through to checked curated tables.

    Exit 0 when all input landed, 3 when some input was quarantined, 1 when the run failed.
    """
    from healthex_pipeline.importer import ImportInputError, import_files

    try:
        report = import_files(Settings.from_env(), user, connector.value, paths)
    except ImportInputError as exc:
        typer.echo(f"healthex import: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    for line in report.quarantined:
        typer.echo(f"quarantined: {line}", err=True)
    rows = ", ".join(f"{table} {n}" for table, n in report.rows_by_table.items())
    status = "failed" if not report.success else "ok"
    typer.echo(
        f"import {status}: partition {report.user_key}|{connector.value}, {report.inputs} inputs, "
        f"{len(report.quarantined)} quarantined; rows: {rows}; run {report.run_id}",
        err=True,
    )
    if not report.success:
        raise typer.Exit(EXIT_FAILED)
    raise typer.Exit(EXIT_QUARANTINED if report.quarantined else EXIT_OK)


@app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the catalog's views.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of row objects.")
    ] = False,
) -> None:
    """Query the curated tables (read-only)."""
    from healthex_pipeline.warehouse import Warehouse

    settings = Settings.from_env()
    settings.ensure()
    with Warehouse(settings.warehouse_root, settings.catalog_path).connect_readonly() as con:
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    if as_json:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.buffer.write(orjson.dumps(records, default=str) + b"\n")
        return
    typer.echo("\t".join(columns))
    for row in rows:
        typer.echo("\t".join("" if v is None else str(v) for v in row))


@app.command("demo")
def demo_command(
    users: Annotated[int, typer.Option(help="Synthetic users to generate.")] = 20,
    seed: Annotated[int, typer.Option(help="Generator seed (same seed, same data).")] = 7,
    workers: Annotated[int, typer.Option(help="Partitions imported at once.")] = 2,
) -> None:
    """Generate a synthetic population and run every delivery through the pipeline."""
    from healthex_pipeline.demo import run_demo

    summary = run_demo(Settings.from_env(), users, seed, workers)
    typer.echo(summary.render())
    raise typer.Exit(EXIT_OK if summary.ok else EXIT_FAILED)


if __name__ == "__main__":
    app()
