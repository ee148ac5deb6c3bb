"""Deletion assets: a recorded deletion request carried out in every layer, then certified.

Not partitioned: the scope is the request (a user, or one connector of theirs), named in run config
by an opaque deletion id, never an account id. The assets sit downstream of everything a user's
data reaches, so the asset graph shows what a purge covers. Each runs one step of
``healthex_pipeline.deletion`` (the same steps ``complete_deletion`` runs outside Dagster) under
the request's lock, and saves its progress to the request. Metadata holds counts and ids only.

No postponed annotations in this module: Dagster checks `context` annotations by identity.
"""

from typing import Any

import dagster as dg

from healthex_pipeline import deletion
from healthex_pipeline.defs.curated.assets import curated_assets
from healthex_pipeline.defs.ingest.assets import raw_fhir
from healthex_pipeline.defs.jobs import DELETION_GROUP
from healthex_pipeline.defs.lifecycle.assets import records_ready
from healthex_pipeline.defs.resources import PipelineStorage
from healthex_pipeline.defs.serving.assets import serving_assets
from healthex_pipeline.defs.staging.assets import staging
from healthex_pipeline.deletion import Certificate

DELETION_TAG = "healthex/deletion"
"""Run tag with the deletion id: how the sensor finds a request's runs, and a run its history."""


class DeletionConfig(dg.Config):
    """Which recorded request to carry out: an opaque deletion id, never an account id."""

    deletion_id: str


def _layers(cert: Certificate, names: tuple[str, ...]) -> dict[str, int]:
    """The request's totals so far for some layers, as flat metadata entries."""
    metadata: dict[str, int] = {}
    for report in cert.layers:
        if report.layer in names:
            metadata |= {
                f"{report.layer}_files": report.files,
                f"{report.layer}_bytes": report.bytes,
                f"{report.layer}_rows": report.rows,
            }
    return metadata


def _scope(cert: Certificate) -> dict[str, Any]:
    return {
        "whole_user": cert.whole_user,
        "connectors": dg.MetadataValue.json(cert.connectors),
    }


def _already_completed(deletion_id: str) -> dg.MaterializeResult:
    """A duplicate run found the request finished by another: nothing to do, and it says so."""
    return dg.MaterializeResult(metadata={"deletion_id": deletion_id, "already_completed": True})


def _has_earlier_runs(context: dg.AssetExecutionContext, deletion_id: str) -> bool:
    """Did another run already work on this request (so counts of an interrupted step are lost)?"""
    run_ids = context.instance.get_run_ids(filters=dg.RunsFilter(tags={DELETION_TAG: deletion_id}))
    return any(run_id != context.run.run_id for run_id in run_ids)


@dg.asset(
    deps=[raw_fhir, records_ready],
    group_name=DELETION_GROUP,
    kinds={"sqlite"},
    description=(
        "Step 1 of a deletion: the rows that route data to the user (connections, HealthEx "
        "deliveries in the landing area, Fasten webhook events) are removed and, for a whole-user "
        "delete, consents are marked deleted, so nothing refills the files purged next."
    ),
)
def purged_operational_records(
    context: dg.AssetExecutionContext, config: DeletionConfig, storage: PipelineStorage
) -> dg.MaterializeResult:
    """Purge the operational rows of the request's scope."""
    with deletion.open_request(storage.settings, config.deletion_id) as cert:
        if cert is None:
            return _already_completed(config.deletion_id)
        cert.resumed = cert.resumed or _has_earlier_runs(context, config.deletion_id)
        consents = deletion.purge_operational_records(storage.settings, cert)
    by_layer = {report.layer: report for report in cert.layers}
    return dg.MaterializeResult(
        metadata={
            "deletion_id": cert.deletion_id,
            **_scope(cert),
            "connections_rows": by_layer["connections"].rows,
            "landing_files": by_layer["landing"].files,
            "webhook_events_rows": by_layer["webhook_events"].rows,
            "consents_marked_deleted": consents,
            "resumed": cert.resumed,
        }
    )


@dg.asset(
    deps=[
        raw_fhir,
        *staging.keys,
        *curated_assets,
        records_ready,
        *serving_assets,
        purged_operational_records,
    ],
    group_name=DELETION_GROUP,
    kinds={"parquet", "json"},
    description=(
        "Step 2 of a deletion: every per-partition file of the scope (raw objects and manifests, "
        "staging, curated Parquet with quarantine and notifications, then the user's serving "
        "files), each counted and hashed into the certificate before it is unlinked."
    ),
)
def purged_partition_files(
    config: DeletionConfig, storage: PipelineStorage
) -> dg.MaterializeResult:
    """Purge the request's partition directories in every file layer."""
    with deletion.open_request(storage.settings, config.deletion_id) as cert:
        if cert is None:
            return _already_completed(config.deletion_id)
        deletion.purge_partition_files(storage.settings, cert)
    return dg.MaterializeResult(
        metadata={
            "deletion_id": cert.deletion_id,
            **_scope(cert),
            **_layers(cert, ("raw", "staging", "warehouse", "serving", "keys")),
        }
    )


@dg.asset(
    deps=[purged_operational_records, purged_partition_files],
    group_name=DELETION_GROUP,
    kinds={"json"},
    description=(
        "Step 3 of a deletion: the user's Dagster partition and account → pseudonym row are "
        "destroyed (whole-user deletes), the SQLite stores compacted, the purge verified, and a "
        "PHI-free certificate written to the compliance store. Fails when anything remains."
    ),
)
def deletion_certificate(
    context: dg.AssetExecutionContext, config: DeletionConfig, storage: PipelineStorage
) -> dg.MaterializeResult:
    """Finish the request: unlink the user, verify, certify; an unverified purge fails the run."""
    with deletion.open_request(storage.settings, config.deletion_id) as cert:
        if cert is None:
            return _already_completed(config.deletion_id)
        cert = deletion.finish_deletion(storage.settings, cert, context.instance)
    metadata = {
        "deletion_id": cert.deletion_id,
        **_scope(cert),
        "verified": cert.verified,
        "remaining": dg.MetadataValue.json(cert.remaining),
        "resumed": cert.resumed,
        **_layers(cert, tuple(report.layer for report in cert.layers)),
        "certificate": f"compliance/certificates/{cert.deletion_id}.json",
    }
    if not cert.verified:
        # The request stays pending, so the sensor retries it; the certificate says what is left.
        raise dg.Failure(
            description=f"deletion {cert.deletion_id}: {len(cert.remaining)} items remain",
            metadata=metadata,
        )
    return dg.MaterializeResult(metadata=metadata)


deletion_assets = [purged_operational_records, purged_partition_files, deletion_certificate]


def deletion_run_config(deletion_id: str) -> dg.RunConfig:
    """Run config of ``deletion_job`` for one request: the same deletion id for every step."""
    return dg.RunConfig(
        ops={asset.op.name: DeletionConfig(deletion_id=deletion_id) for asset in deletion_assets}
    )
