"""Flatten throughput: the lab ViewDefinition against the Python tools people use, same input.

Input: the project's synthetic population (``bench/population.py``: the resources
``healthex_pipeline.synthetic`` builds for its users' R4 deliveries, mixed types, one a line),
seeded, at 100,000 and 1,000,000 resources (``--quick``: 100,000). Every contender turns the same
resources into the same lab rows: the 37 columns of ``transforms/views/observation.json``, one
row per Observation.

Contenders, each in its own subprocess (its peak RSS is the child's, read from ``wait4``, and
the whole process tree's sampled RSS for the one that forks):

- ``viewdefinition``: the project's path, ``healthex_pipeline.sof.runner.run_view`` (what
  ``healthex sof run`` does: sample, compile, one DuckDB statement over a typed read);
- ``duckdb_explicit``: the hand-written DuckDB query of ``bench/sof_bench.py`` (``read_json``
  with an explicit ``columns=`` schema): the practical ceiling;
- ``duckdb_json_parse``: DuckDB parsing every line as JSON and reading only ``resourceType``
  (no extraction: it yields the row count only), the parse-only ceiling;
- ``fhir_resources``: every line parsed into its ``fhir.resources.R4B`` model, then the lab
  columns read from the Observation models in Python;
- ``fhiry_bundles`` / ``fhiry_bundles_parallel``: the lines wrapped into ``collection``
  Bundles (``--bundle-size`` entries each), flattened by fhiry's bundle path
  (``Fhiry.process_file`` per bundle, serially or in a 2-process pool as
  ``fhiry.parallel.process`` does), then the lab columns selected in pandas;
- ``fhiry_ndjson``: fhiry's NDJSON path (``Fhirndjson.process_source``), then the same pandas
  selection. It normalizes each line into its own DataFrame: it runs on a prefix of the 100k
  input only (``--fhiry-ndjson-resources``), never at 1M.

Every run is time-boxed (``--time-box``) and memory-capped (``--rss-cap-gb``): a contender
past either is killed and recorded as such. Row counts must agree across tools on the same
input (and equal the Observations generated), and a fingerprint of key columns
(id, status, codes, values, ranges, interpretation, encounter) must be the same for every tool
that returns rows. Results: ``bench/results/flatten-<date>.json`` and two PNG plots.

Run: ``python -m bench.flatten_bench [--sizes N ... | --quick]`` or ``make bench``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as a script: python bench/flatten_bench.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench import machine, plots
from bench.population import write_bundles, write_ndjson, write_prefix

ROOT = Path(__file__).resolve().parents[1]
VIEW = ROOT / "transforms" / "views" / "observation.json"
RESULTS = ROOT / "bench" / "results"
LOINC = "http://loinc.org"
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (100_000,)
FINGERPRINT_COLUMNS = (
    "id",
    "status",
    "identifier_value",
    "loinc_code",
    "value_quantity_value",
    "value_quantity_unit",
    "value_cc_code",
    "value_string",
    "ref_low",
    "ref_high",
    "interpretation",
    "encounter_ref",
)
TARGETS = {
    "viewdefinition_vs_duckdb_explicit_max": 1.5,
    "viewdefinition_vs_fhiry_fastest_min": 20.0,
    "viewdefinition_vs_fhir_resources_min": 60.0,
    "viewdefinition_peak_rss_bytes_at_1m_max": 1 << 30,
}


@dataclass(frozen=True, slots=True)
class Tool:
    """A contender: its name in results, what it is, and which input it reads."""

    name: str
    label: str
    reads: str  # "ndjson" or "bundles"
    repeat: bool = False
    """Run ``--repeat`` times, best kept: the DuckDB runs, short and compared with each other."""


TOOLS = (
    Tool("viewdefinition", "ViewDefinition (run_view, DuckDB)", "ndjson", repeat=True),
    Tool(
        "duckdb_explicit",
        "DuckDB read_json, explicit schema, hand-written SQL",
        "ndjson",
        repeat=True,
    ),
    Tool("duckdb_json_parse", "DuckDB JSON parse of every line, no extraction", "ndjson", True),
    Tool("fhir_resources", "fhir.resources R4B parse + Python extraction", "ndjson"),
    Tool("fhiry_bundles", "fhiry bundle path + pandas selection", "bundles"),
    Tool("fhiry_bundles_parallel", "fhiry bundle path, 2 processes + pandas", "bundles"),
    Tool("fhiry_ndjson", "fhiry NDJSON path + pandas selection", "ndjson"),
)
TOOL_BY_NAME = {tool.name: tool for tool in TOOLS}


def view_columns() -> list[str]:
    """The lab view's column names, in order."""
    view = orjson.loads(VIEW.read_bytes())
    return [column["name"] for select in view["select"] for column in select["column"]]


# ---------------------------------------------------------------------------------------------
# Row checks (pure; tests/bench/test_flatten_bench.py)


