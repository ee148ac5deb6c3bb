"""End-to-end ``healthex import`` throughput: one user's file of N resources, landed to curated.

The issue's target is a full import (raw landing, hashing, unpacking, every staging view, all
curated tables, their contracts and checks, serving) of 1,000,000 resources at 100,000
resources/s or more. The input is the flatten benchmark's file (``bench.population``, same seed,
the smaller sizes its prefixes), imported as one Fasten NDJSON export into a fresh
``HEALTHEX_HOME`` by the CLI in its own monitored subprocess, so the time includes everything a
user's import costs, start-up too. Writes ``bench/results/import-<date>.json`` (``--quick``:
``import-<date>-quick.json``, 10,000 resources) and a throughput plot.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from bench import machine
from bench.flatten_bench import RESULTS, ROOT, Inputs, run_monitored
from bench.plots import grouped_bars
from healthex_pipeline.transforms import models

SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000,)
TARGET_RESOURCES_PER_S = 100_000
# Only row counts are printed: the CLI's summary line (counts, the partition's pseudonym).
_CURATED = frozenset(model.name for model in models())


def _rows(summary: str) -> dict[str, int]:
    """Rows per curated table from the CLI's ``rows: table n, ...`` summary."""
    part = summary.split("rows: ", 1)[1].split(";", 1)[0]
    pairs = (item.rsplit(" ", 1) for item in part.split(", "))
    return {table: int(count) for table, count in pairs if table in _CURATED}


def import_size(inputs: Inputs, size: int, scratch: Path, time_box: float, cap: int) -> dict:
    """Import the first ``size`` resources as one user's file into a fresh home; time it."""
    home = scratch / f"home-{size}"
    log = scratch / f"import-{size}.log"
    source = inputs.ndjson(size)
    env = {**os.environ, "HEALTHEX_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    command = [
        sys.executable,
        "-m",
        "healthex_pipeline.cli",
        "import",
        "--user",
        f"bench-import-{size}",
        "--connector",
        "fasten",
        str(source),
    ]
    print(f"  healthex import of {size:,} resources ...", file=sys.stderr, flush=True)
    with log.open("wb") as out:
        monitored = run_monitored(command, time_box, cap, env=env, stdout=out)
    summary = log.read_text(errors="replace").strip().splitlines()
    last = summary[-1] if summary else ""
    ok = monitored["exit"] in (0, 3) and last.startswith("import ")
    seconds = monitored["wall_seconds"]
    return {
        "resources": size,
        "ndjson_bytes": source.stat().st_size,
        **monitored,
        "ok": ok,
        "resources_per_s": round(size / seconds) if ok else None,
        "mb_per_s": round(source.stat().st_size / 1e6 / seconds, 2) if ok else None,
        "curated_rows": _rows(last) if ok else None,
        "home_bytes": sum(p.stat().st_size for p in home.rglob("*") if p.is_file()),
    }


def table(report: Mapping[str, Any]) -> str:
    """The results as bench/README.md's Markdown table."""
    lines = [
        "| resources | MB | seconds | resources/s | MB/s | peak RSS | curated rows | home |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["sizes"]:
        rows = sum(r["curated_rows"].values()) if r["curated_rows"] else None
        lines.append(
            f"| {r['resources']:,} | {r['ndjson_bytes'] / 1e6:,.0f} | {r['wall_seconds']:,.1f} | "
            + (f"{r['resources_per_s']:,} | {r['mb_per_s']} | " if r["ok"] else "failed | | ")
            + f"{r['peak_rss_bytes'] / 1e9:.2f} GB | "
            + (f"{rows:,} | " if rows is not None else " | ")
            + f"{r['home_bytes'] / 1e6:,.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Import each size into its own home; 1 when an import failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.import_bench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="(100k 1M)")
    parser.add_argument("--quick", action="store_true", help="10,000 resources only.")
    parser.add_argument("--seed", type=int, default=7, help="Generator seed (7, as flatten).")
    parser.add_argument("--data", type=Path, help="Keep (or reuse) the generated input here.")
    parser.add_argument("--time-box", type=float, default=3600.0, help="Seconds a size (3600).")
    parser.add_argument("--rss-cap-gb", type=float, default=18.0, help="Kill past this (18).")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where results go.")
    parser.add_argument("--table", type=Path, help="Print a results JSON's table, and stop.")
    args = parser.parse_args(argv)
    if args.table:
        print(table(orjson.loads(args.table.read_bytes())))
        return 0
    sizes = sorted(set(QUICK_SIZES if args.quick else args.sizes))
    load_before = machine.load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="import-bench-") as temp:
        scratch = Path(temp)
        data = args.data or scratch
        data.mkdir(parents=True, exist_ok=True)
        inputs = Inputs(data, max(sizes), args.seed, sizes[:-1])
        cap = int(args.rss_cap_gb * (1 << 30))
        results = [import_size(inputs, size, scratch, args.time_box, cap) for size in sizes]
    largest = results[-1]
    report = {
        "benchmark": "import",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seed": args.seed,
        "command": "healthex import --connector fasten <population-N.ndjson> (fresh home)",
        "machine": machine.describe(),
        "load_average": {"before": load_before, "after": machine.load_average()},
        "total_seconds": round(time.perf_counter() - started, 1),
        "sizes": results,
        "target": {
            "resources_per_s": TARGET_RESOURCES_PER_S,
            "at_resources": largest["resources"],
            "measured_resources_per_s": largest["resources_per_s"],
            "met": bool(largest["ok"]) and largest["resources_per_s"] >= TARGET_RESOURCES_PER_S,
        },
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / (
        f"import-{dt.date.today().isoformat()}" + ("-quick" if args.quick else "")
    )
    out = stem.with_suffix(".json")
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    plot = grouped_bars(
        Path(f"{stem}-throughput.png"),
        {
            f"{r['resources']:,} resources": {"healthex import": r["resources_per_s"]}
            for r in results
        },
        ["healthex import"],
        title=f"healthex import end to end (target {TARGET_RESOURCES_PER_S:,} resources/s)",
        ylabel="resources/s",
        log=False,
    )
    print(table(report))
    print(f"target: {orjson.dumps(report['target']).decode()}")
    print(f"wrote {out.relative_to(ROOT)}, {plot.relative_to(ROOT)}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
