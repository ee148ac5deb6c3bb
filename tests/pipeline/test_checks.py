"""Contract checks re-read what landed: error rules fail the blocking check, warn rules warn."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.partitions import partition_key
from healthex_pipeline.importer import import_files
from healthex_pipeline.runs import instance_for
from healthex_pipeline.settings import Settings
from healthex_pipeline.warehouse import Warehouse
from tests.support.fixture_sets import fixture_dir


def _run_check(
    settings: Settings, user_key: str, name: str, asset: str = "lab_results"
) -> dg.AssetCheckEvaluation:
    """Rerun an asset for a partition (a no-op when inputs are unchanged) and its checks."""
    job = build_defs(settings).resolve_job_def("partition_pipeline")
    result = job.execute_in_process(
        instance=instance_for(settings),
        partition_key=partition_key(user_key, "healthex"),
        asset_selection=[dg.AssetKey(asset)],
        raise_on_error=False,
    )
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def test_contract_check_passes_on_clean_data_and_fails_when_landed_rows_break_it(
    settings: Settings,
) -> None:
    report = import_files(settings, "acct-1", "healthex", [fixture_dir("synthea-dstu2")])
    assert _run_check(settings, report.user_key, "contract").passed

    path = Warehouse.for_settings(settings).partition_file(
        "lab_results", report.user_key, "healthex"
    )
    vault = settings.vault()
    landed = vault.read_parquet(path)  # keeps the inputs fingerprint: the rerun does not rebuild
    status = landed.schema.get_field_index("status")
    broken = landed.set_column(status, "status", pa.array(["bogus"] * landed.num_rows))
    vault.write_parquet(path, broken, report.user_key, "healthex")
    failed = _run_check(settings, report.user_key, "contract")

    assert not failed.passed
    assert failed.metadata["failing_rows"].value == 11
    assert failed.metadata["failures"].value == {"status: isin": 11}


def test_quarantine_check_warns_with_reasons(settings: Settings, tmp_path) -> None:
    bad = tmp_path / "labs.ndjson"
    bad.write_text(
        '{"resourceType": "Observation", "id": "x", "status": "final", "category": '
        '[{"coding": [{"code": "laboratory"}]}], "code": {"text": "t"}, '
        '"valueQuantity": {"value": "n/a"}}\n'
    )
    report = import_files(settings, "acct-2", "healthex", [bad])

    evaluation = _run_check(settings, report.user_key, "nothing_quarantined")

    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["by_reason"].value == {
        "staging: value does not cast: value_quantity_value": 1
    }


def test_warn_rules_pass_the_blocking_check_and_warn_with_per_rule_counts(
    settings: Settings,
) -> None:
    report = import_files(settings, "acct-3", "healthex", [fixture_dir("synthea-r4")])

    contract = _run_check(settings, report.user_key, "contract", asset="allergies")
    warnings = _run_check(settings, report.user_key, "contract_warnings", asset="allergies")

    assert contract.passed
    assert not warnings.passed
    assert warnings.severity == dg.AssetCheckSeverity.WARN
    assert warnings.metadata["rows"].value == 10
    assert warnings.metadata["warning_rows"].value == 10
    assert warnings.metadata["warnings"].value == {
        "allergies: has_onset": 10,
        "allergies: known_substance_system": 0,
    }


def test_warnings_check_passes_when_no_landed_row_fails_a_warn_rule(settings: Settings) -> None:
    report = import_files(settings, "acct-4", "healthex", [fixture_dir("synthea-r4")])

    evaluation = _run_check(settings, report.user_key, "contract_warnings", asset="conditions")

    assert evaluation.passed
    assert evaluation.metadata["warnings"].value == {
        "conditions: has_onset": 0,
        "conditions: known_code_system": 0,
    }
