"""`healthex demo`: a synthetic population through the whole pipeline, checked against itself.

The generator states how many rows each delivery must yield; the demo compares that with what
the curated tables hold, so a green demo is evidence, not just an exit code.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from healthex_pipeline.importer import import_files
from healthex_pipeline.settings import Settings
from healthex_pipeline.synthetic import SyntheticDelivery, generate_population
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse


@dataclass
class DemoSummary:
    """Counts for the terminal; no PHI (partition keys are pseudonyms)."""

    users: int = 0
    deliveries: int = 0
    runs: int = 0
    failed_runs: int = 0
    quarantined: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    actual: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed_runs == 0 and self.expected == self.actual

    def render(self) -> str:
        lines = [
            f"demo: {self.users} users, {self.deliveries} deliveries, {self.runs} partition runs "
            f"({self.failed_runs} failed), {self.quarantined} inputs quarantined, "
            f"{self.seconds:.1f} s",
            f"{'table':<16}{'expected':>10}{'curated':>10}",
        ]
        for table in sorted(self.expected | self.actual):
            mark = "" if self.expected[table] == self.actual[table] else "  MISMATCH"
            lines.append(f"{table:<16}{self.expected[table]:>10}{self.actual[table]:>10}{mark}")
        lines.append("ok" if self.ok else "NOT OK")
        return "\n".join(lines)


@dataclass(frozen=True)
class _PartitionJob:
    """One user × connector's deliveries, written to disk and ready to import."""

    account_id: str
    connector: str
    paths: tuple[Path, ...]
    deliveries: int


def _import_job(settings: Settings, job: _PartitionJob) -> tuple[bool, int]:
    report = import_files(settings, job.account_id, job.connector, list(job.paths))
    return report.success, len(report.quarantined)


def run_demo(settings: Settings, n_users: int, seed: int, workers: int = 2) -> DemoSummary:
    """Generate, import every user × connector, and compare curated counts with expectations.

    Partitions are independent (each writes only below its own user directory), so they are
    imported by ``workers`` processes at once.
    """
    started = time.monotonic()
    settings.ensure()
    summary = DemoSummary()
    population = generate_population(n_users, seed)
    summary.users = len(population)
    scratch = Path(tempfile.mkdtemp(prefix="demo-inputs-", dir=settings.home))
    try:
        jobs: list[_PartitionJob] = []
        for user in population:
            by_connector: dict[str, list[SyntheticDelivery]] = defaultdict(list)
            for delivery in user.deliveries:
                by_connector[delivery.connector].append(delivery)
            for connector, deliveries in sorted(by_connector.items()):
                paths: list[Path] = []
                for index, delivery in enumerate(deliveries):
                    paths += delivery.write(scratch / f"{user.account_id}-{connector}-{index}")
                    summary.expected.update(delivery.expected)
                jobs.append(
                    _PartitionJob(user.account_id, connector, tuple(paths), len(deliveries))
                )
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for job, (success, quarantined) in zip(
                jobs, pool.map(_import_job, [settings] * len(jobs), jobs), strict=True
            ):
                summary.deliveries += job.deliveries
                summary.runs += 1
                summary.failed_runs += not success
                summary.quarantined += quarantined
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    warehouse = Warehouse(settings.warehouse_root, settings.catalog_path)
    with warehouse.connect_readonly() as con:
        for model in models():
            [(count,)] = con.execute(
                "SELECT count(DISTINCT (user_key, connector, resource_type, resource_id)) "
                f"FROM {model.name}"
            ).fetchall()
            summary.actual[model.name] = int(count)
    summary.seconds = time.monotonic() - started
    return summary
