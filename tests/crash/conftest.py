"""Clean runs the crash tests compare against, computed once per session and shared by workers.

Every import is seconds of Dagster work, so the clean homes are built once (under a file lock,
for `pytest -n`) and each kill point starts from a copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest
from filelock import FileLock

from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

ACCOUNT = "acct-crash"
CONNECTOR = "healthex"


def smallest_bundle() -> Path:
    """One bundle is enough to cross every phase; the smallest keeps each kill cheap."""
    return min(fixture_dir("synthea-r4").glob("*.json"), key=lambda p: p.stat().st_size)


def changed_delivery(original: Path, target_dir: Path) -> Path:
    """The same bundle as a source would redeliver it: some values corrected (with a newer
    ``meta.lastUpdated``) and its last entry gone. Deterministic, so its object hash is fixed."""
    bundle = orjson.loads(original.read_bytes())
    changed = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        quantity = resource.get("valueQuantity")
        if resource["resourceType"] == "Observation" and quantity and changed < 3:
            quantity["value"] = round(float(quantity["value"]) + 1.0, 2)
            resource.setdefault("meta", {})["lastUpdated"] = "2030-01-01T00:00:00Z"
            changed += 1
    assert changed == 3, "the bundle has fewer than 3 quantitative observations"
    bundle["entry"] = bundle["entry"][:-1]
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / original.name
    target.write_bytes(orjson.dumps(bundle))
    return target


def copy_home(source: Settings, home: Path) -> Settings:
    """A private copy of a built home (a kill point's starting state)."""
    shutil.copytree(source.home, home, symlinks=True)
    return Settings(home=home)


def user_key_of(settings: Settings) -> str:
    key = PseudonymRegistry(settings.registry_path).lookup(ACCOUNT)
    assert key is not None
    return key


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder every xdist worker of this session sees (the session's base temp)."""
    base = tmp_path_factory.getbasetemp()
    root = (base if worker_id == "master" else base.parent) / "crash-shared"
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture(scope="session")
def results(shared_dir: Path) -> Path:
    """Where each kill point appends its outcome (JSON lines), for the report."""
    return shared_dir / "kill-points.jsonl"


@pytest.fixture(scope="session")
def bundle() -> Path:
    return smallest_bundle()


@pytest.fixture(scope="session")
def refreshed_bundle(shared_dir: Path, bundle: Path) -> Path:
    with FileLock(shared_dir / "changed.lock"):
        target = shared_dir / "changed" / bundle.name
        return target if target.exists() else changed_delivery(bundle, target.parent)


@pytest.fixture(scope="session")
def clean_import(shared_dir: Path, bundle: Path) -> Settings:
    """A home after one uninterrupted import of the bundle."""
    settings = Settings(home=shared_dir / "clean-import")
    with FileLock(shared_dir / "clean-import.lock"):
        if not (shared_dir / "clean-import.done").exists():
            shutil.rmtree(settings.home, ignore_errors=True)
            settings.ensure()
            assert import_files(settings, ACCOUNT, CONNECTOR, [bundle]).success
            (shared_dir / "clean-import.done").touch()
    return settings


@pytest.fixture(scope="session")
def clean_refresh(shared_dir: Path, clean_import: Settings, refreshed_bundle: Path) -> Settings:
    """The clean import's home after an uninterrupted import of the changed delivery."""
    settings = Settings(home=shared_dir / "clean-refresh")
    with FileLock(shared_dir / "clean-refresh.lock"):
        if not (shared_dir / "clean-refresh.done").exists():
            shutil.rmtree(settings.home, ignore_errors=True)
            copy_home(clean_import, settings.home)
            assert import_files(settings, ACCOUNT, CONNECTOR, [refreshed_bundle]).success
            (shared_dir / "clean-refresh.done").touch()
    return settings
