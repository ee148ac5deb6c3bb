"""A purge killed (SIGKILL) at random points finishes on rerun, and nothing of the user remains."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from healthex_pipeline.deletion import resume_pending
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

HEALTHEX = str(Path(sys.executable).parent / "healthex")
# Kill points: seconds after the deletion request is recorded (the purge then takes ~1-2 s here),
# sampled once from a fixed seed.
_SAMPLER = random.Random(20261128)
KILL_AFTER_SECONDS = sorted(_SAMPLER.uniform(0.0, 0.25) for _ in range(3))


@pytest.mark.parametrize("delay", KILL_AFTER_SECONDS, ids=lambda d: f"kill-after-{d:.2f}s")
def test_killed_purge_completes_on_rerun(settings: Settings, delay: float) -> None:
    gone = import_files(settings, "acct-gone", "healthex", [fixture_dir("synthea-r4")])
    bundle_ids = {p.stem.split("_")[-1] for p in fixture_dir("synthea-r4").glob("*.json")}
    env = {**os.environ, "HEALTHEX_HOME": str(settings.home)}
    requests = settings.home / "compliance" / "requests"
    process = subprocess.Popen([HEALTHEX, "delete", "--user", "acct-gone"], env=env)
    deadline = time.monotonic() + 120
    while not list(requests.glob("*.json")) and time.monotonic() < deadline:
        assert process.poll() is None, "the purge ended before its request was seen"
        time.sleep(0.005)
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
