"""Every case of the bad-input corpus (``tests/corpus``) has the outcome its manifest promises.

Cases are imported in a few batches (one import per connector × outcome, a Dagster run each) so
the module stays fast; each case is then checked on its own by its files' raw hashes: the
quarantine rows it produced, the curated rows that landed from it, and the report's lines. Case
resources carry their case's name in their ids, so batching cannot mix their rows. The large
cases (1 MiB strings, a huge bundle) are generated into a temporary folder by the same script.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from healthex_pipeline.importer import ImportReport, import_files
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse
from tests.corpus import generate
from tests.pipeline.tables import CURATED_TABLES, quarantine, read_frame

CORPUS = generate.HERE
MANIFEST: list[dict[str, Any]] = json.loads((CORPUS / generate.EXPECTED).read_text())["cases"]
BY_NAME = {case["name"]: case for case in MANIFEST}


@dataclass(frozen=True)
class Batch:
    """One import of several cases, and where each case's files sat in it."""

    report: ImportReport
    position: dict[tuple[str, str], int]  # (case, file) -> input position
    sha: dict[tuple[str, str], str]  # (case, file) -> raw sha256
    metadata: dict[str, int]  # "<asset>.<key>" -> value
    quarantine: pl.DataFrame
    curated: dict[str, pl.DataFrame]


def _batch_key(case: dict[str, Any]) -> str:
    """Cases imported together: by where the bad part is refused, per connector.

    Exclusions share the accepting batch: their counts are partition-wide run metadata, and
    no accepted case adds to them (``test_exclusion_counts_belong_to_one_case_per_batch``).
    """
    if case["connector"] != "healthex":
        return case["connector"]
    if case["outcome"] in (generate.ACCEPT_NORMALIZED, generate.EXCLUDE_WITH_COUNT):
        return "healthex-lands"
    return f"healthex-{case['outcome']}"


def _run_metadata(settings: Settings, run_id: str) -> dict[str, int]:
    """Integer metadata of the run's materializations, keyed ``<asset>.<key>``."""
    values: dict[str, int] = {}
    records = instance_for(settings).all_logs(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    for record in records:
        event = record.dagster_event
        if event is None or event.asset_key is None:
            continue
        materialization = event.step_materialization_data.materialization
        for key, entry in materialization.metadata.items():
            if isinstance(entry.value, int) and not isinstance(entry.value, bool):
                values[f"{event.asset_key.path[-1]}.{key}"] = entry.value
    return values


def _curated(settings: Settings, user_key: str, connector: str) -> dict[str, pl.DataFrame]:
    warehouse = Warehouse.for_settings(settings)
    frames = {}
    for table in CURATED_TABLES:
        path = warehouse.partition_file(table, user_key, connector)
        frames[table] = read_frame(settings, path) if path.exists() else pl.DataFrame()
    return frames


@pytest.fixture(scope="module")
def batches(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Batch]:
    """Import every case, batched by connector and outcome, into one fresh home."""
    settings = Settings(home=tmp_path_factory.mktemp("corpus") / "home")
    settings.ensure()
    large_root = tmp_path_factory.mktemp("corpus-large")
    generate.write_corpus(large_root, large=True)
    groups: dict[str, list[dict[str, Any]]] = {}
    for case in MANIFEST:
        groups.setdefault(_batch_key(case), []).append(case)
    result: dict[str, Batch] = {}
    for key, cases in sorted(groups.items()):
        paths: list[Path] = []
        position: dict[tuple[str, str], int] = {}
        sha: dict[tuple[str, str], str] = {}
        for case in cases:
            root = large_root if case["large"] else CORPUS
            for name in case["files"]:
                path = root / generate.CASES_DIR / case["name"] / name
                paths.append(path)
                position[case["name"], name] = len(paths)
                sha[case["name"], name] = hashlib.sha256(path.read_bytes()).hexdigest()
        connector = cases[0]["connector"]
        report = import_files(settings, f"corpus-{key}", connector, paths, serve=False)
        result[key] = Batch(
            report,
            position,
            sha,
            _run_metadata(settings, report.run_id),
            quarantine(settings, report.user_key, connector),
            _curated(settings, report.user_key, connector),
        )
    return result


def _case_shas(batch: Batch, case: dict[str, Any]) -> dict[str, str]:
    return {batch.sha[case["name"], name]: name for name in case["files"]}


def test_corpus_has_every_outcome_and_at_least_40_cases() -> None:
    counts = Counter(case["outcome"] for case in MANIFEST)
    assert len(MANIFEST) >= 40, f"{len(MANIFEST)} cases"
    assert set(counts) == set(generate.OUTCOMES), f"outcomes present: {sorted(counts)}"


def test_generator_output_is_what_is_committed(tmp_path: Path) -> None:
    generate.write_corpus(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(
        p.relative_to(CORPUS)
        for p in [CORPUS / generate.EXPECTED, *(CORPUS / generate.CASES_DIR).rglob("*")]
        if p.is_file()
    )
    assert written == committed, f"{len(written)} files generated, {len(committed)} committed"
    differing = [p for p in written if (tmp_path / p).read_bytes() != (CORPUS / p).read_bytes()]
    assert not differing, f"{len(differing)} files differ; rerun python -m tests.corpus.generate"


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_corpus_case_has_its_expected_outcome(batches: dict[str, Batch], name: str) -> None:
    case = BY_NAME[name]
    batch = batches[_batch_key(case)]
    assert batch.report.success, "the import run failed"
    shas = _case_shas(batch, case)

    rows = batch.quarantine.filter(pl.col("raw_sha256").is_in(list(shas)))
    got = sorted(
        (shas[sha], locator, reason)
        for sha, locator, reason in rows.select("raw_sha256", "locator", "reason").iter_rows()
    )
    want = sorted((q["file"], q["locator"], q["reason"]) for q in case["quarantined"])
    assert got == want, f"quarantine rows: {len(got)} got, {len(want)} expected"

    for q in case["quarantined"]:
        line = f"input {batch.position[name, q['file']]} {q['locator']}: {q['reason']} ("
        assert any(r.startswith(line) for r in batch.report.quarantined), "report line missing"

    landed = {
        table: frame.filter(pl.col("raw_sha256").is_in(list(shas))).height
        for table, frame in batch.curated.items()
        if frame.height
    }
    landed = {table: n for table, n in landed.items() if n}
    assert landed == case["good_rows"], "curated rows per table differ from the manifest"

    for key, count in case["excluded"].items():
        assert batch.metadata.get(key) == count, f"{key} differs from the manifest"


def test_exclusion_counts_belong_to_one_case_per_batch() -> None:
    claims = Counter((_batch_key(case), key) for case in MANIFEST for key in case["excluded"])
    assert all(n == 1 for n in claims.values()), "an exclusion count is shared by two cases"


def test_corpus_quarantine_holds_nothing_the_manifest_does_not_name(
    batches: dict[str, Batch],
) -> None:
    for key, batch in batches.items():
        expected = sum(len(case["quarantined"]) for case in MANIFEST if _batch_key(case) == key)
        assert batch.quarantine.height == expected, f"batch {key}: quarantine row count"
