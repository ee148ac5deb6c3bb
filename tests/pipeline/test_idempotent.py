"""A second import of the same files changes nothing: same objects, manifests and tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir


def _data_files(settings: Settings) -> dict[str, str]:
    """Digest of every file the pipeline wrote outside Dagster's own storage."""
    files = {}
    for root in (settings.raw_root, settings.staging_root, settings.warehouse_root):
        for path in sorted(root.rglob("*")):
            if path.is_file():
                files[str(path.relative_to(settings.home))] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return files


def test_second_import_of_the_same_files_changes_nothing(settings: Settings) -> None:
    paths: list[Path] = [fixture_dir("synthea-dstu2"), fixture_dir("apple-health")]
    first = import_files(settings, "acct-1", "healthex", paths)
    before = _data_files(settings)

    second = import_files(settings, "acct-1", "healthex", paths)

    assert first.success and second.success
    assert second.run_id != first.run_id
    assert _data_files(settings) == before
    assert len(list(settings.raw_root.rglob("manifests/*.json"))) == 1
