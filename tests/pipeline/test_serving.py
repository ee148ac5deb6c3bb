"""Cross-connector dedup (`<table>_current`), the AI team's `serving` catalog, and its purge.

The real case: one Synthea bundle delivered through HealthEx and again through Fasten. The
crafted case: the same Condition, by business identifier, with two versions through two
connectors, where the newer `meta.lastUpdated` must win.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from healthex_pipeline import ai_context, deletion, serving
from healthex_pipeline.current import specs
from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse
from tests.support.fixture_sets import require_set

NOT_SERVED = {"identifier_key", "raw_sha256", "run_id", "fetched_at", "resource_version", "text"}


@dataclass(frozen=True)
class Twice:
    """A Synthea bundle imported once for one account and through two connectors for another."""

    settings: Settings
    once: ImportReport
    twice: ImportReport


def _bundle() -> Path:
    return sorted(require_set("synthea-r4").glob("*.json"))[0]


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> Twice:
    settings = Settings(home=tmp_path_factory.mktemp("serving") / "home")
    bundle = _bundle()
    once = import_files(settings, "acct-once", "healthex", [bundle])
    import_files(settings, "acct-twice", "healthex", [bundle])
    twice = import_files(settings, "acct-twice", "fasten", [bundle])
    assert once.success and twice.success
    return Twice(settings, once, twice)


def _count(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> int:
    ((value,),) = con.execute(sql, list(params)).fetchall()
    return int(value)


def test_a_bundle_through_two_connectors_is_served_once(twice: Twice) -> None:
    with Warehouse.for_settings(twice.settings).connect() as con:
        for table in specs():
            once = _count(
                con, f"SELECT count(*) FROM {table}_current WHERE user_key = ?", twice.once.user_key
            )
            base_once = _count(
                con, f"SELECT count(*) FROM {table} WHERE user_key = ?", twice.once.user_key
            )
            current = _count(
                con,
                f"SELECT count(*) FROM {table}_current WHERE user_key = ?",
                twice.twice.user_key,
            )
            base = _count(
                con, f"SELECT count(*) FROM {table} WHERE user_key = ?", twice.twice.user_key
            )
            copies = _count(
                con,
                f"SELECT coalesce(sum(copies), 0) FROM {table}_current WHERE user_key = ?",
                twice.twice.user_key,
            )
            both = _count(
                con,
                f"SELECT count(*) FROM {table}_current WHERE user_key = ? "
                "AND copy_connectors = ['fasten', 'healthex']",
                twice.twice.user_key,
            )
            assert base == 2 * base_once, table
            assert current == once, table
            assert copies == base, table
            assert both == current, table
    assert twice.once.rows_by_table["lab_results"] > 0


def test_serving_serves_current_rows_without_lineage_or_identifier_columns(twice: Twice) -> None:
    user_key = twice.twice.user_key
    with (
        Warehouse.for_settings(twice.settings).connect() as curated,
        serving.connect(twice.settings) as con,
    ):
        for table, spec in specs().items():
            served = _count(
                con, f"SELECT count(*) FROM serving.{table} WHERE user_key = ?", user_key
            )
            current = _count(
                curated, f"SELECT count(*) FROM {table}_current WHERE user_key = ?", user_key
            )
            columns = {row[0] for row in con.execute(f"DESCRIBE serving.{table}").fetchall()}
            assert served == current, table
            assert not columns & NOT_SERVED, table
            assert "resource_id" not in columns and "encounter_id" not in columns, table
            assert ("source_ref" in columns) == spec.serve_source_ref, table
        timeline = con.execute(
            "SELECT event_at FROM serving.patient_timeline WHERE user_key = ?", [user_key]
        ).fetchall()
    dated = [at for (at,) in timeline if at is not None]
    assert dated == sorted(dated)
    assert len(timeline) == sum(
        n for t, n in twice.once.rows_by_table.items() if specs()[t].timeline is not None
    )


def test_each_tables_user_macro_reads_exactly_the_users_rows(twice: Twice) -> None:
    """``serving.<table>_of(key)`` opens one bucket; it must equal the view filtered on the key."""
    user_key = twice.twice.user_key
    with serving.connect(twice.settings) as con:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'serving'"
            ).fetchall()
        ]
        assert "patient_timeline" in tables and "lab_results" in tables
        for table in tables:
            by_macro = con.execute(f"SELECT * FROM serving.{table}_of(?) ORDER BY ALL", [user_key])
            by_macro_rows = by_macro.fetchall()
            by_view = con.execute(
                f"SELECT * FROM serving.{table} WHERE user_key = ? ORDER BY ALL", [user_key]
            ).fetchall()
            assert by_macro_rows == by_view, table
        assert con.execute(
            "SELECT count(*) FROM serving.lab_results_of('u_not_a_user')"
        ).fetchall() == [(0,)]
        labs = con.execute("SELECT count(*) FROM serving.lab_results_of(?)", [user_key])
        assert labs.fetchall()[0][0] > 0, "the comparison must see rows"


def test_the_serving_catalog_is_read_only_and_holds_no_rows(twice: Twice) -> None:
    catalog = serving.catalog_path(twice.settings)
    with serving.connect(twice.settings) as con:
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("CREATE TABLE serving.copy AS SELECT 1")
        kinds = {
            kind
            for (kind,) in con.execute(
                "SELECT DISTINCT table_type FROM information_schema.tables "
                "WHERE table_schema = 'serving'"
            ).fetchall()
        }
    assert kinds == {"VIEW"}
    assert twice.twice.user_key.encode() not in catalog.read_bytes()


def test_ai_context_cites_every_statement_and_only_served_rows(twice: Twice) -> None:
    user_key = twice.twice.user_key
    document = orjson.loads(ai_context.context_path(twice.settings, user_key).read_bytes())
    with serving.connect(twice.settings) as con:
        served = {
            ref
            for (ref,) in con.execute(
                "SELECT source_ref FROM serving.patient_timeline WHERE user_key = ?", [user_key]
            ).fetchall()
        }
    statements = [s for section in ai_context.SECTIONS for s in document[section]]

    assert document["recent_labs"] and document["immunizations"]
    assert all(statement["sources"] for statement in statements)
    assert ai_context.cited_sources(document) <= served
    cited = sorted(ai_context.cited_sources(document))[0]
    resolved = serving.resolve_ref(twice.settings, user_key, cited)
    assert resolved is not None
    table, resource_type, resource_id = resolved
    with Warehouse.for_settings(twice.settings).connect() as curated:
        assert (
            _count(
                curated,
                f"SELECT count(*) FROM {table} WHERE user_key = ? AND resource_type = ? "
                "AND resource_id = ?",
                user_key,
                resource_type,
                resource_id,
            )
            == 2
        )  # one copy per connector


def _condition(version: str, updated: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": f"cond-{version}",
        "meta": {"lastUpdated": updated},
        "identifier": [{"system": "urn:example:problems", "value": "P-1"}],
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": "2020-01-01",
    }


def test_the_newest_copy_by_business_identifier_wins(settings: Settings, tmp_path: Path) -> None:
    older = tmp_path / "older.json"
    newer = tmp_path / "newer.json"
    older.write_bytes(orjson.dumps(_condition("a", "2024-01-01T00:00:00Z", "active")))
    newer.write_bytes(orjson.dumps(_condition("b", "2024-06-01T00:00:00Z", "resolved")))
    import_files(settings, "acct-1", "fasten", [newer])
    report = import_files(settings, "acct-1", "healthex", [older])

    with Warehouse.for_settings(settings).connect() as con:
        rows = con.execute(
            "SELECT resource_id, connector, clinical_status, copies, match_rule "
            "FROM conditions_current WHERE user_key = ?",
            [report.user_key],
        ).fetchall()

    assert rows == [("cond-b", "fasten", "resolved", 2, "identifier")]


def test_purging_one_connector_serves_the_other_and_a_full_purge_leaves_no_folder(
    settings: Settings,
) -> None:
    bundle = _bundle()
    import_files(settings, "acct-1", "healthex", [bundle])
    report = import_files(settings, "acct-1", "fasten", [bundle])

    cert = deletion.purge(settings, "acct-1", "fasten")
    with serving.connect(settings) as con:
        labs = _count(
            con, "SELECT count(*) FROM serving.lab_results WHERE user_key = ?", report.user_key
        )
    with Warehouse.for_settings(settings).connect() as con:
        connectors = con.execute(
            "SELECT DISTINCT copy_connectors FROM lab_results_current"
        ).fetchall()

    assert cert.verified
    assert labs == report.rows_by_table["lab_results"] > 0
    assert connectors == [(["healthex"],)]
    assert ai_context.context_path(settings, report.user_key).exists()

    cert = deletion.purge(settings, "acct-1")

    assert cert.verified
    assert serving.user_folders(settings, report.user_key) == []
    assert {layer.layer: layer.files for layer in cert.layers}["serving"] > 0
