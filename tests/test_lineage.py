"""`healthex lineage`: a curated row traced back to raw bytes, manifests, transforms and run."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from healthex_pipeline.importer import import_files
from healthex_pipeline.lineage import UnknownTableError, lineage
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.transforms import models, staging_views
from healthex_pipeline.warehouse import Warehouse
from tests.support.fixture_sets import fixture_dir

HEALTHEX = str(Path(sys.executable).parent / "healthex")
ACCOUNT = "acct-lineage-9"
CONNECTOR = "healthex"


@dataclass(frozen=True)
class Imported:
    """One Synthea bundle imported, and a lab row it produced."""

    bundle: Path
    user_key: str
    run_id: str
    resource_id: str


def _import_bundle(settings: Settings) -> Imported:
    bundle = sorted(fixture_dir("synthea-r4").glob("*.json"))[0]
    report = import_files(settings, ACCOUNT, CONNECTOR, [bundle])
    assert report.success
    landed = Warehouse.for_settings(settings).partition_file(
        "lab_results", report.user_key, CONNECTOR
    )
    resource_id = settings.vault().read_parquet(landed, ["resource_id"]).column(0)[0].as_py()
    return Imported(bundle, report.user_key, report.run_id, resource_id)


def _run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HEALTHEX_HOME": str(home)}
    return subprocess.run([HEALTHEX, *args], env=env, capture_output=True, text=True, timeout=600)


def test_raw_object_exists_and_its_hash_verifies(settings: Settings) -> None:
    imported = _import_bundle(settings)

    [row] = lineage(settings, "lab_results", imported.resource_id)

    assert row.raw_object.exists and row.raw_object.sha256_verified
    assert (settings.home / row.raw_object.path).name == row.raw_sha256


def test_manifest_is_the_delivery_that_landed_the_object(settings: Settings) -> None:
    imported = _import_bundle(settings)
    [manifest] = RawPartition.at(settings, imported.user_key, CONNECTOR).manifests()

    [row] = lineage(settings, "lab_results", imported.resource_id, imported.user_key)

    [traced] = row.manifests
    assert (traced.manifest_id, traced.received_at) == (manifest.manifest_id, manifest.received_at)
    assert traced.input_indexes == [1]


def test_transform_hashes_are_the_model_and_its_views(settings: Settings) -> None:
    imported = _import_bundle(settings)
    [model] = [m for m in models() if m.name == "lab_results"]
    view_hashes = {v.name: v.text_hash for v in staging_views()}

    [row] = lineage(settings, "lab_results", imported.resource_id)

    assert row.transform.model_file == "transforms/models/lab_results.sql"
    assert row.transform.text_sha256 == model.text_hash
    assert {v.name: v.text_sha256 for v in row.transform.staging_views} == {
        dep: view_hashes[dep] for dep in model.staging_deps
    }


def test_run_is_found_with_status_success(settings: Settings) -> None:
    imported = _import_bundle(settings)

    [row] = lineage(settings, "lab_results", imported.resource_id)

    assert row.run.found and row.run.run_id == imported.run_id
    assert row.run.status == "SUCCESS" and row.run.job_name == "partition_pipeline"
    assert row.run.started_at is not None and row.run.ended_at is not None


def test_a_deleted_run_is_reported_as_not_found(settings: Settings) -> None:
    imported = _import_bundle(settings)
    instance_for(settings).delete_run(imported.run_id)

    [row] = lineage(settings, "lab_results", imported.resource_id)

    assert not row.run.found and row.run.status is None


def test_source_urls_with_a_query_string_are_dropped(settings: Settings) -> None:
    imported = _import_bundle(settings)
    raw = RawPartition.at(settings, imported.user_key, CONNECTOR)
    [path] = raw.manifests_dir.glob("*.json")
    doc = orjson.loads(raw.vault.open_bytes(path, imported.user_key, CONNECTOR))
    doc["source"]["download"] = "https://files.example/export?X-Amz-Signature=abc"
    path.unlink()
    raw.vault.seal_bytes(orjson.dumps(doc), path, imported.user_key, CONNECTOR)

    [row] = lineage(settings, "lab_results", imported.resource_id)

    assert row.manifests[0].source == {"kind": "file-import", "files": 1}


def test_unknown_table_is_refused(settings: Settings) -> None:
    with pytest.raises(UnknownTableError):
        lineage(settings, "no_such_table", "any-id")


def test_cli_prints_json_naming_no_input_file_and_no_account(settings: Settings) -> None:
    imported = _import_bundle(settings)

    result = _run_cli(
        settings.home, "lineage", "lab_results", imported.resource_id, "--user", ACCOUNT
    )

    assert result.returncode == 0, result.stderr
    [row] = orjson.loads(result.stdout)
    assert row["resource_id"] == imported.resource_id
    output = result.stdout + result.stderr
    assert ACCOUNT not in output
    for name in (imported.bundle.name, imported.bundle.stem.split("_")[0]):
        assert name not in output  # Synthea file names carry patient names


def test_cli_exits_2_without_echoing_an_unmatched_id(settings: Settings) -> None:
    _import_bundle(settings)

    result = _run_cli(settings.home, "lineage", "lab_results", "no-such-resource-42")

    assert result.returncode == 2
    assert result.stdout == ""
    assert "no-such-resource-42" not in result.stderr
