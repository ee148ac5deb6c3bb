"""A purge killed (SIGKILL) at random points finishes on rerun, and nothing of the user remains."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from healthex_pipeline.deletion import resume_pending
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

HEALTHEX = str(Path(sys.executable).parent / "healthex")
# Kill points, sampled once from a fixed seed: seconds after the deletion request is recorded
# (deletion_job's run is still being set up, or purging operational rows: the file purge starts
# ~1-2 s later here), or after the user's first raw file is removed (the file purge is under way:
# 3-13 of the user's 50 files were gone at 0-0.03 s when measured here).
_SAMPLER = random.Random(20261128)
KILL_POINTS = [
    pytest.param(after, delay, id=f"kill-{delay:.2f}s-after-{after}")
    for after, delay in [
        ("request", _SAMPLER.uniform(0.0, 0.25)),
        *sorted(("first-file", _SAMPLER.uniform(0.0, 0.03)) for _ in range(2)),
    ]
]


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while not condition() and time.monotonic() < deadline:
        assert process.poll() is None, "the purge ended before the kill point was reached"
        time.sleep(0.002)


@pytest.mark.parametrize(("after", "delay"), KILL_POINTS)
def test_killed_purge_completes_on_rerun(settings: Settings, after: str, delay: float) -> None:
    gone = import_files(settings, "acct-gone", "healthex", [fixture_dir("synthea-r4")])
    bundle_ids = {p.stem.split("_")[-1] for p in fixture_dir("synthea-r4").glob("*.json")}
    env = {**os.environ, "HEALTHEX_HOME": str(settings.home)}
    requests = settings.home / "compliance" / "requests"
    raw_files = sorted(p for p in settings.raw_root.rglob("*") if p.is_file())
    process = subprocess.Popen([HEALTHEX, "delete", "--user", "acct-gone"], env=env)
    _wait_for(lambda: bool(list(requests.glob("*.json"))), process)
    if after == "first-file":
        _wait_for(lambda: not raw_files[0].exists(), process)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the kill must land while the purge runs"

    [resumed] = resume_pending(settings)  # what processing pending requests does after a crash

    certificates = [
        orjson.loads(p.read_bytes())
        for p in (settings.home / "compliance" / "certificates").glob("*.json")
    ]
    assert resumed.resumed and resumed.verified
    assert [c["deletion_id"] for c in certificates] == [resumed.deletion_id]
    assert PseudonymRegistry(settings.registry_path).lookup("acct-gone") is None
    assert not list((settings.home / "compliance" / "requests").glob("*.json"))
    assert not list(settings.home.rglob(f"*{gone.user_key}*"))
    everything = b"".join(p.read_bytes() for p in settings.home.rglob("*") if p.is_file())
    assert not [i for i in bundle_ids if i.encode() in everything]
