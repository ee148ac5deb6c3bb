"""deletion_job purges a real fixture user end to end and leaves no PHI in Dagster's records."""

from __future__ import annotations

import dagster as dg
import orjson

from healthex_pipeline.definitions import build_defs
from healthex_pipeline.defs.deletion.assets import (
    DELETION_TAG,
    deletion_assets,
    deletion_run_config,
)
from healthex_pipeline.deletion import load_certificate, pending_deletions, request_deletion
from healthex_pipeline.importer import import_files
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for, run_deletion
from healthex_pipeline.settings import Settings
from tests.support.expected import iter_resources
from tests.support.fixture_sets import fixture_dir

ACCOUNT = "acct-job-gone"


def _patient_traces() -> set[str]:
    """The fixture's resource ids and Patient names: none may reach Dagster's records."""
    found = {ACCOUNT}
    for resource in iter_resources(fixture_dir("synthea-r4")):
        found.add(str(resource.get("id", "")))
        if resource["resourceType"] == "Patient":
            for name in resource.get("name", []):
                found.update([name.get("family", "")], name.get("given", []))
    return {s for s in found if len(s) >= 6}


def test_deletion_job_purges_verifies_and_records_no_phi(settings: Settings) -> None:
    gone = import_files(settings, ACCOUNT, "healthex", [fixture_dir("synthea-r4")])
    deletion_id = request_deletion(settings, ACCOUNT).deletion_id

    outcome = run_deletion(settings, deletion_id)

    assert outcome.success
    certificate = load_certificate(settings, deletion_id)
    assert certificate is not None and certificate.verified, certificate
    assert not certificate.resumed
    assert pending_deletions(settings) == []
    assert PseudonymRegistry(settings.registry_path).lookup(ACCOUNT) is None
    assert not list(settings.home.rglob(f"user={gone.user_key}"))

    instance = instance_for(settings)
    run = instance.get_run_by_id(outcome.run_id)
    assert run is not None and run.tags[DELETION_TAG] == deletion_id
    entries = instance.all_logs(outcome.run_id)
    materialized = {
        e.dagster_event.asset_key.to_user_string(): e.dagster_event.materialization.metadata
        for e in entries
        if e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.dagster_event.asset_key is not None
    }
    assert sorted(materialized) == sorted(a.key.to_user_string() for a in deletion_assets)
    assert materialized["deletion_certificate"]["verified"] == dg.BoolMetadataValue(True)
    warehouse_rows = materialized["purged_partition_files"]["warehouse_rows"]
    assert isinstance(warehouse_rows, dg.IntMetadataValue) and (warehouse_rows.value or 0) >= 133
    recorded = b"".join(e.to_json().encode() for e in entries)
    recorded += orjson.dumps({"tags": dict(run.tags), "config": run.run_config}, default=str)
    leaked = sorted(t for t in _patient_traces() if t.encode() in recorded)
    assert leaked == [], f"{len(leaked)} ids or names in the run's records: {leaked[:5]}"


def test_second_run_for_a_completed_request_changes_nothing(settings: Settings) -> None:
    PseudonymRegistry(settings.registry_path).user_key("acct-twice")
    deletion_id = request_deletion(settings, "acct-twice").deletion_id
    first = run_deletion(settings, deletion_id)
    certificate = load_certificate(settings, deletion_id)

    again = run_deletion(settings, deletion_id)  # e.g. the sensor's run racing the CLI's

    assert first.success and again.success
    assert load_certificate(settings, deletion_id) == certificate
    entries = instance_for(settings).all_logs(again.run_id)
    assert any(b'"already_completed"' in e.to_json().encode() for e in entries)


def test_request_an_earlier_run_worked_on_is_certified_as_resumed(settings: Settings) -> None:
    PseudonymRegistry(settings.registry_path).user_key("acct-resumed")
    deletion_id = request_deletion(settings, "acct-resumed").deletion_id
    instance_for(settings).create_run_for_job(  # a run whose process was killed mid-purge
        job_def=build_defs(settings).resolve_job_def("deletion_job"),
        run_config=deletion_run_config(deletion_id).to_config_dict(),
        tags={DELETION_TAG: deletion_id},
        status=dg.DagsterRunStatus.FAILURE,
    )

    assert run_deletion(settings, deletion_id).success

    certificate = load_certificate(settings, deletion_id)
    assert certificate is not None and certificate.resumed and certificate.verified


def test_partition_pipeline_never_selects_the_purge(settings: Settings) -> None:
    job = build_defs(settings).resolve_job_def("partition_pipeline")

    selected = set(job.asset_layer.executable_asset_keys)
    assert not selected & {a.key for a in deletion_assets}
    assert dg.AssetKey("raw_fhir") in selected
