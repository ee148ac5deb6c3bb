"""Kill a `healthex` command (SIGKILL) at a sampled point, then check what the rerun left.

A kill point is an observable trigger (a file of some layer appearing, or one of the user's files
vanishing during a purge) plus a delay sampled from a seeded generator within a window no longer
than the shortest run of that phase measured on this machine, so the kill lands inside the phase
whatever the load. The home is read again right after the kill, so the phase a kill hit is
recorded from what was on disk (``Kill.reached``), not inferred from the timing.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import orjson

from healthex_pipeline.encryption import SealedDataError
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import CURATED_TABLES, RUN_SPECIFIC, read_frame

HEALTHEX = str(Path(sys.executable).parent / "healthex")
SEED = 20261129

# The phases of an import (and of a refresh, a re-import into a home that has data), in order:
# each trigger is the first file of that phase appearing after the launch; the window (seconds)
# stays below the gap to the next trigger measured here (one bundle, 2 cores: the CLI needs
# 8-40 s before the inbox batch appears, the run 10-50 s more to the manifest, views and curated
# files, then serving and the Dagster bookkeeping of both runs), except where phases coincide.
BUILD_TRIGGERS: dict[str, tuple[str, float]] = {
    "launch": ("", 4.0),  # CLI start, registry, staging the inbox batch
    "inbox": ("raw/*/*/inbox/*/batch.json", 4.0),  # Dagster run setup, then landing starts
    "object": ("raw/*/*/objects/*", 0.3),  # sealing raw objects, unpacking
    "resources": ("staging/*/*/resources/*.parquet", 0.3),
    "manifest": ("raw/*/*/manifests/*.json", 1.5),  # delivery committed; staging views next
    "views": ("staging/*/*/views/*.parquet", 3.0),
    "curated": ("warehouse/*/user=*/connector=*/data.parquet", 4.0),  # curated tables, checks
    "serving": ("serving/*/*/data.parquet", 0.8),  # serving run (any layout of its files)
    "context": ("serving/ai_context/*/context.json", 0.5),  # Dagster run end
}
# A purge's phases: the user's first file of each layer vanishing (in the order deletion.py
# removes them), then the certificate appearing; "request" is the recorded deletion request.
PURGE_TRIGGERS: dict[str, tuple[str, float]] = {
    "launch": ("", 3.0),
    "request": ("compliance/requests/*.json", 0.25),
    "raw-gone": ("raw", 0.03),
    "staging-gone": ("staging", 0.05),
    "curated-gone": ("warehouse", 0.1),
    "serving-gone": ("serving", 0.5),
    "certificate": ("compliance/certificates/*.json", 0.2),
}


@dataclass(frozen=True)
class KillPoint:
    """Kill ``delay`` seconds after ``trigger`` fires during ``operation``."""

    operation: str  # import | refresh | purge
    trigger: str
    delay: float

    @property
    def id(self) -> str:
        return f"{self.operation}-{self.trigger}+{self.delay:.3f}s"


def sample_kill_points(seed: int, operation: str, count: int) -> list[KillPoint]:
    """``count`` points, every trigger of the operation once before any twice, seeded.

    Each trigger's delay is uniform in its measured window, so a kill lands anywhere in the phase.
    """
    triggers = PURGE_TRIGGERS if operation == "purge" else BUILD_TRIGGERS
    sampler = random.Random(f"{seed}-{operation}")
    names = list(triggers)
    chosen: list[str] = []
    while len(chosen) < count:
        chosen += sampler.sample(names, min(len(names), count - len(chosen)))
    return [KillPoint(operation, t, round(sampler.uniform(0, triggers[t][1]), 3)) for t in chosen]


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _appeared(home: Path, pattern: str, since: float) -> bool:
    """A (non-temp) file matching ``pattern`` was written after ``since`` (epoch seconds)."""
    for path in home.glob(pattern):
        if _visible(path):
            try:
                if path.stat().st_mtime >= since:
                    return True
            except FileNotFoundError:
                continue
    return False


@dataclass
class Kill:
    """What was on disk when the process died; PHI-free (trigger names, counts)."""

    point: KillPoint
    reached: list[str]  # triggers that had fired by the kill, in phase order
    trigger_seconds: float  # from launch to the trigger firing
    seconds: float  # from launch to the kill
    temp_files: int  # temp files the kill left
    started_runs: int  # Dagster runs left STARTED by the kill

    @property
    def phase(self) -> str:
        return self.reached[-1] if self.reached else "startup"


class Watch:
    """Decides, for one launched command, whether each trigger has fired."""

    def __init__(self, settings: Settings, operation: str, user_key: str | None) -> None:
        self.home = settings.home
        self.operation = operation
        self.triggers = PURGE_TRIGGERS if operation == "purge" else BUILD_TRIGGERS
        self.launched = time.time()
        # A purge's vanish triggers watch the first file of the user's folder in each layer.
        self.first_files: dict[str, Path | None] = {}
        for name, (pattern, _) in self.triggers.items():
            if name.endswith("-gone"):
                assert user_key is not None
                files = sorted(
                    p
                    for p in (self.home / pattern).rglob("*")
                    if p.is_file() and user_key in str(p)
                )
                self.first_files[name] = files[0] if files else None

    def fired(self, trigger: str) -> bool:
        pattern = self.triggers[trigger][0]
        if trigger == "launch":
            return True
        if trigger.endswith("-gone"):
            first = self.first_files[trigger]
            return first is None or not first.exists()
        return _appeared(self.home, pattern, self.launched - 1.0)

    def reached(self) -> list[str]:
        return [t for t in self.triggers if t != "launch" and self.fired(t)]


def run_and_kill(
    settings: Settings, command: list[str], point: KillPoint, user_key: str | None = None
) -> Kill:
    """Launch ``healthex <command>`` on the home, SIGKILL it at ``point``, describe the aftermath.

    Fails when the command ends before the kill: the point would test nothing.
    """
    env = {**os.environ, "HEALTHEX_HOME": str(settings.home), "PYTHONWARNINGS": "ignore"}
    watch = Watch(settings, point.operation, user_key)
    started = time.monotonic()
    process = subprocess.Popen(
        [HEALTHEX, *command], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait_for(lambda: watch.fired(point.trigger), process, point)
    fired = time.monotonic() - started
    time.sleep(point.delay)
    process.send_signal(signal.SIGKILL)
    code = process.wait()
    assert code == -signal.SIGKILL, f"{point.id}: the command ended (exit {code}) before the kill"
    return Kill(
        point=point,
        reached=watch.reached(),
        trigger_seconds=round(fired, 2),
        seconds=round(time.monotonic() - started, 2),
        temp_files=len(temp_files(settings.home)),
        started_runs=started_runs(settings),
    )


def _wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], point: KillPoint
) -> None:
    deadline = time.monotonic() + 180
    while not condition():
        assert process.poll() is None, f"{point.id}: the command ended before its trigger fired"
        assert time.monotonic() < deadline, f"{point.id}: the trigger never fired"
        time.sleep(0.003)


def started_runs(settings: Settings) -> int:
    """Dagster runs of the home's instance still marked STARTED."""
    instance = instance_for(settings)
    return len(instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])))


