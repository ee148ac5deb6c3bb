"""Batched runs: one Dagster run for many users' partitions of one connector.

A run costs Dagster a fixed amount (creating the run and its plan, an event per step) whatever
it materializes, so loading or refreshing many users one run each is dominated by that cost.
Dagster runs a *range* of partition keys in one run (the assets loop over
``partition_contexts``); a range of the user × connector keys holds the connector fixed and
spans users in the order they were registered. ``ranges`` cuts a set of users into such
ranges, and ``run_batches`` runs each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.partitions import partition_key, users
from healthex_pipeline.runs import (
    QUIET,
    RunOutcome,
    exclusive,
    fail_dead_runs,
    in_process_tags,
    instance_for,
)
from healthex_pipeline.settings import Settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class UserRange:
    """Users ``first`` to ``last`` (inclusive, registration order): ``size`` partitions."""

    first: str
    last: str
    size: int


def ranges(registered: Sequence[str], wanted: set[str], max_size: int) -> Iterator[UserRange]:
    """Cut ``wanted`` into runs of users adjacent in ``registered``, at most ``max_size`` each.

    Only adjacent users share a range, so a range never runs a partition nobody asked for.
    """
    start: int | None = None
    for index, user_key in enumerate([*registered, None]):
        inside = user_key is not None and user_key in wanted
        if inside and start is None:
            start = index
        if start is not None and (not inside or index - start == max_size):
            yield UserRange(registered[start], registered[index - 1], index - start)
            start = index if inside else None


def run_batches(
    settings: Settings,
    user_keys: set[str],
    connector: str,
    max_size: int = 200,
    tags: dict[str, str] | None = None,
    wait_seconds: float | None = None,
) -> list[RunOutcome]:
    """Run ``partition_pipeline`` then ``serving_job`` over the users, one range a run.

    A range run holds the lock of every partition in it (and each user's, for serving), so it
    never overlaps a single run of one of them, and a lock of its own that ``fail_dead_runs``
    recognizes if it is killed. (Dagster reads ``dagster/partition/*`` tags as the run's
    partition, so a range run cannot carry the connector tag the run queue limits by; the
    ``vendor_api`` pool throttles its vendor steps as it does every run's.)
    """
    instance = instance_for(settings)
    assert users.name is not None
    registered = instance.get_dynamic_partitions(users.name)
    missing = user_keys - set(registered)
    if missing:
        raise ValueError(f"{len(missing)} users are not registered partitions")
    defs = build_defs(settings)
    pipeline = defs.resolve_job_def("partition_pipeline")
    serving = defs.resolve_job_def("serving_job")
    outcomes = []
    for span in ranges(registered, user_keys, max_size):
        start = registered.index(span.first)
        members = registered[start : start + span.size]
        run_tags = {**(tags or {"healthex/command": "batch"}), "healthex/batch": str(span.size)}
        for job, locks, first, last in (
            (
                pipeline,
                [str(partition_key(u, connector)) for u in members],
                partition_key(span.first, connector),
                partition_key(span.last, connector),
            ),
            (serving, members, span.first, span.last),
        ):
            batch_lock = f"batch-{uuid.uuid4().hex}"
            with ExitStack() as held:
                for name in [*locks, batch_lock]:
                    held.enter_context(exclusive(settings, name, wait_seconds))
                fail_dead_runs(settings, instance, batch_lock)
                result = job.execute_in_process(
                    instance=instance,
                    raise_on_error=False,
                    run_config=QUIET,
                    tags={
                        **run_tags,
                        **in_process_tags(settings, batch_lock),
                        RANGE_START: str(first),
                        RANGE_END: str(last),
                    },
                )
            outcomes.append(RunOutcome(run_id=result.run_id, success=result.success))
            if not result.success:
                break
    return outcomes
