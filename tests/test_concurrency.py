"""Runs at once: different users' partitions never interfere; one partition's runs never overlap."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest

from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.instance_config import VENDOR_POOL
from healthex_pipeline.raw_zone import InboxFile, RawPartition
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import (
    PartitionBusyError,
    exclusive,
    in_process_tags,
    instance_for,
    run_partition,
)
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

CONNECTOR = "healthex"


def _bundles() -> dict[str, Path]:
    """Two accounts, one Synthea bundle each (the two smallest: runtime, not scale, matters)."""
    smallest = sorted(fixture_dir("synthea-r4").glob("*.json"), key=lambda p: p.stat().st_size)
    return {"acct-conc-a": smallest[0], "acct-conc-b": smallest[1]}


def _rows(reports: dict[str, ImportReport]) -> dict[str, dict[str, int]]:
    return {account: report.rows_by_table for account, report in sorted(reports.items())}


def test_two_users_imported_in_parallel_processes_match_a_serial_import(tmp_path: Path) -> None:
    bundles = _bundles()
    serial_home = Settings(home=tmp_path / "serial")
    # serve=False: the partitions' curated rows are the point; serving runs would double the time.
    serial = {a: import_files(serial_home, a, CONNECTOR, [p], False) for a, p in bundles.items()}

    parallel_home = Settings(home=tmp_path / "parallel")
    instance_for(parallel_home)  # the instance's storage exists before the processes race
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=spawn) as pool:
        futures = {
            a: pool.submit(import_files, parallel_home, a, CONNECTOR, [p], False)
            for a, p in bundles.items()
        }
        parallel = {a: future.result() for a, future in futures.items()}

    assert all(r.success for r in [*serial.values(), *parallel.values()])
    assert _rows(parallel) == _rows(serial)
    assert all(sum(r.rows_by_table.values()) > 0 for r in parallel.values())
    records = instance_for(parallel_home).get_run_records()
    statuses = sorted(record.dagster_run.status.value for record in records)
    assert statuses == ["SUCCESS"] * 2, f"one run per partition: {statuses}"


def _stage(settings: Settings, account: str, bundle: Path) -> str:
    settings.ensure()
    user_key = PseudonymRegistry(settings.registry_path).user_key(account)
    RawPartition.at(settings, user_key, CONNECTOR).stage([InboxFile(bundle, "b.json")], "test")
    return user_key


def test_two_runs_of_one_partition_at_once_run_one_after_the_other(settings: Settings) -> None:
    account, bundle = next(iter(_bundles().items()))
    user_key = _stage(settings, account, bundle)
    start = threading.Barrier(2)

    def run() -> str:
        start.wait()
        outcome = run_partition(settings, user_key, CONNECTOR, serve=False)
        assert outcome.success
        return outcome.run_id

    with ThreadPoolExecutor(max_workers=2) as pool:
        run_ids = list(pool.map(lambda _: run(), range(2)))

    instance = instance_for(settings)
    records = instance.get_run_records(dg.RunsFilter(run_ids=run_ids))
    windows = sorted((r.start_time or 0.0, r.end_time or 0.0) for r in records)
    assert len(windows) == 2
    (_, first_end), (second_start, _) = windows
    assert first_end <= second_start, f"the runs overlapped: {windows}"


def test_busy_partition_is_refused_with_a_message_naming_only_the_partition(
    settings: Settings,
) -> None:
    account, bundle = next(iter(_bundles().items()))
    user_key = _stage(settings, account, bundle)
    key = f"{CONNECTOR}|{user_key}"
    with exclusive(settings, key, wait_seconds=0), pytest.raises(PartitionBusyError) as refused:
        run_partition(settings, user_key, CONNECTOR, serve=False, wait_seconds=0.5)
    message = str(refused.value)
    assert (
        message == f"partition {key} already has a run in progress; try again once it has finished"
    )
    assert account not in message and bundle.stem not in message
    assert instance_for(settings).get_run_records() == [], "a refused run never starts"


def test_a_killed_runs_pool_slots_are_freed_by_the_next_run(settings: Settings) -> None:
    account, bundle = next(iter(_bundles().items()))
    user_key = _stage(settings, account, bundle)
    instance = instance_for(settings)
    # What a SIGKILLed import of another partition leaves: its run STARTED, holding every
    # slot of the vendor pool (without recovery this run's vendor step would wait forever).
    dead = dg.DagsterRun(
        job_name="partition_pipeline",
        run_id=str(uuid.uuid4()),
        status=dg.DagsterRunStatus.STARTED,
        tags=in_process_tags(settings, f"{CONNECTOR}|another-user"),
    )
    instance.add_run(dead)
    limit = settings.instance.vendor_pool_limit
    assert instance.event_log_storage.initialize_concurrency_limit_to_default(VENDOR_POOL)
    for slot in range(limit):
        claim = instance.event_log_storage.claim_concurrency_slot(
            VENDOR_POOL, dead.run_id, f"raw_fhir_{slot}"
        )
        assert claim.is_claimed, claim

    outcome = run_partition(settings, user_key, CONNECTOR, serve=False)

    assert outcome.success
    record = instance.get_run_by_id(dead.run_id)
    assert record is not None and record.status == dg.DagsterRunStatus.FAILURE
    info = instance.event_log_storage.get_concurrency_info(VENDOR_POOL)
    assert info.active_slot_count == 0, f"slots still claimed: {info.active_run_ids}"