# Checks ------------------------------------------------------------------------------------


def temp_files(home: Path) -> list[Path]:
    """Temp files and folders anywhere in the home: what a killed write leaves behind."""
    found = []
    for path in home.rglob("*"):
        name = path.name
        if name.endswith((".tmp", ".plain", "-journal")) or name.startswith(".master.key."):
            found.append(path)
    return found


def raw_zone_problems(settings: Settings) -> list[str]:
    """Orphan objects (no manifest names them), partial or corrupt objects and manifests, and
    leftover inbox batches, per partition; PHI-free (pseudonymous partitions and counts)."""
    problems = []
    for root in sorted(settings.raw_root.glob("user=*/connector=*")):
        user_key = root.parent.name.removeprefix("user=")
        connector = root.name.removeprefix("connector=")
        raw = RawPartition.at(settings, user_key, connector)
        where = f"{root.parent.name}/{root.name}"
        try:
            manifests = list(raw.manifests())
        except SealedDataError:
            problems.append(f"{where}: a manifest does not decrypt")
            continue
        named = {o.sha256: o.size for m in manifests for o in m.objects}
        present = {p.name for p in raw.objects_dir.iterdir()} if raw.objects_dir.exists() else set()
        orphans = {n for n in present if _visible(Path(n))} - set(named)
        partial = {n for n in present if not _visible(Path(n))}
        missing = set(named) - present
        for sha, size in named.items():
            if sha not in present:
                continue
            try:
                plain = raw.read_object(sha)
            except SealedDataError:
                partial.add(sha)
                continue
            if hashlib.sha256(plain).hexdigest() != sha or len(plain) != size:
                partial.add(sha)
        inbox = list(raw.inbox.iterdir()) if raw.inbox.exists() else []
        for label, items in (
            ("orphan objects", orphans),
            ("partial objects", partial),
            ("objects a manifest names but missing", missing),
            ("inbox entries left", inbox),
        ):
            if items:
                problems.append(f"{where}: {len(items)} {label}")
    return problems


