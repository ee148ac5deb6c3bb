"""The Dagster instance config: SQLite by default, PostgreSQL when configured, with run limits.

The integration test needs a PostgreSQL server: ``.ci/run`` starts one and exports
``HEALTHEX_TEST_POSTGRES_URL`` (a superuser URL); each test session gets its own database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster_postgres import PostgresRunStorage

from healthex_pipeline.importer import import_files
from healthex_pipeline.instance_config import (
    CONNECTOR_TAG,
    PARTITION_TAG,
    POSTGRES_URL_ENV,
    InstanceConfig,
    write_instance_config,
)
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.transforms import models
from tests.support.fixture_sets import fixture_dir

TEST_URL_ENV = "HEALTHEX_TEST_POSTGRES_URL"


def test_default_instance_is_sqlite_with_run_and_pool_limits(tmp_path: Path) -> None:
    write_instance_config(InstanceConfig.from_env({}), tmp_path)
    doc = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    assert "storage" not in doc, doc  # Dagster's embedded SQLite under DAGSTER_HOME
    limits = {item["key"]: item for item in doc["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert limits[CONNECTOR_TAG] == {
        "key": CONNECTOR_TAG,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": InstanceConfig().runs_per_connector,
    }
    assert limits[PARTITION_TAG]["limit"] == 1
    assert doc["concurrency"]["pools"] == {"granularity": "op", "default_limit": 2}
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert instance.event_log_storage.supports_global_concurrency_limits


def test_postgres_and_limits_come_from_the_environment(tmp_path: Path) -> None:
    secret_url = "postgresql://u:not-written@db.invalid/dagster"
    env = {
        POSTGRES_URL_ENV: secret_url,
        "HEALTHEX_MAX_CONCURRENT_RUNS": "7",
        "HEALTHEX_RUNS_PER_CONNECTOR": "3",
        "HEALTHEX_VENDOR_POOL_LIMIT": "5",
    }
    write_instance_config(InstanceConfig.from_env(env), tmp_path)
    text = (tmp_path / "dagster.yaml").read_text()
    doc = yaml.safe_load(text)
    assert doc["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}
    assert secret_url not in text, "the URL (with its password) must stay in the environment"
    runs = doc["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == 7
    assert [item["limit"] for item in runs["tag_concurrency_limits"]] == [3, 1]
    assert doc["concurrency"]["pools"]["default_limit"] == 5


def test_changed_settings_rewrite_the_config(tmp_path: Path) -> None:
    assert write_instance_config(InstanceConfig(), tmp_path)
    assert not write_instance_config(InstanceConfig(), tmp_path), "unchanged: left alone"
    assert write_instance_config(InstanceConfig(postgres=True), tmp_path)
    assert "postgres" in yaml.safe_load((tmp_path / "dagster.yaml").read_text())["storage"]
    assert write_instance_config(InstanceConfig(), tmp_path)
    assert "storage" not in yaml.safe_load((tmp_path / "dagster.yaml").read_text())


def test_invalid_limit_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="HEALTHEX_RUNS_PER_CONNECTOR must be at least 1"):
        InstanceConfig.from_env({"HEALTHEX_RUNS_PER_CONNECTOR": "0"})


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database for this test session (one per xdist worker), dropped afterwards."""
    admin_url = os.environ.get(TEST_URL_ENV)
    if not admin_url:
        pytest.skip(f"{TEST_URL_ENV} is unset: no PostgreSQL server (.ci/run starts one)")
    url = sa.make_url(admin_url)
    name = f"healthex_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as con:
            con.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> Settings:
    monkeypatch.setenv(POSTGRES_URL_ENV, postgres_url)
    settings = Settings(home=tmp_path / "home")
    assert settings.instance.postgres
    settings.ensure()
    return settings


def test_import_records_runs_partitions_and_materializations_in_postgres(
    postgres_settings: Settings, postgres_url: str
) -> None:
    assert isinstance(instance_for(postgres_settings).run_storage, PostgresRunStorage)
    report = import_files(postgres_settings, "acct-pg-1", "healthex", [fixture_dir("synthea-r4")])
    assert report.success
    assert report.rows_by_table["lab_results"] > 0

    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as con:
            runs = dict(con.execute(sa.text("SELECT run_id, status FROM runs")).tuples().all())
            tags = dict(
                con.execute(
                    sa.text("SELECT key, value FROM run_tags WHERE run_id = :r"),
                    {"r": report.run_id},
                )
                .tuples()
                .all()
            )
            users = con.execute(
                sa.text("SELECT partition FROM dynamic_partitions WHERE partitions_def_name = :n"),
                {"n": "users"},
            ).scalars()
            materialized = con.execute(
                sa.text(
                    "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = :r"
                    " AND dagster_event_type = 'ASSET_MATERIALIZATION' AND partition = :p"
                ),
                {"r": report.run_id, "p": f"healthex|{report.user_key}"},
            ).scalars()
            user_set, materialized_set = set(users), set(materialized)
    finally:
        engine.dispose()

    assert runs.get(report.run_id) == "SUCCESS", runs
    assert len(runs) == 2, f"the import run and the user's serving run, got {sorted(runs)}"
    assert all(status == "SUCCESS" for status in runs.values()), runs
    assert tags[CONNECTOR_TAG] == "healthex", tags
    assert tags[PARTITION_TAG] == f"healthex|{report.user_key}"
    assert user_set == {report.user_key}
    expected = {dg.AssetKey("raw_fhir").to_string()} | {
        dg.AssetKey(model.name).to_string() for model in models()
    }
    assert expected <= materialized_set, f"not in PostgreSQL: {sorted(expected - materialized_set)}"
    storage_files = sorted(p.name for p in postgres_settings.dagster_home.rglob("*.db"))
    assert storage_files == [], f"SQLite storage was created beside PostgreSQL: {storage_files}"
