"""The pipeline at population scale (issue 8 item 2): 1k, 10k and 100k users in one home.

Per population size, in a fresh HEALTHEX_HOME:

1. Template users are imported through the pipeline from the licensed fixtures, with the
   connectors as the demo mixes them (HealthEx most, Fasten and Apple Health fewer).
2. Registration: every account gets its pseudonym and Dagster partition (timed).
3. The population: each other user is a hard-linked copy of a template user's files in every
   layer (raw, staging, curated, AI context) and a copy of its rows in the serving buckets, with
   its own key rows. The encrypted files are the template's bytes, so they do not decrypt under
   the clone's key: only purge, disk and the serving reads (plaintext) touch clones, and none
   of them decrypts. Disk per user counts every link's bytes, as copies would occupy.
4. Initial load through Dagster: ``batch`` new real users staged and run as one batched run
   (``healthex_pipeline.batches``), against single runs of a few; per-user cost of each.
5. Incremental refresh: 1 % of the population (at most the loaded batch) gets a changed delivery
   and is rerun batched; the per-user marginal cost.
6. Purge of one user (median of 5), serving reads (one user's timeline, p50 of 21; a full scan of
   lab_results), disk per user, and at each size the Dagster webserver's GraphQL for the
   lab_results asset page and a tick of every sensor.

    .venv/bin/python -m bench.population_scale [--users 1000 10000 100000] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import httpx
import orjson
from rich.progress import track

from bench.machine import describe, load_average
from bench.plots import grouped_bars
from healthex_pipeline import serving
from healthex_pipeline.batches import run_batches
from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.partitions import users
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.deletion import purge
from healthex_pipeline.importer import expand_inputs, import_files
from healthex_pipeline.keys import KeyStore, load_master_key
from healthex_pipeline.raw_zone import RawPartition
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for, run_partition
from healthex_pipeline.serving_store import read_rows, replace_users
from healthex_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
RESULTS = Path(__file__).parent / "results"
# (connector, fixture) per template user; five HealthEx users to one Fasten and one Apple Health.
TEMPLATES: list[tuple[str, Path]] = [
    *(("healthex", p) for p in sorted((FIXTURES / "bundles" / "synthea-r4").glob("*.json"))),
    ("fasten", FIXTURES / "bundles" / "synthea-dstu2"),
    ("apple_health", FIXTURES / "apple-health"),
]
LOAD_BUNDLES = sorted((FIXTURES / "bundles" / "synthea-r4").glob("*.json"))
LAYERS = ("raw", "staging", "warehouse", "serving")
PURGED = 5
READS = 21
CLONE_CHUNK = 20_000

ASSET_PAGE_QUERY = """
query AssetPage($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    __typename
    ... on AssetNode {
      id
      partitionKeysByDimension { name partitionKeys }
      partitionStats { numMaterialized numPartitions numFailed }
    }
  }
}
"""


@dataclass(frozen=True)
class Template:
    """A real imported user whose files the clones copy."""

    user_key: str
    connector: str
    dirs: list[Path]  # relative to the home, each a ``user=<key>`` or ``user_key=<key>`` folder


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _user_dirs(home: Path, user_key: str) -> list[Path]:
    """Every folder of the user in every layer, relative to the home (not descending into them)."""
    names = {f"user={user_key}", f"user_key={user_key}"}
    found = []
    for layer in LAYERS:
        for directory, subdirs, _ in os.walk(home / layer):
            for name in list(subdirs):
                if name in names:
                    found.append((Path(directory) / name).relative_to(home))
                    subdirs.remove(name)
    return sorted(found)


def _templates(settings: Settings, quick: bool) -> list[Template]:
    """The template users; ``quick``: the first only (a HealthEx Synthea R4 bundle)."""
    chosen = TEMPLATES[:1] if quick else TEMPLATES
    templates = []
    for index, (connector, fixture) in enumerate(chosen):
        report = import_files(settings, f"template-{index}", connector, [fixture])
        assert report.success, f"template {index} failed"
        dirs = _user_dirs(settings.home, report.user_key)
        templates.append(Template(report.user_key, connector, dirs))
    return templates


def _register(settings: Settings, accounts: list[str]) -> tuple[list[str], float, float]:
    """Pseudonyms for the accounts, then their Dagster partitions; the two times."""
    registry = PseudonymRegistry(settings.registry_path)
    started = time.perf_counter()
    keys = registry.user_keys(accounts)
    registry_s = time.perf_counter() - started
    instance = instance_for(settings)
    assert users.name is not None
    started = time.perf_counter()
    for chunk in range(0, len(keys), 10_000):
        instance.add_dynamic_partitions(users.name, keys[chunk : chunk + 10_000])
    return keys, registry_s, time.perf_counter() - started


def _clone(settings: Settings, template: Template, user_key: str) -> None:
    for relative in template.dirs:
        target = settings.home / str(relative).replace(template.user_key, user_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Hard links: a clone's files cost no copy (100k users × 40 files), and a purge still
        # unlinks every one; sizes below count each link's bytes, as copies would occupy.
        shutil.copytree(settings.home / relative, target, copy_function=os.link)


def _clone_serving(settings: Settings, templates: list[Template], keys: list[str]) -> None:
    """The clones' serving rows, written into the buckets in chunks (each bucket once a chunk)."""
    root = settings.serving_root
    for table in track(serving.serving_tables(), description="serving buckets"):
        rows = [read_rows(root, table, t.user_key) for t in templates]
        for chunk in range(0, len(keys), CLONE_CHUNK):
            replace_users(
                root,
                table,
                {
                    user_key: rows[(chunk + offset) % len(templates)]
                    for offset, user_key in enumerate(keys[chunk : chunk + CLONE_CHUNK])
                },
            )


