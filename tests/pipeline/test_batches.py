"""A batched run (a range of users in one Dagster run) builds what one run per user builds."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from healthex_pipeline.batches import UserRange, ranges, run_batches
from healthex_pipeline.defs.partitions import ensure_users, partition_key
from healthex_pipeline.importer import expand_inputs, import_files
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for
from healthex_pipeline.serving import user_folders
from healthex_pipeline.settings import Settings
from tests.pipeline.tables import CURATED_TABLES, curated
from tests.support.fixture_sets import fixture_dir


def test_ranges_join_only_adjacent_users_and_cap_the_size() -> None:
    registered = list("abcdefghij")

    cut = list(ranges(registered, set("bcdfghij") - {"j"}, max_size=3))

    assert cut == [UserRange("b", "d", 3), UserRange("f", "h", 3), UserRange("i", "i", 1)]
    assert list(ranges(registered, set(), max_size=3)) == []
    assert list(ranges(registered, {"j"}, max_size=3)) == [UserRange("j", "j", 1)]


def _bundles() -> list[Path]:
    return sorted(fixture_dir("synthea-r4").glob("*.json"))[:3]


def test_one_batched_run_builds_every_users_tables_as_single_runs_do(tmp_path: Path) -> None:
    single = Settings(home=tmp_path / "single")
    batched = Settings(home=tmp_path / "batched")
    batched.ensure()
    registry = PseudonymRegistry(batched.registry_path)
    user_keys = []
    for index, bundle in enumerate(_bundles()):
        import_files(single, f"acct-{index}", "healthex", [bundle])
        user_key = registry.user_key(f"acct-{index}")
        RawPartition.at(batched, user_key, "healthex").stage(expand_inputs([bundle]), "file-import")
        user_keys.append(user_key)
    ensure_users(instance_for(batched), user_keys)

    outcomes = run_batches(batched, set(user_keys), "healthex")

    assert [o.success for o in outcomes] == [True, True], "one pipeline run and one serving run"
    single_keys = PseudonymRegistry(single.registry_path)
    for index, user_key in enumerate(user_keys):
        expected_key = single_keys.user_key(f"acct-{index}")
        for table in CURATED_TABLES:
            assert curated(batched, table, user_key, "healthex").equals(
                curated(single, table, expected_key, "healthex")
            ), f"{table} of user {index} differs"
        assert user_folders(batched, user_key), "the batch's serving run wrote the user's files"
    materialized = instance_for(batched).get_materialized_partitions(dg.AssetKey("lab_results"))
    assert materialized == {str(partition_key(u, "healthex")) for u in user_keys}
