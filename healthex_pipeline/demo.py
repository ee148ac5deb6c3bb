"""`healthex demo`: a synthetic population through the whole pipeline, checked against itself.

HealthEx and Fasten users arrive over the network (sandbox server, webhook receiver, sensors:
see demo_network.py); Apple Health exports, and the DSTU2 deliveries the R4 sandbox does not
serve, are file imports. The generator states how many rows each delivery must yield, and the
demo compares that with what the curated tables hold, so a green demo is evidence. Last, every
user's serving files and AI context document are built, and each document's citations are
looked up in the serving views.
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

import orjson

from healthex_pipeline import ai_context, serving
from healthex_pipeline.demo_network import NetworkResult, run_network
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for, run_serving
from healthex_pipeline.sandbox.population import R4
from healthex_pipeline.settings import Settings
from healthex_pipeline.synthetic import SyntheticDelivery, SyntheticUser, generate_population
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse

# "An hour" becomes 36 s: slow facilities stay visibly slow without making the demo long.
TIME_SCALE = 0.01
NETWORK_DEADLINE_SECONDS = 600.0


@dataclass
class DemoSummary:
    """Counts for the terminal; no PHI (partition keys are pseudonyms)."""

    users: int = 0
    file_imports: int = 0
    failed_imports: int = 0
    quarantined: int = 0
    network: NetworkResult = field(default_factory=NetworkResult)
    notifications: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    actual: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    contexts: int = 0
    citations: int = 0
    unserved_citations: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.failed_imports == 0
            and self.network.failed_runs == 0
            and self.network.ready == self.network.facilities
            # Tables the generator makes no promise for (patients, …) are shown, not compared.
            and all(self.expected[table] == self.actual[table] for table in self.expected)
            and self.contexts == self.users
            and self.citations > 0
            and self.unserved_citations == 0
        )

    def render(self) -> str:
        net = self.network
        lines = [
            f"demo: {self.users} users in {self.seconds:.1f} s",
            f"  network: {net.users} users connected, {net.facilities} facilities, {net.ready} "
            f"ready, {net.runs} sensor-triggered runs ({net.failed_runs} failed); connect to "
            f"records ready: fastest {net.fastest_ready:.1f} s, slowest {net.slowest_ready:.1f} s",
            f"  files: {self.file_imports} partition imports ({self.failed_imports} failed), "
            f"{self.quarantined} inputs quarantined",
            f"  notifications: {self.notifications}",
            f"  ai_context: {self.contexts} documents, {self.citations} citations, "
            f"{self.unserved_citations} not found in serving",
            f"{'table':<16}{'expected':>10}{'curated':>10}{'served':>10}",
        ]
        for table in sorted(set(self.expected) | set(self.actual) | set(self.served)):
            served = f"{self.served[table]:>10}"
            if table not in self.expected:
                lines.append(
                    f"{table:<16}{'-':>10}{self.actual[table]:>10}{served}  (not promised)"
                )
                continue
            mark = "" if self.expected[table] == self.actual[table] else "  MISMATCH"
            lines.append(
                f"{table:<16}{self.expected[table]:>10}{self.actual[table]:>10}{served}{mark}"
            )
        lines.append("ok" if self.ok else "NOT OK")
        return "\n".join(lines)


@dataclass(frozen=True)
class _PartitionJob:
    """One user × connector's file deliveries, written to disk and ready to import."""

    account_id: str
    connector: str
    paths: tuple[Path, ...]


def _import_job(settings: Settings, job: _PartitionJob) -> tuple[bool, int]:
    # One user's connectors import in parallel here: their serving run comes after all of them.
    report = import_files(settings, job.account_id, job.connector, list(job.paths), serve=False)
    return report.success, len(report.quarantined)


def _is_file_delivery(delivery: SyntheticDelivery) -> bool:
    """What the sandbox does not serve: Apple exports and DSTU2 deliveries."""
    return delivery.connector == "apple_health" or delivery.fhir_version != R4


def _file_jobs(
    population: list[SyntheticUser], scratch: Path, expected: Counter[str]
) -> list[_PartitionJob]:
    jobs = []
    for user in population:
        by_connector: dict[str, list[SyntheticDelivery]] = defaultdict(list)
        for delivery in filter(_is_file_delivery, user.deliveries):
            by_connector[delivery.connector].append(delivery)
        for connector, deliveries in sorted(by_connector.items()):
            paths: list[Path] = []
            for index, delivery in enumerate(deliveries):
                paths += delivery.write(scratch / f"{user.account_id}-{connector}-{index}")
                expected.update(delivery.expected)
            jobs.append(_PartitionJob(user.account_id, connector, tuple(paths)))
    return jobs


def _count_curated(settings: Settings, summary: DemoSummary) -> None:
    with Warehouse.for_settings(settings).connect() as con:
        for model in models():
            [(count,)] = con.execute(
                "SELECT count(DISTINCT (user_key, connector, resource_type, resource_id)) "
                f"FROM {model.name}"
            ).fetchall()
            summary.actual[model.name] = int(count)
        [(notified,)] = con.execute("SELECT count(*) FROM notifications").fetchall()
        summary.notifications = int(notified)


def _serve_and_check(
    settings: Settings, accounts: list[str], file_accounts: set[str], summary: DemoSummary
) -> None:
    """Serve file-imported users, then check the serving views and the AI context citations.

    Network users were served by their sensor ticks; file imports ran without serving because
    one user's connectors imported in parallel.
    """
    registry = PseudonymRegistry(settings.registry_path)
    user_keys = [key for account in accounts if (key := registry.lookup(account)) is not None]
    for account in sorted(file_accounts):
        user_key = registry.lookup(account)
        summary.failed_imports += user_key is None or not run_serving(settings, user_key).success
    with serving.connect(settings) as con:
        for table in serving.serving_tables():
            [(count,)] = con.execute(f"SELECT count(*) FROM serving.{table}").fetchall()
            summary.served[table] = int(count)
        for user_key in user_keys:
            path = ai_context.context_path(settings, user_key)
            if not path.exists():
                continue
            summary.contexts += 1
            cited = ai_context.cited_sources(orjson.loads(path.read_bytes()))
            served = {
                ref
                for (ref,) in con.execute(
                    "SELECT source_ref FROM serving.patient_timeline WHERE user_key = ?",
                    [user_key],
                ).fetchall()
            }
            summary.citations += len(cited)
            summary.unserved_citations += len(cited - served)


def run_demo(settings: Settings, n_users: int, seed: int, workers: int = 2) -> DemoSummary:
    """Run the population through both paths and compare curated counts with expectations."""
    started = time.monotonic()
    settings.ensure()
    instance_for(settings)  # create the instance's storage once, before workers race to
    summary = DemoSummary()
    population = generate_population(n_users, seed)
    summary.users = len(population)
    scratch = Path(tempfile.mkdtemp(prefix="demo-inputs-", dir=settings.home))
    try:
        jobs = _file_jobs(population, scratch, summary.expected)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for success, quarantined in pool.map(_import_job, [settings] * len(jobs), jobs):
                summary.file_imports += 1
                summary.failed_imports += not success
                summary.quarantined += quarantined
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary.network = run_network(
        settings, n_users, seed, TIME_SCALE, NETWORK_DEADLINE_SECONDS, workers
    )
    summary.expected.update(summary.network.expected)
    _count_curated(settings, summary)
    _serve_and_check(
        settings,
        [user.account_id for user in population],
        {job.account_id for job in jobs},
        summary,
    )
    summary.seconds = time.monotonic() - started
    return summary