def _stage_batch(settings: Settings, accounts: list[str], change: bool) -> list[str]:
    """Real users' deliveries in their inboxes (a changed copy of the bundle with ``change``)."""
    registry = PseudonymRegistry(settings.registry_path)
    keys = []
    scratch = Path(tempfile.mkdtemp(dir=settings.home))
    for index, account in enumerate(accounts):
        bundle = LOAD_BUNDLES[index % len(LOAD_BUNDLES)]
        if change:
            document = orjson.loads(bundle.read_bytes())
            document["id"] = f"{document.get('id', 'bundle')}-refresh"
            for entry in document["entry"]:
                resource = entry["resource"]
                if resource["resourceType"] == "Observation" and "valueQuantity" in resource:
                    resource["valueQuantity"]["value"] = resource["valueQuantity"]["value"] + 1
                    break
            bundle = scratch / f"{index}-{bundle.name}"
            bundle.write_bytes(orjson.dumps(document))
        user_key = registry.user_key(account)
        RawPartition.at(settings, user_key, "healthex").stage(expand_inputs([bundle]), "bench")
        keys.append(user_key)
    return keys


def _load(settings: Settings, batch: int, singles: int) -> dict[str, Any]:
    """Initial load of new real users: one batched run of ``batch`` against single runs."""
    accounts = [f"load-{i}" for i in range(batch + singles)]
    keys = _stage_batch(settings, accounts, change=False)
    instance = instance_for(settings)
    assert users.name is not None
    instance.add_dynamic_partitions(users.name, keys)
    single_s = [_timed(lambda k=k: run_partition(settings, k, "healthex")) for k in keys[batch:]]
    outcomes: list[Any] = []
    batch_s = _timed(lambda: outcomes.extend(run_batches(settings, set(keys[:batch]), "healthex")))
    assert all(o.success for o in outcomes), "the batched load failed"
    return {
        "batch_users": batch,
        "batch_runs": len(outcomes),
        "batch_s": round(batch_s, 2),
        "batched_per_user_s": round(batch_s / batch, 3),
        "single_users": singles,
        "single_per_user_s": round(statistics.median(single_s), 3),
        "keys": keys[:batch],
    }


