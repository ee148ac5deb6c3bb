"""The `healthex` console script, run as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import exclusive
from healthex_pipeline.settings import Settings
from tests.support.fixture_sets import fixture_dir

HEALTHEX = str(Path(sys.executable).parent / "healthex")


def _run(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "HEALTHEX_HOME": str(home), **(env or {})}
    return subprocess.run(
        [HEALTHEX, *args], env=environ, capture_output=True, text=True, timeout=600
    )


def test_import_then_sql_counts_the_labs_the_raw_files_hold(tmp_path: Path) -> None:
    bundles = sorted(fixture_dir("synthea-r4").glob("*.json"))

    imported = _run(
        tmp_path, "import", "--user", "any", "--connector", "healthex", *map(str, bundles)
    )
    queried = _run(
        tmp_path, "sql", "--json", "select count(distinct resource_id) n from lab_results"
    )
    served = _run(
        tmp_path,
        *("sql", "--serving", "--json"),
        "select count(distinct source_ref) n from serving.lab_results",
    )

    assert imported.returncode == 0, imported.stderr
    assert orjson.loads(queried.stdout) == [{"n": 133}]
    assert orjson.loads(served.stdout) == [{"n": 133}], served.stderr


def test_import_output_names_no_file_and_no_account(tmp_path: Path) -> None:
    bundle = next(fixture_dir("synthea-dstu2").glob("*.json"))

    result = _run(
        tmp_path, "import", "--user", "acct-secret-42", "--connector", "healthex", str(bundle)
    )

    assert result.returncode == 0
    output = result.stdout + result.stderr
    assert "acct-secret-42" not in output
    assert bundle.stem.split("_")[0] not in output  # Synthea file names carry patient names


def test_quarantined_input_exits_3_and_names_its_position(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"resourceType": "Observation", "id": "a", "status": "final"}\n{broken\n')

    result = _run(tmp_path / "home", "import", "--user", "u", "--connector", "fasten", str(bad))

    assert result.returncode == 3
    assert "quarantined: input 1 line 2: invalid JSON" in result.stderr


def test_missing_input_path_exits_2(tmp_path: Path) -> None:
    result = _run(
        tmp_path, "import", "--user", "u", "--connector", "fasten", str(tmp_path / "nope")
    )

    assert result.returncode == 2
    assert "input 1 is not a readable file or folder" in result.stderr


def test_delete_prints_a_verified_certificate_without_the_account(tmp_path: Path) -> None:
    bundle = next(fixture_dir("synthea-dstu2").glob("*.json"))
    _run(tmp_path, "import", "--user", "acct-del-7", "--connector", "healthex", str(bundle))

    deleted = _run(tmp_path, "delete", "--user", "acct-del-7")
    again = _run(tmp_path, "delete", "--user", "acct-del-7")

    assert deleted.returncode == 0, deleted.stderr
    certificate = orjson.loads(deleted.stdout)
    assert certificate["verified"] is True and certificate["whole_user"] is True
    assert "acct-del-7" not in deleted.stdout + deleted.stderr
    assert again.returncode == 2


def test_import_into_a_busy_partition_exits_1_with_a_message_and_lands_later(
    tmp_path: Path,
) -> None:
    """Another run of the partition holds its lock: refused without a traceback or PHI."""
    bundle = next(fixture_dir("synthea-dstu2").glob("*.json"))
    settings = Settings(home=tmp_path)
    settings.ensure()
    user_key = PseudonymRegistry(settings.registry_path).user_key("acct-busy-7")
    partition = f"healthex|{user_key}"
    command = ("import", "--user", "acct-busy-7", "--connector", "healthex", str(bundle))

    with exclusive(settings, partition, wait_seconds=0):
        refused = _run(tmp_path, *command, env={"HEALTHEX_LOCK_WAIT_SECONDS": "1"})
    landed = _run(tmp_path, *command)

    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip().endswith(
        f"healthex import: partition {partition} already has a run in progress; "
        "try again once it has finished"
    )
    assert "Traceback" not in refused.stderr and "acct-busy-7" not in refused.stderr
    assert landed.returncode == 0, landed.stderr