def cell(value: Any) -> str:
    """One value as fingerprint text: numbers by their float value, missing (None, NaN) empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        number = float(value)
        return "" if math.isnan(number) else repr(number)
    return str(value)


def fingerprint(rows: Iterable[Mapping[str, Any]]) -> str:
    """SHA-256 over the rows' FINGERPRINT_COLUMNS, order-independent (lines sorted)."""
    lines = sorted("\x1f".join(cell(row.get(c)) for c in FINGERPRINT_COLUMNS) for row in rows)
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def disagreements(results: Sequence[Mapping[str, Any]], expected_rows: int) -> list[str]:
    """What differs between the tools' results on one input, in words (empty: all agree).

    Each result that ran has ``rows`` (and ``fingerprint`` when the tool returns rows); all
    row counts must equal ``expected_rows`` and all fingerprints must be equal.
    """
    ran = [r for r in results if r.get("status") == "ok"]
    problems = [
        f"{r['tool']}: {r['rows']:,} rows, expected {expected_rows:,}"
        for r in ran
        if r["rows"] != expected_rows
    ]
    prints = {r["tool"]: r["fingerprint"] for r in ran if r.get("fingerprint")}
    if len(set(prints.values())) > 1:
        groups: dict[str, list[str]] = {}
        for tool, value in prints.items():
            groups.setdefault(value[:12], []).append(tool)
        problems.append(
            "fingerprints differ: "
            + "; ".join(f"{key}: {', '.join(tools)}" for key, tools in groups.items())
        )
    return problems


def speedup(viewdefinition_rate: float | None, rate: float | None) -> float | None:
    """How many times the ViewDefinition path's resources/s is the tool's (None if unknown)."""
    if not viewdefinition_rate or not rate:
        return None
    return round(viewdefinition_rate / rate, 3)


# ---------------------------------------------------------------------------------------------
# Row extraction of the Python contenders (the view's FHIRPath rules, by hand)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _scalar(value: Any) -> Any:
    return None if _missing(value) else value


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(values: Iterable[Any]) -> Any:
    return next((v for v in values if not _missing(v)), None)


def _codings(concepts: Any) -> list[dict[str, Any]]:
    return [x for c in _items(concepts) for x in _items(c.get("coding"))]


def pandas_lab_rows(frame: Any) -> Any:
    """The lab view's columns selected from a fhiry DataFrame (one row per Observation).

    Column by column: plain columns are taken as they are; the list-valued ones (codings,
    identifiers, ranges, interpretations) follow the view's FHIRPath (first non-empty value).
    """
    pandas = importlib.import_module("pandas")
    observations = frame[frame["resourceType"] == "Observation"].reset_index(drop=True)
    present = set(observations.columns)

    def column(name: str) -> Any:
        if name in present:
            return observations[name].astype(object).where(observations[name].notna(), None)
        return pandas.Series([None] * len(observations), dtype=object)

    def derived(name: str, rule: Callable[[Any], Any]) -> Any:
        return column(name).map(rule)

    def loinc(key: str) -> Callable[[Any], Any]:
        return lambda v: _first(x.get(key) for x in _items(v) if x.get("system") == LOINC)

    def head(key: str) -> Callable[[Any], Any]:
        return lambda v: _items(v)[0].get(key) if _items(v) else None

    def coded(key: str) -> Callable[[Any], Any]:
        return lambda v: _first(x.get(key) for x in _codings(v))

    def flat(key: str) -> Callable[[Any], Any]:
        return lambda v: _first(x.get(key) for x in _items(v))

    def ranged(side: str) -> Callable[[Any], Any]:
        return lambda v: _first((r.get(side) or {}).get("value") for r in _items(v))

    def identified(key: str) -> Callable[[Any], Any]:
        return lambda v: _first(i.get(key) for i in _items(v) if not _missing(i.get("value")))

    columns = {
        "id": column("id"),
        "version_id": column("meta.versionId"),
        "last_updated": column("meta.lastUpdated"),
        "identifier_system": derived("identifier", identified("system")),
        "identifier_value": derived("identifier", identified("value")),
        "status": column("status"),
        "category_codes": derived(
            "category", lambda v: [x["code"] for x in _codings(v) if "code" in x]
        ),
        "loinc_code": derived("code.coding", loinc("code")),
        "loinc_display": derived("code.coding", loinc("display")),
        "first_code": derived("code.coding", head("code")),
        "first_system": derived("code.coding", head("system")),
        "first_display": derived("code.coding", head("display")),
        "code_text": column("code.text"),
        "effective_datetime": column("effectiveDateTime"),
        "effective_instant": column("effectiveInstant"),
        "effective_period_start": column("effectivePeriod.start"),
        "issued": column("issued"),
        "value_quantity_value": column("valueQuantity.value"),
        "value_quantity_unit": column("valueQuantity.unit"),
        "value_quantity_code": column("valueQuantity.code"),
        "value_quantity_system": column("valueQuantity.system"),
        "value_quantity_comparator": column("valueQuantity.comparator"),
        "value_string": column("valueString"),
        "value_cc_text": column("valueCodeableConcept.text"),
        "value_cc_display": derived("valueCodeableConcept.coding", flat("display")),
        "value_cc_code": derived("valueCodeableConcept.coding", flat("code")),
        "value_boolean": column("valueBoolean"),
        "value_integer": column("valueInteger"),
        "value_range_low": column("valueRange.low.value"),
        "value_range_high": column("valueRange.high.value"),
        "ref_low": derived("referenceRange", ranged("low")),
        "ref_high": derived("referenceRange", ranged("high")),
        "ref_text": derived("referenceRange", flat("text")),
        "interpretation": derived("interpretation", coded("code")),
        "interpretation_display": derived("interpretation", coded("display")),
        "interpretation_text": derived("interpretation", flat("text")),
        "encounter_ref": column("encounter.reference"),
    }
    return pandas.DataFrame(columns)[view_columns()]


