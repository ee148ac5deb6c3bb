"""Purge time for one user as the population grows (issue 5: must stay flat).

One real user is imported through the pipeline (a Synthea DSTU2 bundle); the population is then
made of clones of that user's files, each re-encrypted under its own partition key, with its own
pseudonym row and Dagster partition, so every layer a purge touches holds N users. Then a few
users are purged one at a time and the median wall time is reported per population size.

    .venv/bin/python -m bench.purge_scale --users 1000 10000
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from healthex_pipeline.defs.partitions import users
from healthex_pipeline.deletion import purge
from healthex_pipeline.importer import import_files
from healthex_pipeline.ingest import PartitionStores
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings, partition_dir

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "bundles" / "synthea-dstu2"
CONNECTOR = "healthex"
PURGED = 5


def _template(settings: Settings, user_key: str) -> dict[Path, tuple[str, object]]:
    """Every file of the template partition, relative to the home, with its plaintext."""
    stores = PartitionStores.for_settings(settings, user_key, CONNECTOR)
    vault = settings.vault()
    files: dict[Path, tuple[str, object]] = {}
    for path in sorted(stores.raw.root.rglob("*")):
        if path.is_file() and path.parent.name in {"objects", "manifests"}:
            files[path.relative_to(stores.raw.root)] = (
                "raw",
                vault.open_bytes(path, user_key, CONNECTOR),
            )
    for layer, root in (("staging", settings.staging_root), ("warehouse", settings.warehouse_root)):
        for path in sorted(root.rglob(f"user={user_key}/connector={CONNECTOR}/**/*.parquet")):
            files[path.relative_to(root)] = (layer, vault.read_parquet(path))
    return files


def _clone(settings: Settings, template: dict[Path, tuple[str, object]], user_key: str) -> None:
    vault = settings.vault()
    roots = {
        "raw": settings.raw_root,
        "staging": settings.staging_root,
        "warehouse": settings.warehouse_root,
    }
    for relative, (layer, content) in template.items():
        if layer == "raw":
            target = partition_dir(settings.raw_root, user_key, CONNECTOR) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            assert isinstance(content, bytes)
            vault.seal_bytes(content, target, user_key, CONNECTOR)
        else:
            parts = [f"user={user_key}" if p.startswith("user=") else p for p in relative.parts]
            vault.write_parquet(
                roots[layer].joinpath(*parts),
                content,
                user_key,
                CONNECTOR,  # type: ignore[arg-type]
            )


def measure(population: int, home: Path) -> dict[str, float]:
    """Build a population of ``population`` users in ``home`` and time purges of a few."""
    settings = Settings(home=home)
    template_user = import_files(settings, "bench-template", CONNECTOR, [FIXTURE])
    template = _template(settings, template_user.user_key)
    registry = PseudonymRegistry(settings.registry_path)
    started = time.perf_counter()
    keys = []
    for index in range(population - 1):
        user_key = registry.user_key(f"bench-{index}")
        _clone(settings, template, user_key)
        keys.append(user_key)
    assert users.name is not None
    instance_for(settings).add_dynamic_partitions(users.name, keys)
    built = time.perf_counter() - started
    timings = []
    for index in range(0, population - 1, max(1, (population - 1) // PURGED))[:PURGED]:
        started = time.perf_counter()
        certificate = purge(settings, f"bench-{index}")
        timings.append(time.perf_counter() - started)
        assert certificate.verified, certificate.remaining
    return {
        "users": population,
        "files_per_user": len(template),
        "population_build_s": round(built, 1),
        "purge_median_s": round(statistics.median(timings), 3),
        "purge_max_s": round(max(timings), 3),
    }


def main() -> None:
    """Run each population size in a fresh home; print and save the results."""
    parser = argparse.ArgumentParser(description="Purge time for one user as users grow.")
    parser.add_argument("--users", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    results = []
    for population in args.users:
        with tempfile.TemporaryDirectory() as home:
            result = measure(population, Path(home))
        print(json.dumps(result), flush=True)
        results.append(result)
    out = Path(__file__).parent / "results" / f"purge-{time.strftime('%Y-%m-%d')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
