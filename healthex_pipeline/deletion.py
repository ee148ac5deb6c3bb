"""Deletion: purge a user (or one connector of theirs) from every layer, and prove it.

Every layer keeps a user's data below ``user=<key>/connector=<c>`` directories or in rows keyed by
the pseudonym, so a purge deletes directories and rows, never rewrites other users' files. SQLite
stores run with ``secure_delete`` and are compacted afterwards, so no deleted byte survives. A
whole-user purge also removes the user's Dagster partition and destroys the account → pseudonym
row: keys left in Dagster's run history are then unlinkable. The certificate records what was
removed (counts and hashes, never content) and the verification that nothing remains.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.defs.partitions import users
from healthex_pipeline.landing import scan
from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.notifications import TABLE
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.raw_zone import RawPartition, sha256_file
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.runs import instance_for, run_partition
from healthex_pipeline.settings import CONNECTORS, Settings, partition_dir
from healthex_pipeline.sqlite import compact
from healthex_pipeline.staging import StagingPartition
from healthex_pipeline.transforms import models
from healthex_pipeline.warehouse import Warehouse
from healthex_pipeline.webhooks.store import WebhookEventStore


@dataclass
class LayerReport:
    """What one layer held for the scope: files, bytes, rows, and a digest of the file hashes."""

    layer: str
    files: int = 0
    bytes: int = 0
    rows: int = 0
    digest: str = ""


@dataclass
class Certificate:
    """A PHI-free record of one deletion, kept in the compliance store."""

    deletion_id: str
    requested_at: str
    completed_at: str = ""
    user_key: str = ""
    connectors: list[str] = field(default_factory=list)
    whole_user: bool = False
    organization: str | None = None
    layers: list[LayerReport] = field(default_factory=list)
    verified: bool = False
    remaining: list[str] = field(default_factory=list)
    resumed: bool = False

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2)

    @classmethod
    def from_json(cls, data: bytes) -> Certificate:
        fields = orjson.loads(data)
        fields["layers"] = [LayerReport(**layer) for layer in fields["layers"]]
        return cls(**fields)


class UnknownAccountError(Exception):
    """No such account (or it was deleted already); the message carries no id."""


def _remove_file(report: LayerReport, path: Path) -> None:
    """Count, hash into the layer's chain, and delete one file (if present)."""
    if not path.exists():
        return
    report.files += 1
    report.bytes += path.stat().st_size
    report.digest = hashlib.sha256((report.digest + sha256_file(path)[0]).encode()).hexdigest()
    if path.suffix == ".parquet" and not path.name.startswith("."):
        report.rows += pq.read_metadata(path).num_rows
    path.chmod(0o600)
    path.unlink()


def _remove_tree(report: LayerReport, root: Path) -> None:
    """Remove one partition directory file by file (each counted and hashed), then the folder."""
    if not root.exists():
        return
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        _remove_file(report, path)
    shutil.rmtree(root)
    if not any(root.parent.iterdir()):  # the user=<key> folder, once its last connector is gone
        root.parent.rmdir()


def _purge_files(settings: Settings, user_key: str, connector: str, cert: Certificate) -> None:
    layers = {report.layer: report for report in cert.layers}
    for layer, root in (("raw", settings.raw_root), ("staging", settings.staging_root)):
        _remove_tree(layers[layer], partition_dir(root, user_key, connector))
    if settings.warehouse_root.exists():
        for table in sorted(p for p in settings.warehouse_root.iterdir() if p.is_dir()):
            _remove_tree(layers["warehouse"], partition_dir(table, user_key, connector))


def _purge_landing(settings: Settings, user_key: str, report: LayerReport) -> None:
    store = LandingStore.at(settings.landing_location)
    for delivery in scan(store):
        if delivery.user_key == user_key:
            store.delete(delivery.key)
            report.files += 1


