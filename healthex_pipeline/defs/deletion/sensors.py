"""The deletion-request sensor: every pending request becomes a run of ``deletion_job``.

A request is pending while its file is in the compliance request store (``healthex delete`` and
account deletion record them; the certificate step removes it once verification passes). Each
tick requests one run per pending request that has no run queued or in progress, tagged
``healthex/deletion=<deletion id>``, so a failed run is retried on a later tick.

A persistently failing request is surfaced, not retried forever: the run history is the attempt
count (it also counts ``healthex delete`` runs and survives a cursor reset), and after
``MAX_ATTEMPTS`` failed runs the sensor stops requesting that deletion and names its deletion id
in the tick's skip reason (or in a tick-log warning when other requests still get runs) until an
operator fixes the cause and runs ``healthex delete --resume``. A run whose process was killed
(``healthex delete`` under SIGKILL) stays STARTED forever; once it is older than the job's
``dagster/max_runtime`` the sensor marks it failed, as Dagster's run monitoring would, and retries.

RUNNING by default: a deletion must happen without a human switching anything on.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

import time
from collections import defaultdict

import dagster as dg

from healthex_pipeline.defs.deletion.assets import DELETION_TAG, deletion_run_config
from healthex_pipeline.defs.jobs import STALE_DELETION_RUN_SECONDS, deletion_job
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.deletion import pending_deletions

MAX_ATTEMPTS = 5
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# Statuses a run only holds while its process lives (a queued run waits for the queue instead).
_NEEDS_A_PROCESS = {
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
}


def _fail_if_abandoned(instance: dg.DagsterInstance, record: dg.RunRecord, now: float) -> bool:
    """Mark a run failed whose process evidently died; True when it did."""
    run = record.dagster_run
    started = record.start_time or record.create_timestamp.timestamp()
    if run.status not in _NEEDS_A_PROCESS or now - started <= STALE_DELETION_RUN_SECONDS:
        return False
    instance.report_run_failed(
        run, f"no end after {STALE_DELETION_RUN_SECONDS} s: its process is presumed dead"
    )
    return True


@dg.sensor(
    job=deletion_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs deletion_job for each pending deletion request; retries failed runs.",
)
def deletion_request_sensor(
    context: dg.SensorEvaluationContext, storage: PipelineStorage
) -> dg.SensorResult:
    """One run request per pending deletion without a run in flight (ids only, never PHI)."""
    pending = pending_deletions(storage.settings)
    if not pending:
        return dg.SensorResult(skip_reason="no pending deletion requests")
    in_flight: set[str] = set()
    failures: dict[str, int] = defaultdict(int)
    now = time.time()
    records = context.instance.get_run_records(
        filters=dg.RunsFilter(tags={DELETION_TAG: pending}, statuses=[*IN_FLIGHT, *FAILED])
    )
    for record in records:
        deletion_id = record.dagster_run.tags[DELETION_TAG]
        if record.dagster_run.status in FAILED or _fail_if_abandoned(context.instance, record, now):
            failures[deletion_id] += 1
        else:
            in_flight.add(deletion_id)
    requests, stuck = [], []
    for deletion_id in pending:
        if deletion_id in in_flight:
            continue
        if failures[deletion_id] >= MAX_ATTEMPTS:
            stuck.append(deletion_id)
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"deletion:{deletion_id}:{failures[deletion_id]}",
                run_config=deletion_run_config(deletion_id),
                tags={DELETION_TAG: deletion_id, "healthex/trigger": "deletion-request"},
            )
        )
    if stuck:
        message = (
            f"deletions failing after {MAX_ATTEMPTS} runs, not retried: {', '.join(stuck)} "
            "(see runs tagged healthex/deletion; fix, then `healthex delete --resume`)"
        )
        if not requests:
            return dg.SensorResult(skip_reason=message)
        context.log.warning(message)
    if not requests:
        return dg.SensorResult(skip_reason=f"runs in flight for {len(in_flight)} pending deletions")
    return dg.SensorResult(run_requests=requests)
