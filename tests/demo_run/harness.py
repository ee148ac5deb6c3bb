"""One `healthex demo` run, as a user would start it: a subprocess with its output in files.

The demo is the slowest thing the suite does, so the browser and PHI tests share one run, on
the smallest population that still reaches every connector: HealthEx and Fasten over the
network, Apple Health and DSTU2 as file imports (``test_demo_population`` holds the choice to
that).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from healthex_pipeline.instance_config import POSTGRES_URL_ENV
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.settings import Settings
from healthex_pipeline.synthetic import SyntheticUser, generate_population

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEMO_USERS = 2
DEMO_SEED = 16
"""Two users of seed 16 hold a HealthEx and a Fasten R4 delivery (network), a Fasten DSTU2
bundle and an Apple Health folder (file imports); the default seed needs 7 users for that."""
DEMO_TIMEOUT_SECONDS = 600.0


def demo_population() -> list[SyntheticUser]:
    """The users the demo generates: same arguments, byte-identical deliveries."""
    return generate_population(DEMO_USERS, DEMO_SEED)


@dataclass(frozen=True)
class DemoRun:
    """Where one finished demo left its home, its captured output and its temporary files."""

    home: Path
    stdout: Path
    stderr: Path
    tmpdir: Path
    seconds: float

    @classmethod
    def at(cls, root: Path, seconds: float) -> DemoRun:
        """The run ``run_demo(root)`` made."""
        return cls(
            home=root / "home",
            stdout=root / "demo.stdout",
            stderr=root / "demo.stderr",
            tmpdir=root / "tmp",
            seconds=seconds,
        )

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home)

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    def user_keys(self) -> list[str]:
        """The pseudonyms the demo's accounts were given (partition keys, safe to print)."""
        registry = PseudonymRegistry(self.settings.registry_path)
        accounts = [user.account_id for user in demo_population()]
        return [key for account in accounts if (key := registry.lookup(account)) is not None]


def demo_env(home: Path, tmpdir: Path) -> dict[str, str]:
    """The CLI's environment: this home, SQLite storage, temporary files where a scan sees them."""
    env = {**os.environ, "HEALTHEX_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    env["TMPDIR"] = str(tmpdir)
    env.pop(POSTGRES_URL_ENV, None)
    return env


def run_demo(root: Path) -> DemoRun:
    """Run `healthex demo` in a fresh home below ``root``; fails unless it exits 0."""
    layout = DemoRun.at(root, 0.0)
    home, tmpdir, stdout, stderr = layout.home, layout.tmpdir, layout.stdout, layout.stderr
    tmpdir.mkdir(parents=True)
    argv = [str(BIN / "healthex"), "demo", "--users", str(DEMO_USERS), "--seed", str(DEMO_SEED)]
    started = time.monotonic()
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.run(
            argv,
            cwd=REPO,
            env=demo_env(home, tmpdir),
            stdout=out,
            stderr=err,
            timeout=DEMO_TIMEOUT_SECONDS,
            check=False,
        )
    seconds = time.monotonic() - started
    # The output may name what failed; it stays in the files rather than in the report.
    assert process.returncode == 0, f"demo exited {process.returncode}; see {stdout}, {stderr}"
    return DemoRun(home=home, stdout=stdout, stderr=stderr, tmpdir=tmpdir, seconds=seconds)