def _verify(settings: Settings, cert: Certificate) -> list[str]:
    """What of the scope still exists: directories, rows, the account, the partition key."""
    remaining = []
    for root in (settings.raw_root, settings.staging_root, settings.warehouse_root):
        for connector in cert.connectors:
            found = list(root.glob(f"**/user={cert.user_key}/connector={connector}"))
            remaining += [f"directory in {root.name}" for _ in found]
    statuses = ConnectionStore(settings.registry_path).statuses(cert.user_key)
    remaining += [
        f"connection row {s.connector}" for s in statuses if s.connector in cert.connectors
    ]
    if cert.whole_user:
        if PseudonymRegistry(settings.registry_path).is_registered(cert.user_key):
            remaining.append("account row")
        for store in (settings.registry_path, settings.webhooks_path):
            if store.exists() and cert.user_key.encode() in store.read_bytes():
                remaining.append(f"bytes in {store.name}")
        assert users.name is not None
        if instance_for(settings).has_dynamic_partition(users.name, cert.user_key):
            remaining.append("dagster partition")
    return remaining


def request_deletion(
    settings: Settings, account_id: str, connector: str | None = None
) -> Certificate:
    """Record a deletion request (by pseudonym) before anything is removed."""
    user_key = PseudonymRegistry(settings.registry_path).lookup(account_id)
    if user_key is None:
        raise UnknownAccountError("no such account (never registered, or already deleted)")
    cert = Certificate(deletion_id=uuid.uuid4().hex, requested_at=datetime.now(UTC).isoformat())
    cert.user_key = user_key
    cert.whole_user = connector is None
    cert.connectors = list(CONNECTORS) if connector is None else [connector]
    cert.layers = [
        LayerReport(name)
        for name in ("raw", "staging", "warehouse", "landing", "connections", "webhook_events")
    ]
    _save_request(settings, cert)
    return cert


def complete_deletion(settings: Settings, cert: Certificate) -> Certificate:
    """Carry out a recorded request; every step is idempotent, so a rerun after a crash finishes.

    The request (with the counts so far) is saved after each step; counts of files removed in a
    step that was interrupted are lost, which the certificate shows as ``resumed``.
    """
    user_key = cert.user_key
    by_name = {report.layer: report for report in cert.layers}
    connections = ConnectionStore(settings.registry_path)
    for scoped in cert.connectors:
        _purge_files(settings, user_key, scoped, cert)
        by_name["connections"].rows += connections.purge(user_key, scoped)
        _save_request(settings, cert)
    if "healthex" in cert.connectors:
        _purge_landing(settings, user_key, by_name["landing"])
    if "fasten" in cert.connectors:
        by_name["webhook_events"].rows += WebhookEventStore(settings.webhooks_path).purge(user_key)
    _save_request(settings, cert)
    if cert.whole_user:
        # Consents stay as an audit trail (pseudonym and times only), marked deleted.
        with ConsentStore(settings.consent_db_url) as consents:
            consents.delete(user_key)
        assert users.name is not None
        instance = instance_for(settings)
        if instance.has_dynamic_partition(users.name, user_key):
            instance.delete_dynamic_partition(users.name, user_key)
        PseudonymRegistry(settings.registry_path).forget(user_key)
    for store in (settings.registry_path, settings.webhooks_path):
        if store.exists():
            compact(store)
    cert.remaining = _verify(settings, cert)
    cert.verified = not cert.remaining
    cert.completed_at = datetime.now(UTC).isoformat()
    _store_certificate(settings, cert)
    _request_path(settings, cert.deletion_id).unlink(missing_ok=True)
    return cert


def purge(settings: Settings, account_id: str, connector: str | None = None) -> Certificate:
    """Delete the account's data (one connector, or everything) and write its certificate."""
    return complete_deletion(settings, request_deletion(settings, account_id, connector))


def resume_pending(settings: Settings) -> list[Certificate]:
    """Finish every deletion a crash interrupted (the requests left in the compliance store)."""
    directory = settings.home / "compliance" / "requests"
    finished = []
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        cert = Certificate.from_json(path.read_bytes())
        cert.resumed = True
        finished.append(complete_deletion(settings, cert))
    return finished