def _refresh(settings: Settings, population: int, loaded: list[str]) -> dict[str, Any]:
    """1 % of the population changed (capped at the loaded real users), rerun batched."""
    changed = max(1, min(population // 100, len(loaded)))
    registry = PseudonymRegistry(settings.registry_path)
    accounts = [f"load-{i}" for i in range(changed)]
    keys = _stage_batch(settings, accounts, change=True)
    assert keys == [registry.user_key(a) for a in accounts] == loaded[:changed]
    outcomes: list[Any] = []
    seconds = _timed(lambda: outcomes.extend(run_batches(settings, set(keys), "healthex")))
    assert all(o.success for o in outcomes), "the batched refresh failed"
    return {
        "changed_users": changed,
        "one_percent": population // 100,
        "refresh_s": round(seconds, 2),
        "refresh_per_user_s": round(seconds / changed, 3),
    }


def _purges(settings: Settings, population: int, clones: int) -> dict[str, float]:
    timings = []
    for index in range(0, clones, max(1, clones // PURGED))[:PURGED]:
        started = time.perf_counter()
        certificate = purge(settings, f"pop-{index}")
        timings.append(time.perf_counter() - started)
        assert certificate.verified, "a purge left data behind"
    return {
        "purge_median_s": round(statistics.median(timings), 3),
        "purge_max_s": round(max(timings), 3),
    }


def _timeline_seconds(
    con: duckdb.DuckDBPyConnection, query: str, picks: list[str]
) -> tuple[list[float], int]:
    """Seconds of each user's read, and the rows read in all (both ways must agree)."""
    seconds, rows = [], 0
    for user_key in picks:
        started = time.perf_counter()
        rows += len(con.execute(query, [user_key]).fetchall())
        seconds.append(time.perf_counter() - started)
    return seconds, rows


def _reads(settings: Settings, keys: list[str]) -> dict[str, Any]:
    """The AI team's reads through the read-only catalog.

    One user's timeline both ways: the per-user macro (reads the user's bucket) and the view
    filtered on ``user_key`` (opens every bucket's footer).
    """
    picks = random.Random(7).sample(keys, min(READS, len(keys)))
    with serving.connect(settings) as con:
        by_macro, macro_rows = _timeline_seconds(
            con, "SELECT * FROM serving.patient_timeline_of($1::VARCHAR)", picks
        )
        by_view, view_rows = _timeline_seconds(
            con, "SELECT * FROM serving.patient_timeline WHERE user_key = ?", picks
        )
        scans, rows, people = [], 0, 0
        for _ in range(3):
            started = time.perf_counter()
            ((rows, people),) = con.execute(
                "SELECT count(*), count(DISTINCT user_key) FROM serving.lab_results"
            ).fetchall()
            scans.append(time.perf_counter() - started)
    return {
        "timeline_one_user_p50_s": round(statistics.median(by_macro), 4),
        "timeline_one_user_max_s": round(max(by_macro), 4),
        "timeline_view_one_user_p50_s": round(statistics.median(by_view), 4),
        "timeline_view_one_user_max_s": round(max(by_view), 4),
        "timeline_rows_read": {"macro": macro_rows, "view": view_rows},
        "lab_scan_first_s": round(scans[0], 3),
        "lab_scan_median_s": round(statistics.median(scans), 3),
        "lab_scan_rows": rows,
        "lab_scan_users": people,
    }


def _disk(settings: Settings, population: int) -> dict[str, Any]:
    def size(root: Path) -> int:
        return sum((Path(d) / f).stat().st_size for d, _, files in os.walk(root) for f in files)

    by_layer = {layer: size(settings.home / layer) for layer in LAYERS}
    files = sum(len(f) for layer in LAYERS for _, _, f in os.walk(settings.home / layer))
    return {
        "bytes_per_user": {k: round(v / population) for k, v in by_layer.items()},
        "files_per_user": round(files / population, 1),
        "dagster_bytes_per_user": round(size(settings.dagster_home) / population),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _webserver(settings: Settings) -> Iterator[str]:
    """A running dagster-webserver on the home's instance; yields its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "HEALTHEX_HOME": str(settings.home),
        "DAGSTER_HOME": str(settings.dagster_home),
    }
    webserver = Path(sys.executable).parent / "dagster-webserver"
    command = [str(webserver), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            raise RuntimeError("dagster-webserver did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ui(settings: Settings) -> dict[str, Any]:
    """The lab_results asset page's GraphQL (3 loads) and one tick of every sensor."""
    timings = []
    stats: dict[str, Any] = {}
    with _webserver(settings) as url:
        for _ in range(3):
            started = time.perf_counter()
            response = httpx.post(
                f"{url}/graphql",
                json={"query": ASSET_PAGE_QUERY, "variables": {"key": {"path": ["lab_results"]}}},
                timeout=600,
            )
            timings.append(time.perf_counter() - started)
            response.raise_for_status()
            node = response.json()["data"]["assetNodeOrError"]
            assert node["__typename"] == "AssetNode", node["__typename"]
            stats = node["partitionStats"]
    return {
        "asset_page_graphql_s": [round(t, 3) for t in timings],
        "asset_page_partitions": stats,
        "sensor_tick_s": _sensor_ticks(settings),
    }


def _sensor_ticks(settings: Settings) -> dict[str, float]:
    defs = build_defs(settings)
    instance = instance_for(settings)
    storage = PipelineStorage.for_settings(settings)
    ticks = {}
    for sensor in defs.sensors or []:
        assert isinstance(sensor, dg.SensorDefinition)
        if isinstance(sensor, dg.AutomationConditionSensorDefinition):
            continue
        context = dg.build_sensor_context(
            instance=instance, resources={"storage": storage}, definitions=defs
        )
        started = time.perf_counter()
        with dg.partition_loading_context(dynamic_partitions_store=instance):
            sensor.evaluate_tick(context)
        ticks[sensor.name] = round(time.perf_counter() - started, 3)
    started = time.perf_counter()
    dg.evaluate_automation_conditions(
        defs=defs,
        instance=instance,
        asset_selection=dg.AssetSelection.groups("serving"),
    )
    ticks["serving_automation (evaluation)"] = round(time.perf_counter() - started, 3)
    return ticks


def measure(population: int, home: Path, batch: int, quick: bool) -> dict[str, Any]:
    """Every measurement at one population size, in ``home``."""
    singles = 1 if quick else 2
    settings = Settings(home=home)
    settings.ensure()
    result: dict[str, Any] = {"users": population, "load_before": load_average()}
    templates = _templates(settings, quick)
    clones = population - len(templates) - batch - singles
    accounts = [f"pop-{i}" for i in range(clones)]
    keys, registry_s, partitions_s = _register(settings, accounts)
    result["register"] = {
        "users": clones,
        "pseudonyms_s": round(registry_s, 2),
        "dagster_partitions_s": round(partitions_s, 2),
    }
    store = KeyStore(settings.keys_path, load_master_key(settings.secrets_dir))
    started = time.perf_counter()
    for index, user_key in enumerate(track(keys, description=f"clone {population:,} users")):
        _clone(settings, templates[index % len(templates)], user_key)
    store.create_keys([(k, templates[i % len(templates)].connector) for i, k in enumerate(keys)])
    _clone_serving(settings, templates, keys)
    result["population_build_s"] = round(time.perf_counter() - started, 1)
    load = _load(settings, batch, singles)
    loaded = load.pop("keys")
    result["initial_load"] = load
    result["initial_load"]["estimated_full_load_h"] = round(
        population * load["batched_per_user_s"] / 3600, 2
    )
    result["refresh"] = _refresh(settings, population, loaded)
    result["disk"] = _disk(settings, population)
    result["reads"] = _reads(settings, keys)
    result["purge"] = _purges(settings, population, clones)
    result["ui"] = _ui(settings)
    result["load_after"] = load_average()
    return result


def table(document: dict[str, Any]) -> str:
    """The results as the markdown table in bench/README.md."""
    lines = [
        "| users | pseudonyms + partitions | load, batched (single run) per user | "
        "refresh per user (users) | purge one user | timeline one user p50 | lab_results scan | "
        "disk per user (files) | asset page GraphQL | sensor ticks |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in document["sizes"]:
        register, load, refresh = size["register"], size["initial_load"], size["refresh"]
        disk, reads, ui = size["disk"], size["reads"], size["ui"]
        ticks = ", ".join(f"{name} {s:.2f} s" for name, s in ui["sensor_tick_s"].items())
        lines.append(
            f"| {size['users']:,} | {register['pseudonyms_s']:.1f} s + "
            f"{register['dagster_partitions_s']:.1f} s | {load['batched_per_user_s']:.2f} s "
            f"({load['single_per_user_s']:.2f} s) | {refresh['refresh_per_user_s']:.2f} s "
            f"({refresh['changed_users']}) | {size['purge']['purge_median_s']:.3f} s | "
            f"{reads['timeline_one_user_p50_s'] * 1000:.1f} ms | "
            f"{reads['lab_scan_median_s']:.2f} s | "
            f"{sum(disk['bytes_per_user'].values()) / 1024:.0f} KiB ({disk['files_per_user']}) | "
            f"{statistics.median(ui['asset_page_graphql_s']):.2f} s | {ticks} |"
        )
    return "\n".join(lines)


def plot(document: dict[str, Any], stem: str) -> list[Path]:
    """Seconds per operation against the population size (log scale)."""
    series = {
        f"{size['users']:,} users": {
            "purge one user": size["purge"]["purge_median_s"],
            "timeline one user (p50)": size["reads"]["timeline_one_user_p50_s"],
            "lab_results scan": size["reads"]["lab_scan_median_s"],
            "load per user (batched)": size["initial_load"]["batched_per_user_s"],
            "refresh per user (batched)": size["refresh"]["refresh_per_user_s"],
            "asset page GraphQL": statistics.median(size["ui"]["asset_page_graphql_s"]),
        }
        for size in document["sizes"]
    }
    tools = list(next(iter(series.values())))
    path = RESULTS / f"{stem}-seconds.png"
    return [
        grouped_bars(
            path, series, tools, title="Population scale", ylabel="seconds (log)", log=True
        )
    ]


def _sizes(values: Iterable[int]) -> list[int]:
    return sorted(set(values))


def main() -> None:
    """Run each size in a fresh home; print and save the results after each size."""
    parser = argparse.ArgumentParser(description="The pipeline at 1k, 10k and 100k users.")
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--batch", type=int, default=20, help="real users in the batched load")
    parser.add_argument(
        "--quick", action="store_true", help="100 users, one template, a batch of 2"
    )
    parser.add_argument("--scratch", type=Path, default=None, help="where the homes are made")
    parser.add_argument("--table", type=Path, default=None, help="print a results file's table")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return
    sizes, batch = ([100], 2) if args.quick else (_sizes(args.users), args.batch)
    stamp = time.strftime("%Y-%m-%d")
    out = RESULTS / f"population-{stamp}{'-quick' if args.quick else ''}.json"
    document: dict[str, Any] = {"machine": describe(), "sizes": []}
    for population in sizes:
        with tempfile.TemporaryDirectory(dir=args.scratch) as home:
            result = measure(population, Path(home), batch, args.quick)
        print(json.dumps(result), flush=True)
        document["sizes"].append(result)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(document, indent=2) + "\n")
    print(table(document))
    if importlib.util.find_spec("matplotlib"):
        plot(document, out.stem)


if __name__ == "__main__":
    main()
