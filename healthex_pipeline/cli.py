"""`healthex` console script: parses arguments, then calls the package. No logic lives here."""

from __future__ import annotations

import os
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
    from healthex_pipeline.runs import PartitionBusyError

    try:
        report = import_files(Settings.from_env(), user, connector.value, paths)
    except ImportInputError as exc:
        typer.echo(f"healthex import: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except PartitionBusyError as exc:  # the files stay in the inbox; the next run lands them
        typer.echo(f"healthex import: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
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


@app.command("connect")
def connect_command(
    user: Annotated[str, typer.Option(help="Account id (never sent to the vendor).")],
    connector: Annotated[Connector, typer.Option(help="healthex or fasten.")],
) -> None:
    """Open a network connection; prints the URL the patient opens to consent."""
    from healthex_pipeline.connect import connect

    if connector is Connector.apple_health:
        typer.echo("healthex connect: apple_health arrives as a file import", err=True)
        raise typer.Exit(EXIT_USAGE)
    connected = connect(Settings.from_env(), user, connector.value)
    typer.echo(f"connection opened for partition {connected.user_key}|{connector.value}", err=True)
    typer.echo(connected.patient_url)


@app.command("refresh")
def refresh_command(user: Annotated[str, typer.Option(help="Account id.")]) -> None:
    """Ask HealthEx for fresh records (records then arrive by push)."""
    from healthex_pipeline.connect import NotConnectedError, refresh

    try:
        typer.echo(f"healthex: {refresh(Settings.from_env(), user)}")
    except NotConnectedError as exc:
        typer.echo(f"healthex refresh: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc


@app.command("delete")
def delete_command(
    user: Annotated[str | None, typer.Option(help="Account id.")] = None,
    connector: Annotated[Connector | None, typer.Option(help="Only this connector.")] = None,
    resume: Annotated[bool, typer.Option(help="Finish every pending deletion request.")] = False,
) -> None:
    """Purge the account's data from every layer and print the deletion certificate(s).

    The request is recorded first, then carried out by a run of ``deletion_job`` on the Dagster
    instance (so it shows in the UI); a request whose run fails stays pending and is retried.
    Exit 0 when verification found nothing left, 1 otherwise, 2 for an unknown account.
    """
    from healthex_pipeline.deletion import (
        UnknownAccountError,
        load_certificate,
        pending_deletions,
        request_deletion,
    )
    from healthex_pipeline.runs import run_deletion

    settings = Settings.from_env()
    try:
        if resume:
            deletion_ids = pending_deletions(settings)
        elif user is not None:
            scope = connector.value if connector else None
            deletion_ids = [request_deletion(settings, user, scope).deletion_id]
        else:
            typer.echo("healthex delete: give --user ACCOUNT or --resume", err=True)
            raise typer.Exit(EXIT_USAGE)
    except UnknownAccountError as exc:
        typer.echo(f"healthex delete: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    verified = True
    for deletion_id in deletion_ids:
        outcome = run_deletion(settings, deletion_id)
        if not outcome.success:
            typer.echo(
                f"healthex delete: deletion {deletion_id} did not complete (run {outcome.run_id}); "
                "the request stays pending and is retried",
                err=True,
            )
        certificate = load_certificate(settings, deletion_id)
        if certificate is not None:
            sys.stdout.buffer.write(certificate.to_json() + b"\n")
        verified = verified and outcome.success and certificate is not None and certificate.verified
    raise typer.Exit(EXIT_OK if verified else EXIT_FAILED)


@app.command("disconnect")
def disconnect_command(
    user: Annotated[str, typer.Option(help="Account id.")],
    connector: Annotated[Connector, typer.Option(help="healthex or fasten.")],
    org: Annotated[str, typer.Option(help="The organization (facility / org connection) id.")],
) -> None:
    """Remove one organization's records and print the certificate (exit 0 when verified)."""
    from healthex_pipeline.deletion import UnknownAccountError, disconnect
    from healthex_pipeline.runs import PartitionBusyError

    try:
        certificate = disconnect(Settings.from_env(), user, connector.value, org)
    except UnknownAccountError as exc:
        typer.echo(f"healthex disconnect: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except PartitionBusyError as exc:
        typer.echo(f"healthex disconnect: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
    sys.stdout.buffer.write(certificate.to_json() + b"\n")
    raise typer.Exit(EXIT_OK if certificate.verified else EXIT_FAILED)


@app.command("status")
def status_command(user: Annotated[str, typer.Option(help="Account id.")]) -> None:
    """Show each connection and facility: waiting, ready (n records), needs action, failed."""
    from healthex_pipeline.connect import status

    lines = status(Settings.from_env(), user)
    if lines is None:
        typer.echo("healthex status: no such account", err=True)
        raise typer.Exit(EXIT_USAGE)
    for line in lines:
        records = f" ({line.records} records)" if line.records is not None else ""
        typer.echo(f"{line.connector}\t{line.facility or '(connection)'}\t{line.status}{records}")


sandbox_app = typer.Typer(no_args_is_help=True, help="The vendors' sandbox server.")
webhooks_app = typer.Typer(no_args_is_help=True, help="The Fasten webhook receiver.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(webhooks_app, name="webhooks")

# Consent registry (issue 5): grant, revoke and show an account's consents.
consent_app = typer.Typer(no_args_is_help=True, help="The consent registry.")
app.add_typer(consent_app, name="consent")


def _consent_user_key(settings: Settings, user: str, command: str) -> str:
    """The account's pseudonym; exit 2 for an unknown account (consent never registers one)."""
    from healthex_pipeline.registry import PseudonymRegistry

    user_key = PseudonymRegistry(settings.registry_path).lookup(user)
    if user_key is None:
        typer.echo(f"healthex consent {command}: no such account", err=True)
        raise typer.Exit(EXIT_USAGE)
    return user_key


@consent_app.command("grant")
def consent_grant_command(
    user: Annotated[str, typer.Option(help="Account id.")],
    connector: Annotated[Connector, typer.Option(help="The connector consented to.")],
) -> None:
    """Grant (or renew) consent for one year."""
    from healthex_pipeline.consent.store import ConsentStore

    settings = Settings.from_env()
    user_key = _consent_user_key(settings, user, "grant")
    with ConsentStore(settings.consent_db_url) as consents:
        granted = consents.grant(user_key, connector.value)
    typer.echo(f"{connector.value}\tactive\texpires {granted.expires_at.isoformat()}")


@consent_app.command("revoke")
def consent_revoke_command(
    user: Annotated[str, typer.Option(help="Account id.")],
    connector: Annotated[Connector | None, typer.Option(help="Only this connector.")] = None,
) -> None:
    """Revoke active consents (all connectors unless one is named); refreshes then stop."""
    from healthex_pipeline.consent.store import ConsentStore

    settings = Settings.from_env()
    user_key = _consent_user_key(settings, user, "revoke")
    names = [connector.value] if connector else [c.value for c in Connector]
    with ConsentStore(settings.consent_db_url) as consents:
        revoked = [name for name in names if consents.revoke(user_key, name)]
    typer.echo(f"revoked: {', '.join(revoked) or 'nothing active'}")


@consent_app.command("status")
def consent_status_command(
    user: Annotated[str, typer.Option(help="Account id.")],
    connector: Annotated[Connector | None, typer.Option(help="Only this connector.")] = None,
) -> None:
    """Show each consent: connector, state, granted and expiry times (UTC)."""
    from healthex_pipeline.consent.store import ConsentStore

    settings = Settings.from_env()
    user_key = _consent_user_key(settings, user, "status")
    with ConsentStore(settings.consent_db_url) as consents:
        lines = consents.status(user_key)
    for line in lines:
        if connector is None or line.connector == connector.value:
            granted, expires = line.granted_at.isoformat(), line.expires_at.isoformat()
            typer.echo(f"{line.connector}\t{line.state}\t{granted}\t{expires}")


@sandbox_app.command("serve")
def sandbox_serve_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8765,
    users: Annotated[int, typer.Option(help="Synthetic patients.")] = 20,
    seed: Annotated[int, typer.Option(help="Population seed.")] = 7,
    webhook_url: Annotated[str | None, typer.Option(help="Where Fasten webhooks go.")] = None,
    time_scale: Annotated[float, typer.Option(help="Multiplies every delivery delay.")] = 1.0,
) -> None:
    """Serve the HealthEx and Fasten Connect sandbox APIs until interrupted."""
    from healthex_pipeline.sandbox.config import SandboxConfig
    from healthex_pipeline.sandbox.server import serve

    settings = Settings.from_env()
    serve(
        SandboxConfig(
            port=port,
            n_users=users,
            seed=seed,
            webhook_url=webhook_url,
            landing_dir=settings.landing_location,
            time_scale=time_scale,
        )
    )


@webhooks_app.command("serve")
def webhooks_serve_command(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8766,
) -> None:
    """Receive Fasten webhooks (secret from FASTEN_WEBHOOK_SECRET) until interrupted."""
    from healthex_pipeline.webhooks.__main__ import SECRET_ENV
    from healthex_pipeline.webhooks.server import serve

    secret = os.environ.get(SECRET_ENV)
    if not secret:
        typer.echo(f"healthex webhooks serve: {SECRET_ENV} is not set", err=True)
        raise typer.Exit(EXIT_USAGE)
    settings = Settings.from_env()
    settings.ensure()
    serve(settings.home, secret, "127.0.0.1", port)


@app.command("lineage")
def lineage_command(
    table: Annotated[str, typer.Argument(help="A curated table, e.g. lab_results.")],
    resource_id: Annotated[str, typer.Argument(help="The FHIR resource id of the row.")],
    user: Annotated[str | None, typer.Option(help="Only this account's rows.")] = None,
) -> None:
    """Print where a curated row came from (JSON): raw object, manifests, transforms, run.

    Exit 2 when the table is unknown or no row matches.
    """
    from healthex_pipeline.lineage import UnknownTableError, lineage, to_json
    from healthex_pipeline.registry import PseudonymRegistry

    settings = Settings.from_env()
    settings.ensure()
    user_key = None
    if user is not None:
        user_key = PseudonymRegistry(settings.registry_path).lookup(user)
        if user_key is None:
            typer.echo("healthex lineage: no such account", err=True)
            raise typer.Exit(EXIT_USAGE)
    try:
        rows = lineage(settings, table, resource_id, user_key)
    except UnknownTableError as exc:
        typer.echo(f"healthex lineage: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    if not rows:
        typer.echo(f"healthex lineage: no row of {table} has that resource id", err=True)
        raise typer.Exit(EXIT_USAGE)
    sys.stdout.buffer.write(to_json(rows) + b"\n")


@app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="A read-only SQL query over the catalog's views.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of row objects.")
    ] = False,
    serving_only: Annotated[
        bool,
        typer.Option("--serving", help="Query the AI team's read-only `serving` catalog instead."),
    ] = False,
) -> None:
    """Query the curated tables and their `<table>_current` views (read-only)."""
    from healthex_pipeline import serving
    from healthex_pipeline.warehouse import Warehouse

    settings = Settings.from_env()
    settings.ensure()
    if serving_only and not serving.catalog_path(settings).exists():
        typer.echo("healthex sql: nothing is served yet (no serving catalog)", err=True)
        raise typer.Exit(EXIT_USAGE)
    con = serving.connect(settings) if serving_only else Warehouse.for_settings(settings).connect()
    with con:
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


# SQL-on-FHIR v2 (issue 7): the conformance suite, and one view over FHIR files.
sof_app = typer.Typer(no_args_is_help=True, help="SQL-on-FHIR v2 ViewDefinitions.")
app.add_typer(sof_app, name="sof")


class SofFormat(StrEnum):
    """Output formats of ``healthex sof run``."""

    csv = "csv"
    parquet = "parquet"
    json = "json"


@sof_app.command("test")
def sof_test_command(
    directory: Annotated[Path, typer.Argument(help="Folder of suite files (tests/*.json).")],
    report: Annotated[
        Path | None,
        typer.Option(
            help="Where the test report (upstream format) is written;"
            " default HEALTHEX_HOME/sof/test_report.json."
        ),
    ] = None,
) -> None:
    """Run the official test files; the last line is `N passed, M failed` (exit 0 if M is 0)."""
    from healthex_pipeline.sof.cli_runner import run_tests

    default = Settings.from_env().home / "sof" / "test_report.json"
    raise typer.Exit(run_tests(directory, report or default))


@sof_app.command("run")
def sof_run_command(
    view: Annotated[Path, typer.Argument(help="A ViewDefinition JSON file.")],
    files: Annotated[
        list[Path], typer.Argument(help="NDJSON (.ndjson, .ndjson.gz), bundle or resource JSON.")
    ],
    output_format: Annotated[
        SofFormat, typer.Option("--format", help="csv and json may go to stdout.")
    ] = SofFormat.csv,
    out: Annotated[Path | None, typer.Option(help="Output file (parquet needs one).")] = None,
) -> None:
    """Run one view over FHIR files: CSV on stdout, or --format parquet|json --out PATH.

    Exit 2 for an invalid view or an unreadable file, 1 when the view fails on the data.
    """
    from healthex_pipeline.sof.cli_runner import run_one_view

    raise typer.Exit(run_one_view(view, files, output_format.value, out))


if __name__ == "__main__":
    app()