Rows = dict[str, list[bytes]]


def curated_rows(settings: Settings, user_key: str, connector: str) -> Rows:
    """Every curated table of the partition as a sorted list of canonical rows (JSON bytes),
    without the run-specific columns (``RUN_SPECIFIC``: user_key, run_id, fetched_at)."""
    rows: Rows = {}
    for table in CURATED_TABLES:
        path = settings.warehouse_root / table / f"user={user_key}" / f"connector={connector}"
        file = path / "data.parquet"
        if not file.exists():
            rows[table] = []
            continue
        frame = read_frame(settings, file).drop(RUN_SPECIFIC, strict=False)
        rows[table] = sorted(
            orjson.dumps(row, default=str, option=orjson.OPT_SORT_KEYS) for row in frame.to_dicts()
        )
    return rows


def row_differences(actual: Rows, expected: Rows) -> list[str]:
    """Per table, how many rows only one side has (counts only, never values)."""
    differences = []
    for table in sorted(set(actual) | set(expected)):
        mine, theirs = actual.get(table, []), expected.get(table, [])
        if mine != theirs:
            only_mine = _multiset_minus(mine, theirs)
            only_theirs = _multiset_minus(theirs, mine)
            differences.append(
                f"{table}: {len(mine)} rows vs {len(theirs)} clean; "
                f"{only_mine} only after the crash, {only_theirs} only in the clean run"
            )
    return differences


def _multiset_minus(left: list[bytes], right: list[bytes]) -> int:
    remaining: dict[bytes, int] = {}
    for row in right:
        remaining[row] = remaining.get(row, 0) + 1
    count = 0
    for row in left:
        if remaining.get(row, 0):
            remaining[row] -= 1
        else:
            count += 1
    return count


def record(results: Path, kill: Kill, outcome: str) -> None:
    """Append one point's outcome (PHI-free) to the session's results file and print it."""
    line = {
        "point": kill.point.id,
        "phase": kill.phase,
        "reached": kill.reached,
        "seconds_to_trigger": kill.trigger_seconds,
        "seconds_to_kill": kill.seconds,
        "temp_files_at_kill": kill.temp_files,
        "runs_left_started": kill.started_runs,
        "outcome": outcome,
    }
    with results.open("ab") as handle:
        handle.write(orjson.dumps(line) + b"\n")
    print(orjson.dumps(line).decode())
