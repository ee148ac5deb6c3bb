"""The demo run this folder's browser and PHI tests share: one per `pytest` invocation.

Under pytest-xdist each worker has its own session, so the first worker to need the demo runs
it in the invocation's shared temporary folder, under a file lock, and the other waits for it
and reads where it is (the recipe of xdist's docs). `--dist loadgroup` would keep the tests on
one worker instead, but pytest-xdist 3.8 cannot rename pytest 9's node ids, so it does not.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest

from tests.demo_run.harness import DemoRun, run_demo


def _shared_run(folder: Path) -> DemoRun:
    """Run the demo into ``folder`` once across workers; a failure is replayed, not retried."""
    folder.mkdir(exist_ok=True)
    outcome = folder / "outcome.json"
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not outcome.exists():
            try:
                run = run_demo(folder / "run")
            except Exception as failure:
                outcome.write_text(json.dumps({"failed": f"{type(failure).__name__}: {failure}"}))
                raise
            outcome.write_text(json.dumps({"seconds": run.seconds}))
    recorded = json.loads(outcome.read_text())
    if "failed" in recorded:
        pytest.fail(f"the shared demo run failed: {recorded['failed']}")
    return DemoRun.at(folder / "run", recorded["seconds"])


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """One `healthex demo` (subprocess, output captured to files) for the whole invocation."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        run = _shared_run(tmp_path_factory.getbasetemp().parent / "demo-run")
    else:
        run = run_demo(tmp_path_factory.mktemp("demo") / "run")
    print(f"demo: {run.seconds:.0f} s, home {run.home}")
    return run
