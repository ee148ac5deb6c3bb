"""Launch pipeline runs on the Dagster instance under HEALTHEX_HOME, so they show in the UI.

Runs execute in this process (no daemon needed), but against the same instance storage that
`dagster dev` reads, with the same partition keys a sensor would use. ``tick_sensors`` does what
the Dagster daemon does in production: evaluate each sensor, then launch what it requested.
``run_deletion`` carries out one recorded deletion request as a run of ``deletion_job``, and
``run_serving`` rebuilds a user's serving assets once their partitions have run.

In-process runs bypass the instance's run queue, so its limits (``instance_config``) do not
apply to them; what holds here: the ``vendor_api`` pool (the in-process executor claims its
slots from the instance), and a file lock per partition (and per user for serving) under
``HEALTHEX_HOME/locks``, so two runs of one partition never overlap: the second waits, and
past ``wait_seconds`` is refused with ``PartitionBusyError``. A run holds its lock until it
ends, so an in-process run still "in progress" when its lock is free died with its process:
the next in-process run (of any partition) marks it failed and frees its pool slots, which
Dagster would otherwise keep claimed (a killed worker never releases them).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import closing, contextmanager
from dataclasses import dataclass

import dagster as dg

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.deletion.assets import DELETION_TAG, deletion_run_config
from healthex_pipeline.defs.partitions import ensure_users, partition_key
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.instance_config import POSTGRES_URL_ENV
from healthex_pipeline.locks import file_lock
from healthex_pipeline.settings import Settings


@dataclass(frozen=True)
class RunOutcome:
    """The run's id and whether every step and blocking check succeeded."""

    run_id: str
    success: bool


IN_PROCESS_TAG = "healthex/in_process"
"""On runs this module executes in-process (outside the run queue), holding the lock; the value
names the host and home whose locks they hold (``lock_scope``), since a PostgreSQL instance
can be shared by several."""
LOCK_TAG = "healthex/lock"
"""The lock an in-process run holds while it runs (a partition key, a user, or a batch's)."""
_IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


class PartitionBusyError(RuntimeError):
    """Another run of the same partition is in progress (the message names the pseudonym only)."""


def lock_scope(settings: Settings) -> str:
    """Where an in-process run's lock lives: this host's HEALTHEX_HOME."""
    return f"{socket.gethostname()}:{settings.home}"