def _request_path(settings: Settings, deletion_id: str) -> Path:
    return settings.home / "compliance" / "requests" / f"{deletion_id}.json"


def _save_request(settings: Settings, cert: Certificate) -> None:
    path = _request_path(settings, cert.deletion_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(cert.to_json())
    os.replace(tmp, path)


def _store_certificate(settings: Settings, cert: Certificate) -> None:
    """Certificates live in the compliance store; they hold pseudonyms, counts and hashes only."""
    certificates = settings.home / "compliance" / "certificates"
    certificates.mkdir(parents=True, exist_ok=True)
    (certificates / f"{cert.deletion_id}.json").write_bytes(cert.to_json())


def disconnect(settings: Settings, account_id: str, connector: str, org: str) -> Certificate:
    """Remove one organization (facility) of a connection: its deliveries and what they fed.

    Objects another delivery also carried stay. The partition is then rebuilt, so curated rows
    from the organization leave, and the certificate verifies that none remains.
    """
    cert = Certificate(deletion_id=uuid.uuid4().hex, requested_at=datetime.now(UTC).isoformat())
    user_key = PseudonymRegistry(settings.registry_path).lookup(account_id)
    if user_key is None:
        raise UnknownAccountError("no such account (never registered, or already deleted)")
    cert.user_key, cert.connectors, cert.organization = user_key, [connector], org
    cert.layers = [LayerReport(name) for name in ("raw", "staging", "warehouse", "connections")]
    raw, staging, warehouse, connections = cert.layers
    partition = RawPartition(settings.raw_root, user_key, connector)
    manifests = list(partition.manifests())
    leaving = [m for m in manifests if m.source.get("facility") == org]
    kept = {o.sha256 for m in manifests if m not in leaving for o in m.objects}
    removed = sorted({o.sha256 for m in leaving for o in m.objects} - kept)
    store = Warehouse(settings.warehouse_root, settings.catalog_path)
    for manifest in leaving:
        _remove_file(raw, partition.manifests_dir / f"{manifest.manifest_id}.json")
        name = f"{manifest.manifest_id}.parquet"
        _remove_file(warehouse, store.partition_file(TABLE, user_key, connector, name))
    for sha in removed:
        _remove_file(raw, partition.object_path(sha))
        _remove_file(
            staging,
            StagingPartition(settings.staging_root, user_key, connector).resources_file(sha),
        )
        _remove_file(
            warehouse,
            store.partition_file(QUARANTINE_TABLE, user_key, connector, f"ingest-{sha}.parquet"),
        )
    connections.rows += ConnectionStore(settings.registry_path).purge_facility(
        user_key, connector, org
    )
    compact(settings.registry_path)
    outcome = run_partition(settings, user_key, connector, {"healthex/command": "disconnect"})
    cert.remaining = [] if outcome.success else ["partition rebuild failed"]
    cert.remaining += _left_by(settings, user_key, connector, org, removed)
    cert.verified = not cert.remaining
    cert.completed_at = datetime.now(UTC).isoformat()
    _store_certificate(settings, cert)
    return cert


def _left_by(
    settings: Settings, user_key: str, connector: str, org: str, removed: list[str]
) -> list[str]:
    """What of an organization is still there: deliveries, objects, curated rows, status."""
    partition = RawPartition(settings.raw_root, user_key, connector)
    remaining = [
        "delivery manifest" for m in partition.manifests() if m.source.get("facility") == org
    ]
    remaining += ["raw object" for sha in removed if partition.object_path(sha).exists()]
    store = Warehouse(settings.warehouse_root, settings.catalog_path)
    for model in models():
        path = store.partition_file(model.name, user_key, connector)
        if path.exists():
            shas = set(pq.read_table(path, columns=["raw_sha256"]).column(0).to_pylist())
            remaining += [f"rows in {model.name}" for _ in shas & set(removed)]
    statuses = ConnectionStore(settings.registry_path).statuses(user_key)
    remaining += [
        "facility status" for s in statuses if (s.connector, s.facility) == (connector, org)
    ]
    return remaining
