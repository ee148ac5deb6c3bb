"""A purge killed (SIGKILL) at sampled points finishes on rerun, and nothing of the user remains.

Generalizes the former tests/test_deletion_crash.py onto the shared harness; its three points
(seed 20261128: 0-0.25 s after the request is recorded, twice 0-0.03 s after the user's first raw
file is removed) are kept, and the harness samples more across the purge's phases.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest

from healthex_pipeline.deletion import purge, resume_pending
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from tests.crash.conftest import ACCOUNT, copy_home, user_key_of
from tests.crash.harness import (
    SEED,
    Kill,
    KillPoint,
    raw_zone_problems,
    record,
    run_and_kill,
    sample_kill_points,
    temp_files,
)
from tests.support.home_scan import every_byte

# The former test's points, drawn exactly as it drew them.
_FORMER = random.Random(20261128)
FORMER_POINTS = [
    KillPoint("purge", "request", _FORMER.uniform(0.0, 0.25)),
    *sorted(
        (KillPoint("purge", "raw-gone", _FORMER.uniform(0.0, 0.03)) for _ in range(2)),
        key=lambda p: p.delay,
    ),
]
PURGE_POINTS = FORMER_POINTS + sample_kill_points(SEED, "purge", 3)


def _finish(settings: Settings, kill: Kill) -> list[dict[str, object]]:
    """Rerun what the user would: `delete --resume` for a recorded request, else the same
    `delete` again (the kill came before the request was recorded); the certificates after it."""
    resumed = resume_pending(settings)
    registered = PseudonymRegistry(settings.registry_path).lookup(ACCOUNT) is not None
    if not resumed and registered:
        assert "request" not in kill.reached, f"{kill.point.id}: a recorded request was lost"
        purge(settings, ACCOUNT)
    certificates = settings.home / "compliance" / "certificates"
    return [orjson.loads(p.read_bytes()) for p in sorted(certificates.glob("*.json"))]


@pytest.mark.parametrize("point", PURGE_POINTS, ids=lambda p: p.id)
def test_killed_purge_completes_on_rerun(
    tmp_path: Path, point: KillPoint, clean_import: Settings, bundle: Path, results: Path
) -> None:
    settings = copy_home(clean_import, tmp_path / "home")
    user_key = user_key_of(settings)
    bundle_id = bundle.stem.split("_")[-1].encode()
    kill = run_and_kill(settings, ["delete", "--user", ACCOUNT], point, user_key)
    try:
        certificates = _finish(settings, kill)
        assert len(certificates) == 1, f"{point.id}: {len(certificates)} certificates"
        assert certificates[0]["verified"], f"{point.id}: the purge did not verify"
        assert PseudonymRegistry(settings.registry_path).lookup(ACCOUNT) is None
        assert not list((settings.home / "compliance" / "requests").glob("*.json"))
        assert not list(settings.home.rglob(f"*{user_key}*")), f"{point.id}: user files remain"
        assert bundle_id not in every_byte(settings), f"{point.id}: the bundle's id remains"
        problems = raw_zone_problems(settings)
        assert not problems, f"{point.id}: raw zone: {problems}"
        left = [str(p.relative_to(settings.home)) for p in temp_files(settings.home)]
        assert not left, f"{point.id}: {len(left)} temp files left: {left}"
    except AssertionError as exc:
        record(results, kill, f"FAILED: {exc}")
        raise
    record(results, kill, "ok")