def _model_row(o: Any) -> dict[str, Any]:
    """The lab view's columns read from a ``fhir.resources`` Observation model."""

    def codings(concepts: Any) -> list[Any]:
        return [x for c in concepts or () for x in c.coding or ()]

    identifier = _first(i for i in o.identifier or () if i.value is not None)
    coding = list(o.code.coding or ()) if o.code else []
    loinc = [x for x in coding if x.system == LOINC]
    head = coding[0] if coding else None
    quantity, cc, value_range = o.valueQuantity, o.valueCodeableConcept, o.valueRange
    ranges = o.referenceRange or ()
    interpretation = o.interpretation or ()
    return {
        "id": o.id,
        "version_id": o.meta.versionId if o.meta else None,
        "last_updated": o.meta.lastUpdated if o.meta else None,
        "identifier_system": identifier.system if identifier else None,
        "identifier_value": identifier.value if identifier else None,
        "status": o.status,
        "category_codes": [x.code for x in codings(o.category) if x.code is not None],
        "loinc_code": _first(x.code for x in loinc),
        "loinc_display": _first(x.display for x in loinc),
        "first_code": head.code if head else None,
        "first_system": head.system if head else None,
        "first_display": head.display if head else None,
        "code_text": o.code.text if o.code else None,
        "effective_datetime": o.effectiveDateTime,
        "effective_instant": o.effectiveInstant,
        "effective_period_start": o.effectivePeriod.start if o.effectivePeriod else None,
        "issued": o.issued,
        "value_quantity_value": quantity.value if quantity else None,
        "value_quantity_unit": quantity.unit if quantity else None,
        "value_quantity_code": quantity.code if quantity else None,
        "value_quantity_system": quantity.system if quantity else None,
        "value_quantity_comparator": quantity.comparator if quantity else None,
        "value_string": o.valueString,
        "value_cc_text": cc.text if cc else None,
        "value_cc_display": _first(x.display for x in cc.coding or ()) if cc else None,
        "value_cc_code": _first(x.code for x in cc.coding or ()) if cc else None,
        "value_boolean": o.valueBoolean,
        "value_integer": o.valueInteger,
        "value_range_low": value_range.low.value if value_range and value_range.low else None,
        "value_range_high": value_range.high.value if value_range and value_range.high else None,
        "ref_low": _first(r.low.value for r in ranges if r.low),
        "ref_high": _first(r.high.value for r in ranges if r.high),
        "ref_text": _first(r.text for r in ranges),
        "interpretation": _first(x.code for x in codings(interpretation)),
        "interpretation_display": _first(x.display for x in codings(interpretation)),
        "interpretation_text": _first(i.text for i in interpretation),
        "encounter_ref": o.encounter.reference if o.encounter else None,
    }


# ---------------------------------------------------------------------------------------------
# The contenders, as run inside a worker subprocess. Each returns (rows, detail); rows is an
# Arrow table, a pandas DataFrame, a list of dicts, or an int (a count without rows).


def _progress(total: int, desc: str) -> Any:
    tqdm = importlib.import_module("tqdm").tqdm
    return tqdm(total=total, desc=desc, unit="res", mininterval=2.0, file=sys.stderr)


