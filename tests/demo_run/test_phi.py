"""PHI never leaves the data layer: after a whole demo, Dagster and the CLI hold none of it.

The search strings are every name, birth date, identifier and address part of the demo's
Patients (the generator's files for the same seed, found again in the decrypted data layer) and
of every fixture set's Patients. The places are every file of the Dagster instance (event log,
run storage with run tags and config, compute logs), what the instance API returns for runs,
events and asset metadata, the CLI's stdout and stderr, and any log or temporary file the demo
left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster._core.instance import DagsterInstance
from dagster._serdes import serialize_value

from tests.demo_run.harness import DemoRun, demo_population
from tests.demo_run.phi import Kind, counts, hits, merge, missing, patient_phi, population_phi
from tests.support.expected import iter_resources
from tests.support.fixture_sets import FIXTURE_SETS, fixture_dir
from tests.support.home_scan import every_byte

LOG_SUFFIXES = (".log", ".out", ".err", ".txt")


@pytest.fixture(scope="module")
def demo_phi(tmp_path_factory: pytest.TempPathFactory) -> dict[Kind, set[str]]:
    return population_phi(demo_population(), tmp_path_factory.mktemp("population"))


@pytest.fixture(scope="module")
def fixture_phi() -> dict[Kind, set[str]]:
    roots = [fixture_dir(name) for name in FIXTURE_SETS if fixture_dir(name).is_dir()]
    return merge(*(patient_phi(iter_resources(root)) for root in roots))


def _files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*")) if p.is_file())


def _instance_views(dagster_home: Path) -> dict[str, bytes]:
    """What the instance API hands out: run tags and config, every event, asset metadata."""
    instance = DagsterInstance.from_config(str(dagster_home))
    try:
        runs = instance.get_runs()
        tags = [{"tags": dict(run.tags), "run_config": run.run_config} for run in runs]
        events = [serialize_value(e) for run in runs for e in instance.all_logs(run.run_id)]
        metadata = [
            serialize_value(record.asset_materialization)
            for key in instance.get_asset_keys()
            for record in instance.fetch_materializations(key, limit=10_000).records
        ]
    finally:
        instance.dispose()
    return {
        "instance API: run tags and config": json.dumps(tags, default=str).encode(),
        "instance API: event log": "\n".join(events).encode(),
        "instance API: asset metadata": "\n".join(metadata).encode(),
    }


def _sources(demo: DemoRun) -> dict[str, bytes]:
    """Every place PHI must not reach, by a printable name."""
    sources = {
        f"dagster/{p.relative_to(demo.dagster_home)}": p.read_bytes()
        for p in _files(demo.dagster_home)
    }
    sources["demo stdout"] = demo.stdout.read_bytes()
    sources["demo stderr"] = demo.stderr.read_bytes()
    for path in _files(demo.home):
        if path.suffix in LOG_SUFFIXES and demo.dagster_home not in path.parents:
            sources[f"home/{path.relative_to(demo.home)}"] = path.read_bytes()
    for path in _files(demo.tmpdir):
        sources[f"TMPDIR/{path.relative_to(demo.tmpdir)}"] = path.read_bytes()
    sources.update(_instance_views(demo.dagster_home))
    return sources


def test_scan_sees_what_it_searches_for(demo_run: DemoRun, demo_phi: dict[Kind, set[str]]) -> None:
    sources = _sources(demo_run)
    user_keys = demo_run.user_keys()

    assert all(counts(demo_phi).values()), f"search strings per kind: {counts(demo_phi)}"
    absent = missing(every_byte(demo_run.settings), demo_phi)
    assert not absent, f"strings per kind not found in the decrypted data layer: {dict(absent)}"
    assert len(user_keys) == 2
    stored = b"".join(data for where, data in sources.items() if where.startswith("dagster/"))
    for where, data in [
        ("dagster files", stored),
        *((w, d) for w, d in sources.items() if w.startswith("instance API")),
    ]:
        blind = [key for key in user_keys if key.encode() not in data]
        assert not blind, f"{where} does not show the partition keys {blind}"


def test_demo_leaves_no_patient_phi_outside_the_data_layer(
    demo_run: DemoRun, demo_phi: dict[Kind, set[str]], fixture_phi: dict[Kind, set[str]]
) -> None:
    phi = merge(demo_phi, fixture_phi)
    sources = _sources(demo_run)

    found = hits(sources, phi)
    print(f"searched {counts(phi)} strings in {len(sources)} sources: {sum(found.values())} hits")
    report = {f"{where} ({kind})": n for (where, kind), n in sorted(found.items())}
    assert not found, f"PHI strings found (occurrences by place and kind): {report}"
