"""An import or a refresh killed (SIGKILL) at sampled points reruns to the clean run's tables.

"Refresh" for a file-imported user is a re-import of a changed delivery for the same account
(what `healthex refresh` fetches over the network lands through the same inbox → raw → staging →
curated → serving path): the home starts from a clean import and the changed bundle is imported.
After each kill the same command runs again; then the curated tables equal the clean run's row
for row, the raw zone holds only whole objects some manifest names, and no temp file is left.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from tests.crash.conftest import ACCOUNT, CONNECTOR, copy_home, user_key_of
from tests.crash.harness import (
    SEED,
    Kill,
    KillPoint,
    curated_rows,
    raw_zone_problems,
    record,
    row_differences,
    run_and_kill,
    sample_kill_points,
    started_runs,
    temp_files,
)

IMPORT_POINTS = sample_kill_points(SEED, "import", 9)
REFRESH_POINTS = sample_kill_points(SEED, "refresh", 6)


def _rerun_and_check(
    settings: Settings, kill: Kill, delivery: Path, clean: Settings, results: Path
) -> None:
    """Rerun the killed import and compare with the clean home; record the outcome either way."""
    try:
        report = import_files(settings, ACCOUNT, CONNECTOR, [delivery])
        assert report.success, f"{kill.point.id}: the rerun's Dagster run failed"
        differences = row_differences(
            curated_rows(settings, report.user_key, CONNECTOR),
            curated_rows(clean, user_key_of(clean), CONNECTOR),
        )
        assert not differences, f"{kill.point.id}: curated tables differ: {differences}"
        problems = raw_zone_problems(settings)
        assert not problems, f"{kill.point.id}: raw zone: {problems}"
        left = [str(p.relative_to(settings.home)) for p in temp_files(settings.home)]
        assert not left, f"{kill.point.id}: {len(left)} temp files left: {left}"
        stuck = started_runs(settings)
        assert not stuck, f"{kill.point.id}: {stuck} Dagster runs still STARTED"
    except AssertionError as exc:
        record(results, kill, f"FAILED: {exc}")
        raise
    record(results, kill, "ok")


@pytest.mark.parametrize("point", IMPORT_POINTS, ids=lambda p: p.id)
def test_killed_import_reruns_to_the_clean_tables(
    settings: Settings, point: KillPoint, bundle: Path, clean_import: Settings, results: Path
) -> None:
    command = ["import", "--user", ACCOUNT, "--connector", CONNECTOR, str(bundle)]
    kill = run_and_kill(settings, command, point)
    _rerun_and_check(settings, kill, bundle, clean_import, results)


@pytest.mark.parametrize("point", REFRESH_POINTS, ids=lambda p: p.id)
def test_killed_refresh_reruns_to_the_clean_tables(
    tmp_path: Path,
    point: KillPoint,
    refreshed_bundle: Path,
    clean_import: Settings,
    clean_refresh: Settings,
    results: Path,
) -> None:
    settings = copy_home(clean_import, tmp_path / "home")
    command = ["import", "--user", ACCOUNT, "--connector", CONNECTOR, str(refreshed_bundle)]
    kill = run_and_kill(settings, command, point)
    _rerun_and_check(settings, kill, refreshed_bundle, clean_refresh, results)