def _run_viewdefinition(path: Path, _: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    from healthex_pipeline.sof.runner import run_view

    result = run_view(orjson.loads(VIEW.read_bytes()), [path])
    return result.table, {"read": result.read}


def _run_duckdb_explicit(path: Path, _: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    from bench.sof_bench import run_hand_written

    return run_hand_written(path), {}


def _run_duckdb_json_parse(path: Path, _: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    import duckdb

    con = duckdb.connect()
    try:
        [(count,)] = con.execute(
            "SELECT count(*) FROM read_ndjson_objects(?)"
            " WHERE json_extract_string(json, '$.resourceType') = 'Observation'",
            [str(path)],
        ).fetchall()
    finally:
        con.close()
    return int(count), {}


def _run_fhir_resources(path: Path, _: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    from fhir.resources.R4B import get_fhir_model_class

    classes: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    with path.open("rb") as lines, _progress(total, "fhir.resources") as bar:
        for number, line in enumerate(lines, start=1):
            data = orjson.loads(line)
            kind = data["resourceType"]
            model_class = classes.get(kind) or classes.setdefault(kind, get_fhir_model_class(kind))
            model = model_class.model_validate(data)
            if kind == "Observation":
                rows.append(_model_row(model))
            if number % 10_000 == 0:
                bar.update(10_000)
        bar.update(total - bar.n)
    return rows, {"model_package": "fhir.resources.R4B"}


def _fhiry_bundle(directory: Path, processes: int, total: int) -> tuple[Any, dict[str, Any]]:
    pandas = importlib.import_module("pandas")
    fhiry = importlib.import_module("fhiry")
    flattener = fhiry.Fhiry()
    # Keep the raw codings: the view picks the LOINC coding by system, which fhiry's
    # comma-joined ".codes" columns no longer hold.
    flattener.delete_col_raw_coding = False
    files = sorted(str(p) for p in directory.glob("*.json"))
    tqdm = importlib.import_module("tqdm").tqdm
    bar = tqdm(total=len(files), desc="fhiry bundles", unit="bundle", file=sys.stderr)
    if processes == 1:
        frames = []
        for file in files:
            frames.append(flattener.process_file(file))
            bar.update(1)
    else:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(processes) as pool:
            frames = []
            for frame in pool.imap(flattener.process_file, files):
                frames.append(frame)
                bar.update(1)
    bar.close()
    frame = pandas.concat([f for f in frames if not f.empty], ignore_index=True)
    return pandas_lab_rows(frame), {"bundles": len(files), "processes": processes}


def _run_fhiry_bundles(_: Path, bundles: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    assert bundles is not None
    return _fhiry_bundle(bundles, 1, total)


def _run_fhiry_bundles_parallel(
    _: Path, bundles: Path | None, total: int
) -> tuple[Any, dict[str, Any]]:
    assert bundles is not None
    return _fhiry_bundle(bundles, 2, total)


def _run_fhiry_ndjson(path: Path, _: Path | None, total: int) -> tuple[Any, dict[str, Any]]:
    fhiry = importlib.import_module("fhiry")
    flattener = fhiry.Fhirndjson()
    flattener.delete_col_raw_coding = False
    # fhiry reads every *.ndjson file of a folder: give it a folder holding this input alone.
    folder = Path(tempfile.mkdtemp(prefix="fhiry-ndjson-"))
    (folder / "Resources.ndjson").symlink_to(path.resolve())
    try:
        flattener.folder = str(folder)
        flattener.process_source()
    finally:
        (folder / "Resources.ndjson").unlink()
        folder.rmdir()
    return pandas_lab_rows(flattener.df), {}


RUNS: dict[str, Callable[[Path, Path | None, int], tuple[Any, dict[str, Any]]]] = {
    "viewdefinition": _run_viewdefinition,
    "duckdb_explicit": _run_duckdb_explicit,
    "duckdb_json_parse": _run_duckdb_json_parse,
    "fhir_resources": _run_fhir_resources,
    "fhiry_bundles": _run_fhiry_bundles,
    "fhiry_bundles_parallel": _run_fhiry_bundles_parallel,
    "fhiry_ndjson": _run_fhiry_ndjson,
}
_IMPORTS = {
    "viewdefinition": ("healthex_pipeline.sof.runner",),
    "duckdb_explicit": ("bench.sof_bench",),
    "duckdb_json_parse": ("duckdb",),
    "fhir_resources": ("fhir.resources.R4B", "fhir.resources.R4B.observation", "tqdm"),
    "fhiry_bundles": ("fhiry", "pandas", "tqdm"),
    "fhiry_bundles_parallel": ("fhiry", "pandas", "tqdm"),
    "fhiry_ndjson": ("fhiry", "pandas"),
}


def _as_rows(rows: Any) -> tuple[int, list[str] | None, Iterable[Mapping[str, Any]] | None]:
    """Row count, column names and the rows as dicts (for the fingerprint).

    Arrow rows are converted a batch at a time: the check must not cost more memory than the
    flatten it checks (a list of 776k dicts outweighed the ViewDefinition's own peak).
    """
    if isinstance(rows, int):
        return rows, None, None
    if isinstance(rows, list):
        return len(rows), (list(rows[0]) if rows else view_columns()), rows
    if hasattr(rows, "to_pylist"):  # Arrow
        selected = rows.select(FINGERPRINT_COLUMNS)
        records = (r for batch in selected.to_batches(65_536) for r in batch.to_pylist())
        return rows.num_rows, list(rows.column_names), records
    records = rows[list(FINGERPRINT_COLUMNS)].to_dict("records")  # pandas
    return len(rows), [str(c) for c in rows.columns], records


def run_worker(tool: str, path: Path, bundles: Path | None, total: int, repeat: int) -> dict:
    """Time ``tool`` on the input (best of ``repeat`` runs); its rows, checked afterwards."""
    for module in _IMPORTS[tool]:
        importlib.import_module(module)  # imports are not the tool's throughput
    run = RUNS[tool]
    best: tuple[float, float] | None = None
    rows: Any = None
    detail: dict[str, Any] = {}
    runs = 0
    while True:
        rows = None  # the previous run's rows must not count in this run's peak RSS
        wall, cpu = time.perf_counter(), time.process_time()
        rows, detail = run(path, bundles, total)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs += 1
        best = (wall, cpu) if best is None or wall < best[0] else best
        if runs >= repeat:
            break
    # The worker's peak before the row check (the check's own allocations come after).
    flatten_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    count, columns, records = _as_rows(rows)
    return {
        "seconds": round(best[0], 4),
        "cpu_seconds_in_process": round(best[1], 4),
        "flatten_peak_rss_bytes": flatten_peak,
        "runs": runs,
        "rows": count,
        "columns": columns,
        "fingerprint": fingerprint(records) if records is not None else None,
        "detail": detail,
    }


# ---------------------------------------------------------------------------------------------
# The parent: data, one monitored subprocess per contender, checks, report.


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants, from /proc (0 when it is gone)."""
    total = 0
    pending = [pid]
    page = os.sysconf("SC_PAGE_SIZE")
    while pending:
        current = pending.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * page
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total


def run_monitored(
    command: Sequence[str],
    time_box: float,
    rss_cap: int,
    env: Mapping[str, str] | None = None,
    stdout: IO[bytes] | None = None,
) -> dict[str, Any]:
    """Run ``command`` in its own session; kill it past ``time_box`` s or ``rss_cap`` bytes.

    Its output goes to ``stdout`` (default: this process's stderr), its environment is ``env``.

    Returns the exit status, wall time, the child's peak RSS (``ru_maxrss``: the largest
    process among it and its reaped descendants), the process tree's sampled peak RSS, and
    the child's CPU seconds (user + system, its reaped descendants included).
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=stdout or sys.stderr,
        stderr=stdout,
        start_new_session=True,
    )
    peak_tree = 0
    killed: str | None = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak_tree = max(peak_tree, _tree_rss(process.pid))
        elapsed = time.perf_counter() - started
        if killed is None and (elapsed > time_box or peak_tree > rss_cap):
            killed = "time box" if elapsed > time_box else "memory cap"
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.1 if elapsed < 5 else 0.5)
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": process.returncode,
        "killed": killed,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "peak_rss_bytes": max(usage.ru_maxrss * 1024, peak_tree),
        "child_max_rss_bytes": usage.ru_maxrss * 1024,
        "tree_sampled_peak_rss_bytes": peak_tree,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
    }


@dataclass(frozen=True, slots=True)
class Plan:
    """What runs at one size: per tool, on how many resources (None: all) or why it is skipped."""

    size: int
    caps: Mapping[str, int]
    skips: Mapping[str, str]


def plans(sizes: Sequence[int], quick: bool, fhiry_ndjson_resources: int) -> list[Plan]:
    """Per size, which tools run on a prefix and which are skipped, with the reasons recorded."""
    result = []
    smallest = min(sizes)
    for size in sizes:
        caps: dict[str, int] = {}
        skips: dict[str, str] = {}
        if size == smallest:
            caps["fhiry_ndjson"] = min(fhiry_ndjson_resources, size)
        else:
            skips["fhiry_ndjson"] = (
                "fhiry's NDJSON path normalizes every line into its own DataFrame and grows worse"
                " than linearly (9 GB at 100k in the issue's measurement): run at the smallest"
                " size only"
            )
        if quick:  # the slow Python contenders on prefixes: the quick run stays near a minute
            caps.update(fhir_resources=min(5_000, size), fhiry_bundles=min(10_000, size))
            skips["fhiry_bundles_parallel"] = "quick mode (a 10k prefix is a single bundle)"
        result.append(Plan(size, {k: v for k, v in caps.items() if v < size}, skips))
    return result


class Inputs:
    """The generated population file and, on demand, its prefixes and their bundle folders."""

    def __init__(self, directory: Path, largest: int, seed: int, checkpoints: Sequence[int]):
        self.directory = directory
        self.seed = seed
        self.full = directory / f"population-{largest}-{seed}.ndjson"
        sidecar = self.full.with_suffix(".types.json")
        self.reused = self.full.exists() and sidecar.exists()
        if self.reused:
            types = {int(k): v for k, v in orjson.loads(sidecar.read_bytes()).items()}
        else:
            types = write_ndjson(self.full, largest, seed, checkpoints)
            sidecar.write_bytes(orjson.dumps({str(k): v for k, v in types.items()}))
        self.types = types
        self.largest = largest

    def ndjson(self, count: int) -> Path:
        """The first ``count`` resources as a file (the population of that size)."""
        if count == self.largest:
            return self.full
        path = self.directory / f"population-{count}-{self.seed}.ndjson"
        if not path.exists():
            write_prefix(self.full, path, count)
        return path

    def bundles(self, count: int, per_bundle: int) -> tuple[Path, int]:
        """A folder of Bundles holding the first ``count`` resources, and its bytes."""
        folder = self.directory / f"population-{count}-{self.seed}-bundles-{per_bundle}"
        if not folder.exists():
            write_bundles(self.ndjson(count), folder, per_bundle)
        return folder, sum(p.stat().st_size for p in folder.glob("*.json"))

    def observations(self, count: int) -> int:
        """Observations among the first ``count`` resources (counted when generated)."""
        if count not in self.types:  # a kept input generated for other sizes: count them
            import duckdb

            con = duckdb.connect()
            try:
                counted = con.execute(
                    "SELECT json_extract_string(json, '$.resourceType'), count(*)"
                    " FROM read_ndjson_objects(?) GROUP BY ALL ORDER BY 1",
                    [str(self.ndjson(count))],
                ).fetchall()
            finally:
                con.close()
            self.types[count] = {str(kind): int(n) for kind, n in counted}
        return self.types[count].get("Observation", 0)


def _entry(
    tool: Tool, resources: int, ndjson_bytes: int, monitored: dict, worker: dict | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"tool": tool.name, "label": tool.label, "resources": resources}
    entry.update(monitored)
    if worker is None:
        entry["status"] = "killed" if monitored["killed"] else "failed"
        entry["reason"] = (
            f"killed by the {monitored['killed']}"
            if monitored["killed"]
            else f"exit {monitored['exit']}"
        )
        return entry
    entry.update(worker)
    entry["status"] = "ok"
    entry["resources_per_second"] = round(resources / worker["seconds"])
    entry["mb_per_second"] = round(ndjson_bytes / 1e6 / worker["seconds"], 2)
    if worker["cpu_seconds_in_process"] > 0:  # the pool's workers are not in this process
        entry["resources_per_cpu_second"] = round(resources / worker["cpu_seconds_in_process"])
    return entry


def run_tool(
    tool: Tool,
    inputs: Inputs,
    count: int,
    args: argparse.Namespace,
    scratch: Path,
    repeat: int = 1,
) -> dict[str, Any]:
    """One contender on the first ``count`` resources, in a monitored subprocess."""
    path = inputs.ndjson(count)
    command = [
        sys.executable,
        "-m",
        "bench.flatten_bench",
        "--worker",
        tool.name,
        "--input",
        str(path),
        "--resources",
        str(count),
        "--repeat",
        str(repeat),
    ]
    extra: dict[str, Any] = {}
    if tool.reads == "bundles":
        folder, bundle_bytes = inputs.bundles(count, args.bundle_size)
        command += ["--bundles", str(folder)]
        extra = {"bundle_size": args.bundle_size, "bundle_bytes": bundle_bytes}
    out = scratch / f"{tool.name}-{count}.json"
    out.unlink(missing_ok=True)
    command += ["--out", str(out)]
    print(f"  {tool.name} on {count:,} resources ...", file=sys.stderr, flush=True)
    monitored = run_monitored(command, args.time_box, int(args.rss_cap_gb * (1 << 30)))
    worker = orjson.loads(out.read_bytes()) if out.exists() and monitored["exit"] == 0 else None
    entry = _entry(tool, count, path.stat().st_size, monitored, worker)
    entry.update(extra)
    return entry


def _line(entry: Mapping[str, Any]) -> str:
    name = f"{entry['tool']:24s} {entry['resources']:>9,}"
    if entry["status"] != "ok":
        return f"{name}  {entry['status']}: {entry.get('reason', '')}"
    ratio = entry.get("viewdefinition_speedup")
    return (
        f"{name}  {entry['seconds']:9.2f} s {entry['resources_per_second']:>10,} res/s"
        f" {entry['mb_per_second']:8.1f} MB/s  peak RSS {entry['peak_rss_bytes'] / 1e9:6.2f} GB"
        + (f"  VD x{ratio:g}" if ratio is not None else "")
    )


def run_size(
    plan: Plan, inputs: Inputs, tools: Sequence[Tool], args: argparse.Namespace, scratch: Path
) -> dict[str, Any]:
    """All contenders at one size, with the ViewDefinition reference on every prefix used."""
    size = plan.size
    print(f"{size:,} resources:", file=sys.stderr, flush=True)
    entries: list[dict[str, Any]] = []
    for tool in tools:
        if tool.name in plan.skips:
            entries.append(
                {
                    "tool": tool.name,
                    "label": tool.label,
                    "resources": size,
                    "status": "skipped",
                    "reason": plan.skips[tool.name],
                }
            )
        else:
            count = plan.caps.get(tool.name, size)
            repeat = args.repeat if tool.repeat else 1
            entries.append(run_tool(tool, inputs, count, args, scratch, repeat))
        print("  " + _line(entries[-1]), file=sys.stderr, flush=True)
    # The ViewDefinition on every prefix a capped tool read: that input's reference rows.
    references = []
    for count in sorted({plan.caps[t.name] for t in tools if t.name in plan.caps}):
        entry = run_tool(TOOL_BY_NAME["viewdefinition"], inputs, count, args, scratch)
        entry["role"] = "reference rows for the prefix"
        references.append(entry)
    base = next((e for e in entries if e["tool"] == "viewdefinition"), None)
    base_rate = base.get("resources_per_second") if base else None
    for entry in entries:
        entry["viewdefinition_speedup"] = speedup(base_rate, entry.get("resources_per_second"))
    checks = {}
    for count in sorted({e["resources"] for e in entries + references}):
        group = [e for e in entries + references if e["resources"] == count]
        problems = disagreements(group, inputs.observations(count))
        columns = view_columns()
        problems += [
            f"{e['tool']}: columns differ from the view's"
            for e in group
            if e.get("status") == "ok" and e.get("columns") not in (None, columns)
        ]
        checks[str(count)] = problems
    path = inputs.ndjson(size)
    return {
        "resources": size,
        "ndjson_bytes": path.stat().st_size,
        "observations": inputs.observations(size),
        "resource_types": inputs.types[size],
        "results": entries,
        "prefix_references": references,
        "disagreements": checks,
        "rows_agree": not any(checks.values()),
    }


def targets(report_sizes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The issue's targets, evaluated on the largest size measured."""
    section = max(report_sizes, key=lambda s: s["resources"])
    by_tool = {e["tool"]: e for e in section["results"] if e.get("status") == "ok"}
    vd = by_tool.get("viewdefinition")
    out: dict[str, Any] = {"at_resources": section["resources"]}
    if vd is None:
        return out
    hand = by_tool.get("duckdb_explicit")
    if hand:
        ratio = round(vd["seconds"] / hand["seconds"], 3)
        out["viewdefinition_time_over_duckdb_explicit"] = ratio
        out["within_1_5x_of_duckdb_explicit"] = (
            ratio <= TARGETS["viewdefinition_vs_duckdb_explicit_max"]
        )
    fhiry_rates = {
        name: e["resources_per_second"] for name, e in by_tool.items() if name.startswith("fhiry")
    }
    if fhiry_rates:
        fastest = max(fhiry_rates, key=lambda name: fhiry_rates[name])
        times = vd["resources_per_second"] / fhiry_rates[fastest]
        out["fhiry_fastest_path"] = fastest
        out["viewdefinition_over_fhiry_fastest"] = round(times, 1)
        out["at_least_20x_fhiry"] = times >= TARGETS["viewdefinition_vs_fhiry_fastest_min"]
    if "fhir_resources" in by_tool:
        times = vd["resources_per_second"] / by_tool["fhir_resources"]["resources_per_second"]
        out["viewdefinition_over_fhir_resources"] = round(times, 1)
        out["at_least_60x_fhir_resources"] = (
            times >= TARGETS["viewdefinition_vs_fhir_resources_min"]
        )
    out["viewdefinition_peak_rss_bytes"] = vd["peak_rss_bytes"]
    out["viewdefinition_peak_rss_under_1_gib"] = (
        vd["peak_rss_bytes"] < TARGETS["viewdefinition_peak_rss_bytes_at_1m_max"]
    )
    return out


def markdown_table(report: Mapping[str, Any]) -> str:
    """The results as the Markdown table of ``bench/README.md``, one row per tool and size."""
    lines = [
        "| tool | resources | seconds | resources/s | MB/s | peak RSS | ViewDefinition × |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for section in report["sizes"]:
        for e in section["results"]:
            label = f"{e['tool']}"
            if e["status"] != "ok":
                reason = e.get("reason", "")
                lines.append(f"| {label} | {e['resources']:,} | {e['status']}: {reason} | | | | |")
                continue
            prefix = " (prefix)" if e["resources"] != section["resources"] else ""
            ratio = e.get("viewdefinition_speedup")
            times = "" if ratio is None else f"{ratio:,.3g}" if ratio < 1000 else f"{ratio:,.0f}"
            lines.append(
                f"| {label} | {e['resources']:,}{prefix} | {e['seconds']:,.2f}"
                f" | {e['resources_per_second']:,} | {e['mb_per_second']:,.3g}"
                f" | {e['peak_rss_bytes'] / 1e9:.2f} GB | {times} |"
            )
    return "\n".join(lines)


def write_plots(report: Mapping[str, Any], stem: Path) -> list[Path]:
    """Resources/s (log scale) and peak RSS per tool and size, as PNGs beside the JSON."""
    tools = [t.name for t in TOOLS]
    rates: dict[str, dict[str, float | None]] = {}
    rss: dict[str, dict[str, float | None]] = {}
    for section in report["sizes"]:
        group = f"{section['resources']:,} resources"
        ok = [e for e in section["results"] if e.get("status") == "ok"]
        rates[group] = {e["tool"]: e["resources_per_second"] for e in ok}
        rss[group] = {e["tool"]: e["peak_rss_bytes"] / 1e9 for e in ok}
    return [
        plots.grouped_bars(
            stem.with_name(stem.name + "-throughput.png"),
            rates,
            tools,
            title="Flatten throughput, lab view columns (higher is better)",
            ylabel="resources / s (log)",
            log=True,
        ),
        plots.grouped_bars(
            stem.with_name(stem.name + "-rss.png"),
            rss,
            tools,
            title="Peak RSS while flattening (lower is better)",
            ylabel="GB",
            log=False,
        ),
    ]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flatten_bench", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="(100k 1M)")
    parser.add_argument("--quick", action="store_true", help="100k only, slow tools on prefixes.")
    parser.add_argument("--seed", type=int, default=7, help="Generator seed (7).")
    parser.add_argument(
        "--repeat", type=int, help="Runs of each DuckDB contender, best kept (3; quick 2)."
    )
    parser.add_argument(
        "--tools", nargs="+", choices=[t.name for t in TOOLS], help="Only these contenders."
    )
    parser.add_argument(
        "--bundle-size", type=int, default=10_000, help="Entries per Bundle for fhiry (10,000)."
    )
    parser.add_argument(
        "--fhiry-ndjson-resources",
        type=int,
        help="Resources fhiry's NDJSON path reads at the smallest size (3,000; quick 100).",
    )
    parser.add_argument("--time-box", type=float, help="Seconds per contender (1800; quick 30).")
    parser.add_argument("--rss-cap-gb", type=float, default=14.0, help="Kill past this (14).")
    parser.add_argument("--data", type=Path, help="Keep generated input here (reused).")
    parser.add_argument("--results", type=Path, default=RESULTS, help="Where results go.")
    parser.add_argument("--no-plots", action="store_true", help="Skip the PNG plots.")
    parser.add_argument(
        "--table", type=Path, help="Print a results JSON as bench/README.md's table, and stop."
    )
    parser.add_argument("--worker", choices=list(RUNS), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bundles", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--resources", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = list(QUICK_SIZES)
    if args.fhiry_ndjson_resources is None:
        args.fhiry_ndjson_resources = 100 if args.quick else 3_000
    if args.repeat is None:
        args.repeat = 2 if args.quick else 3
    if args.time_box is None:
        args.time_box = 30.0 if args.quick else 1800.0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate, run every contender at every size, check rows, report; 1 when rows disagree."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.table:
        print(markdown_table(orjson.loads(args.table.read_bytes())))
        return 0
    if args.worker:
        result = run_worker(args.worker, args.input, args.bundles, args.resources, args.repeat)
        args.out.write_bytes(orjson.dumps(result))
        return 0
    tools = [t for t in TOOLS if not args.tools or t.name in args.tools]
    if "viewdefinition" not in [t.name for t in tools]:
        tools.insert(0, TOOL_BY_NAME["viewdefinition"])
    sizes = sorted(set(args.sizes))
    size_plans = plans(sizes, args.quick, args.fhiry_ndjson_resources)
    load_before = machine.load_average()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="flatten-bench-") as temp:
        scratch = Path(temp)
        data = args.data or scratch
        data.mkdir(parents=True, exist_ok=True)
        checkpoints = sorted(
            {*sizes, *(c for p in size_plans for c in p.caps.values())} - {max(sizes)}
        )
        generating = time.perf_counter()
        inputs = Inputs(data, max(sizes), args.seed, checkpoints)
        generated: float | None = time.perf_counter() - generating
        if inputs.reused:
            generated = None
        sections: list[dict[str, Any]] = []
        for plan in size_plans:
            sections.append(run_size(plan, inputs, tools, args, scratch))
            _write_report(args, _report(args, sections, load_before, started, generated))
    report = _report(args, sections, load_before, started, generated)
    out = _write_report(args, report)
    stem = out.with_suffix("")
    written = [out] if args.no_plots else [out, *write_plots(report, stem)]
    for section in sections:
        print(f"{section['resources']:,} resources ({section['ndjson_bytes'] / 1e6:,.0f} MB):")
        for entry in section["results"]:
            print("  " + _line(entry))
    print(f"targets: {orjson.dumps(report['targets']).decode()}")
    print(f"load average {load_before} -> {report['load_average']['after']}; wrote", end=" ")
    print(", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in written))
    problems = [p for s in sections for ps in s["disagreements"].values() for p in ps]
    if problems:
        print("rows disagree: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def _write_report(args: argparse.Namespace, report: Mapping[str, Any]) -> Path:
    """Write (or rewrite, after each size) ``flatten-<date>.json``; returns its path.

    A ``--quick`` run writes ``flatten-<date>-quick.json``: it never replaces a full run's.
    """
    args.results.mkdir(parents=True, exist_ok=True)
    name = f"flatten-{dt.date.today().isoformat()}" + ("-quick" if args.quick else "")
    out = args.results / f"{name}.json"
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return out


def _report(
    args: argparse.Namespace,
    sections: list[dict[str, Any]],
    load_before: list[float],
    started: float,
    generated: float | None,
) -> dict[str, Any]:
    return {
        "benchmark": "flatten",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "seed": args.seed,
        "input": {
            "generator": "bench.population: the project's synthetic population"
            " (healthex_pipeline.synthetic), R4 deliveries' resources one a line",
            "smaller_sizes_are_prefixes_of_the_largest": True,
            "generation_seconds": None if generated is None else round(generated, 1),
            "reused_from_data_dir": generated is None,
            "bundle_size": args.bundle_size,
        },
        "view": str(VIEW.relative_to(ROOT)),
        "repeat": args.repeat,
        "time_box_seconds": args.time_box,
        "rss_cap_bytes": int(args.rss_cap_gb * (1 << 30)),
        "machine": machine.describe(),
        "load_average": {"before": load_before, "after": machine.load_average()},
        "total_seconds": round(time.perf_counter() - started, 1),
        "sizes": sections,
        "targets": targets(sections),
    }


if __name__ == "__main__":
    raise SystemExit(main())
