"""Launch pipeline runs on the Dagster instance under HEALTHEX_HOME, so they show in the UI.

Runs execute in this process (no daemon needed), but against the same instance storage that
`dagster dev` reads, with the same partition keys a sensor would use. ``tick_sensors`` does what
the Dagster daemon does in production: evaluate each sensor, then launch what it requested.
``run_deletion`` carries out one recorded deletion request as a run of ``deletion_job``, and
``run_serving`` rebuilds a user's serving assets once their partitions have run.
"""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

import dagster as dg

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.deletion.assets import DELETION_TAG, deletion_run_config
from healthex_pipeline.defs.partitions import ensure_users, partition_key
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.settings import Settings


@dataclass(frozen=True)
class RunOutcome:
    """The run's id and whether every step and blocking check succeeded."""

    run_id: str
    success: bool


def instance_for(settings: Settings) -> dg.DagsterInstance:
    """The persistent Dagster instance of this HEALTHEX_HOME."""
    settings.ensure()
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


# Event details stay in the instance (the UI); the terminal gets the caller's summary.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_partition(
    settings: Settings,
    user_key: str,
    connector: str,
    tags: dict[str, str] | None = None,
    serve: bool = True,
) -> RunOutcome:
    """Register the user's partition if new and run the partition pipeline for it.

    With ``serve`` (the default) a successful run is followed by the user's serving run, so
    the AI team's files follow every change; callers running several partitions of one user
    at once pass ``serve=False`` and call ``run_serving`` once they have all finished.
    """
    instance = instance_for(settings)
    ensure_users(instance, [user_key])
    job = build_defs(settings).resolve_job_def("partition_pipeline")
    result = job.execute_in_process(
        instance=instance,
        partition_key=partition_key(user_key, connector),
        raise_on_error=False,
        run_config=QUIET,
        tags=tags or {"healthex/command": "import"},
    )
    if result.success and serve:
        serving = run_serving(settings, user_key, tags)
        return RunOutcome(run_id=result.run_id, success=serving.success)
    return RunOutcome(run_id=result.run_id, success=result.success)


def run_serving(
    settings: Settings, user_key: str, tags: dict[str, str] | None = None
) -> RunOutcome:
    """Rebuild one user's serving tables and AI context (what the automation sensor would do)."""
    job = build_defs(settings).resolve_job_def("serving_job")
    result = job.execute_in_process(
        instance=instance_for(settings),
        partition_key=user_key,
        raise_on_error=False,
        run_config=QUIET,
        tags=tags or {"healthex/command": "import"},
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