def in_process_tags(settings: Settings, lock: str) -> dict[str, str]:
    """Tags of a run executed here while holding ``lock`` (see ``fail_dead_runs``)."""
    return {IN_PROCESS_TAG: lock_scope(settings), LOCK_TAG: lock}


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance of this HEALTHEX_HOME.

    Loading is serialized per home: the first load creates the storage, and two processes
    creating SQLite storage at once stamp its schema version twice, breaking every later load.
    """
    settings.ensure()
    if settings.instance.postgres and not os.environ.get(POSTGRES_URL_ENV):
        raise RuntimeError(f"the Dagster instance is on PostgreSQL but {POSTGRES_URL_ENV} is unset")
    with file_lock(settings, "instance", settings.instance.lock_wait_seconds) as acquired:
        if not acquired:
            raise RuntimeError("the Dagster instance stayed locked by another process")
        repair_event_index(settings)
        return dg.DagsterInstance.from_config(str(settings.dagster_home))


def repair_event_index(settings: Settings) -> bool:
    """Remove a Dagster event-log index left empty by a kill while it was being created; True if so.

    Dagster's SQLite event log creates ``history/runs/index.db`` only when the file is absent,
    and the file appears (on connect) before its tables: a process killed in between leaves a
    file without tables, and every later run fails on a missing table. Such a file holds nothing,
    so removing it lets the next load create it whole. ``instance_for`` calls this under the
    instance lock, so a live first load is never interrupted.
    """
    index = settings.dagster_home / "history" / "runs" / "index.db"
    if settings.instance.postgres or not index.exists():
        return False
    with closing(sqlite3.connect(index)) as con:
        (tables,) = con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    if tables:
        return False
    index.unlink()
    return True


@contextmanager
def exclusive(settings: Settings, name: str, wait_seconds: float | None = None) -> Iterator[None]:
    """Hold the lock ``name`` (a partition key) for a run; wait for it, then refuse.

    The wait defaults to ``HEALTHEX_LOCK_WAIT_SECONDS`` (600).
    """
    wait = settings.instance.lock_wait_seconds if wait_seconds is None else wait_seconds
    with file_lock(settings, f"partition={name}", wait) as acquired:
        if not acquired:
            raise PartitionBusyError(
                f"partition {name} already has a run in progress; try again once it has finished"
            )
        yield


def fail_dead_runs(settings: Settings, instance: dg.DagsterInstance, held: str) -> list[str]:
    """Mark failed the in-process runs left in progress by a dead process; free their slots.

    Every in-process run holds its partition's lock until it ends, so one still in progress
    whose lock is free, or is ``held`` (the partition whose lock the caller holds), has no
    process left. A killed run's pool slots would otherwise stay claimed and, once as many as
    the pool's limit leaked, block every vendor step of every partition.
    """
    dead = []
    for run in instance.get_runs(
        dg.RunsFilter(statuses=_IN_PROGRESS, tags={IN_PROCESS_TAG: lock_scope(settings)})
    ):
        lock = run.tags.get(LOCK_TAG, "")
        if lock == held:
            dead.append(run)
            continue
        with file_lock(settings, f"partition={lock}", 0) as free:
            if free:
                dead.append(run)
    for run in dead:
        instance.report_run_failed(run, "its process ended without finishing the run")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]


# Event details stay in the instance (the UI); the terminal gets the caller's summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
IMPORT_TAGS = {"healthex/command": "import"}


def run_partition(
    settings: Settings,
    user_key: str,
    connector: str,
    tags: dict[str, str] | None = None,
    serve: bool = True,
    wait_seconds: float | None = None,
) -> RunOutcome:
    """Register the user's partition if new and run the partition pipeline for it.

    With ``serve`` (the default) a successful run is followed by the user's serving run, so
    the AI team's files follow every change; callers running several partitions of one user
    at once pass ``serve=False`` and call ``run_serving`` once they have all finished. A run
    of the same partition in progress is waited for up to ``wait_seconds``; past that this
    raises ``PartitionBusyError``.
    """
    instance = instance_for(settings)
    ensure_users(instance, [user_key])
    job = build_defs(settings).resolve_job_def("partition_pipeline")
    key = partition_key(user_key, connector)
    with exclusive(settings, str(key), wait_seconds):
        fail_dead_runs(settings, instance, str(key))
        result = job.execute_in_process(
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            run_config=QUIET,
            tags={
                **(tags or {"healthex/command": "import"}),
                **in_process_tags(settings, str(key)),
            },
        )
    if result.success and serve:
        serving = run_serving(settings, user_key, tags, wait_seconds)
        return RunOutcome(run_id=result.run_id, success=serving.success)
    return RunOutcome(run_id=result.run_id, success=result.success)


def run_serving(
    settings: Settings,
    user_key: str,
    tags: dict[str, str] | None = None,
    wait_seconds: float | None = None,
) -> RunOutcome:
    """Rebuild one user's serving tables and AI context (what the automation sensor would do).

    One user's serving runs are serialized like a partition's (their partition key is the
    user's pseudonym).
    """
    job = build_defs(settings).resolve_job_def("serving_job")
    instance = instance_for(settings)
    with exclusive(settings, user_key, wait_seconds):
        fail_dead_runs(settings, instance, user_key)
        result = job.execute_in_process(
            instance=instance,
            partition_key=user_key,
            raise_on_error=False,
            run_config=QUIET,
            tags={
                **(tags or {"healthex/command": "import"}),
                **in_process_tags(settings, user_key),
            },
        )
    return RunOutcome(run_id=result.run_id, success=result.success)


def run_deletion(
    settings: Settings, deletion_id: str, tags: dict[str, str] | None = None
) -> RunOutcome:
    """Run ``deletion_job`` for one recorded request; its tag lets the sensor see the run."""
    job = build_defs(settings).resolve_job_def("deletion_job")
    run_config = deletion_run_config(deletion_id).to_config_dict()
    result = job.execute_in_process(
        instance=instance_for(settings),
        raise_on_error=False,
        run_config={**run_config, **QUIET},
        tags={**(tags or {"healthex/command": "delete"}), DELETION_TAG: deletion_id},
    )
    return RunOutcome(run_id=result.run_id, success=result.success)


def tick_sensors(
    settings: Settings, cursors: dict[str, str | None], pool: Executor | None = None
) -> list[RunOutcome]:
    """Evaluate every sensor once (cursors updated in place) and run what they request.

    A tick's requests are for distinct partitions, so with a ``pool`` they run in parallel; the
    tick returns when all have finished, so one partition never has two runs at once. Deletions
    run after them, one at a time, so no partition run races a purge of its user.
    """
    defs = build_defs(settings)
    storage = PipelineStorage.for_settings(settings)
    instance = instance_for(settings)
    requested: list[tuple[str, str, dict[str, str]]] = []
    deletions: list[str] = []
    for sensor in defs.sensors or []:
        assert isinstance(sensor, dg.SensorDefinition)
        if isinstance(sensor, dg.AutomationConditionSensorDefinition):
            continue  # the daemon's; its work (serving) is run below, after the partitions
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursors.get(sensor.name),
            resources={"storage": storage},
            definitions=defs,
        )
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            data = sensor.evaluate_tick(context)
        cursors[sensor.name] = data.cursor
        for request in data.run_requests or []:
            if DELETION_TAG in request.tags:
                deletions.append(request.tags[DELETION_TAG])
                continue
            assert isinstance(request.partition_key, dg.MultiPartitionKey)
            keys = request.partition_key.keys_by_dimension
            requested.append((keys["user"], keys["connector"], {"healthex/sensor": sensor.name}))
    if pool is None:
        outcomes = [run_partition(settings, *request, serve=False) for request in requested]
    else:
        futures = [
            pool.submit(run_partition, settings, *request, serve=False) for request in requested
        ]
        outcomes = [future.result() for future in futures]
    served = sorted(
        {user for (user, _, _), o in zip(requested, outcomes, strict=True) if o.success}
    )
    serving_tags = {"healthex/sensor": "serving_automation"}
    outcomes += [run_serving(settings, user, serving_tags) for user in served]
    sensor_tags = {"healthex/sensor": "deletion_request_sensor"}
    return outcomes + [run_deletion(settings, d, sensor_tags) for d in deletions]
