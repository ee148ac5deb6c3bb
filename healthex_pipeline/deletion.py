"""Deletion: purge a user (or one connector of theirs) from every layer, and prove it.

Every layer keeps a user's data below ``user=<key>/connector=<c>`` directories or in rows keyed by
the pseudonym, so a purge deletes directories and rows, never rewrites other users' files. SQLite
stores run with ``secure_delete`` and are compacted afterwards, so no deleted byte survives. A
whole-user purge also removes the user's Dagster partition and destroys the account → pseudonym
row: keys left in Dagster's run history are then unlinkable. The certificate records what was
removed (counts and hashes, never content) and the verification that nothing remains.

A recorded request is carried out in three idempotent steps (``purge_operational_records``,
``purge_partition_files``, ``finish_deletion``): the deletion assets in ``defs/deletion`` run them
as ``deletion_job`` (from ``healthex delete`` or the deletion-request sensor), and
``complete_deletion`` runs the same steps outside Dagster.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import orjson

from healthex_pipeline.ai_context import write_context
from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.consent.store import ConsentStore
from healthex_pipeline.defs.partitions import users
from healthex_pipeline.durable import write_atomically
from healthex_pipeline.encryption import Vault
from healthex_pipeline.keys import KeyDestroyedError
from healthex_pipeline.landing import scan
from healthex_pipeline.landing_store import LandingStore
from healthex_pipeline.notifications import TABLE
from healthex_pipeline.quarantine import TABLE as QUARANTINE_TABLE
from healthex_pipeline.raw_zone import RawPartition, sha256_file
from healthex_pipeline.registry import PseudonymRegistry
from healthex_pipeline.serving import build_user, serving_tables, user_folders
from healthex_pipeline.serving_store import replace_rows, tables_holding
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


class UnknownDeletionError(Exception):
    """No pending request and no certificate has this deletion id (an opaque id, not PHI)."""


def _parquet_rows(vault: Vault, path: Path) -> int:
    """Rows of an encrypted Parquet file; 0 for anything else (or if its key is gone already)."""
    if path.suffix != ".parquet" or path.name.startswith("."):
        return 0
    try:
        return vault.parquet_file(path).metadata.num_rows
    except (KeyDestroyedError, OSError):
        return 0


def _remove_file(report: LayerReport, path: Path, vault: Vault) -> None:
    """Count, hash into the layer's chain, and delete one file (if present)."""
    if not path.exists():
        return
    report.files += 1
    report.bytes += path.stat().st_size
    report.digest = hashlib.sha256((report.digest + sha256_file(path)[0]).encode()).hexdigest()
    report.rows += _parquet_rows(vault, path)
    path.chmod(0o600)
    path.unlink()


def _remove_tree(report: LayerReport, root: Path, vault: Vault) -> None:
    """Remove one partition directory file by file (each counted and hashed), then the folder."""
    if root.exists():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            _remove_file(report, path, vault)
        shutil.rmtree(root)
    # The user=<key> folder, once its last connector is gone; also when a killed purge removed
    # the connector's folder and not this one (its name still carries the pseudonym).
    if root.parent.exists() and not any(root.parent.iterdir()):
        root.parent.rmdir()


def _purge_files(settings: Settings, user_key: str, connector: str, cert: Certificate) -> None:
    """Remove the partition's files in every layer, then destroy its data key.

    Destroying the key crypto-shreds: a copy of those files that escaped (a backup, an object
    store's old version) is unreadable from then on.
    """
    layers = {report.layer: report for report in cert.layers}
    vault = settings.vault()
    for layer, root in (("raw", settings.raw_root), ("staging", settings.staging_root)):
        _remove_tree(layers[layer], partition_dir(root, user_key, connector), vault)
    if settings.warehouse_root.exists():
        for table in sorted(p for p in settings.warehouse_root.iterdir() if p.is_dir()):
            _remove_tree(layers["warehouse"], partition_dir(table, user_key, connector), vault)
    _layer(cert, "keys").rows += vault.keys.destroy(user_key, connector)


def _layer(cert: Certificate, name: str) -> LayerReport:
    """The certificate's report of a layer, added when a request recorded before it lacks it."""
    for report in cert.layers:
        if report.layer == name:
            return report
    report = LayerReport(name)
    cert.layers.append(report)
    return report


def _purge_serving(settings: Settings, cert: Certificate) -> None:
    """Remove the user's serving files; for a one-connector purge, serve what is left again.

    Serving rows are derived across all of a user's connectors, so they go whole and are
    rebuilt from the remaining connectors' curated rows (the purged one's are gone by now).
    """
    report = _layer(cert, "serving")
    for table in serving_tables():
        removed = replace_rows(settings.serving_root, table, cert.user_key, None)
        report.rows += removed
        report.files += bool(removed)  # the user's bucket of the table, rewritten without them
    for folder in user_folders(settings, cert.user_key):
        _remove_tree(report, folder, settings.vault())
    if not cert.whole_user:
        build_user(settings, cert.user_key)
        write_context(settings, cert.user_key)


def _purge_landing(settings: Settings, user_key: str, report: LayerReport) -> None:
    store = LandingStore.at(settings.landing_location)
    for delivery in scan(store):
        if delivery.user_key == user_key:
            store.delete(delivery.key)
            report.files += 1


def _verify(settings: Settings, cert: Certificate, instance: dg.DagsterInstance) -> list[str]:
    """What of the scope still exists: directories, rows, the account, the partition key."""
    remaining = []
    # The exact partition folders of each layer: never a glob over every user's (O(user)).
    warehouse = settings.warehouse_root
    tables = sorted(p for p in warehouse.iterdir() if p.is_dir()) if warehouse.exists() else []
    for root in (settings.raw_root, settings.staging_root, *tables):
        for connector in cert.connectors:
            if partition_dir(root, cert.user_key, connector).exists():
                remaining.append(f"directory in {root.name}")
        if cert.whole_user and (root / f"user={cert.user_key}").exists():
            remaining.append(f"user directory in {root.name}")
    statuses = ConnectionStore(settings.registry_path).statuses(cert.user_key)
    remaining += [
        f"connection row {s.connector}" for s in statuses if s.connector in cert.connectors
    ]
    keys = settings.vault().keys.connectors_with_keys(cert.user_key)
    remaining += [f"data key {c}" for c in keys if c in cert.connectors]
    if cert.whole_user:
        remaining += [
            f"directory in serving/{f.parent.name}" for f in user_folders(settings, cert.user_key)
        ]
        remaining += [
            f"rows in serving/{table}"
            for table in tables_holding(settings.serving_root, cert.user_key)
        ]
        if PseudonymRegistry(settings.registry_path).is_registered(cert.user_key):
            remaining.append("account row")
        for store in (settings.registry_path, settings.webhooks_path, settings.keys_path):
            if store.exists() and cert.user_key.encode() in store.read_bytes():
                remaining.append(f"bytes in {store.name}")
        assert users.name is not None
        if instance.has_dynamic_partition(users.name, cert.user_key):
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
        for name in (
            "raw",
            "staging",
            "warehouse",
            "serving",
            "landing",
            "connections",
            "webhook_events",
        )
    ]
    _save_request(settings, cert)
    return cert


def purge_operational_records(settings: Settings, cert: Certificate) -> int:
    """Step 1: the rows that route new data to the user go first, so nothing refills the files.

    Connection rows of each connector in scope, HealthEx deliveries waiting in the landing area,
    Fasten webhook events; a whole-user delete marks the user's consents deleted (they stay as an
    audit trail: pseudonym and times only). Returns the number of consents marked.
    """
    by_name = {report.layer: report for report in cert.layers}
    connections = ConnectionStore(settings.registry_path)
    for scoped in cert.connectors:
        by_name["connections"].rows += connections.purge(cert.user_key, scoped)
    if "healthex" in cert.connectors:
        _purge_landing(settings, cert.user_key, by_name["landing"])
    if "fasten" in cert.connectors:
        webhook_events = WebhookEventStore(settings.webhooks_path)
        by_name["webhook_events"].rows += webhook_events.purge(cert.user_key)
    consents = 0
    if cert.whole_user:
        with ConsentStore(settings.consent_db_url) as store:
            consents = store.delete(cert.user_key)
    _save_request(settings, cert)
    return consents


def purge_partition_files(settings: Settings, cert: Certificate) -> None:
    """Step 2: every per-partition file in scope, counted and hashed into the certificate.

    Raw objects and manifests, staging, and curated Parquet, which includes quarantine and
    notifications (tables beside the curated ones), then the serving files derived from them.
    Progress is saved after each connector.
    """
    for scoped in cert.connectors:
        _purge_files(settings, cert.user_key, scoped, cert)
        _save_request(settings, cert)
    _purge_serving(settings, cert)
    _save_request(settings, cert)


def finish_deletion(
    settings: Settings, cert: Certificate, instance: dg.DagsterInstance
) -> Certificate:
    """Step 3: unlink what is left, verify, and write the certificate.

    A whole-user delete removes the user's Dagster partition and destroys the account → pseudonym
    row; the SQLite stores are compacted so deleted rows leave no bytes. The request leaves the
    store only once verification finds nothing left: an unverified purge stays pending (retried).
    """
    if cert.whole_user:
        assert users.name is not None
        if instance.has_dynamic_partition(users.name, cert.user_key):
            instance.delete_dynamic_partition(users.name, cert.user_key)
        PseudonymRegistry(settings.registry_path).forget(cert.user_key)
    for store in (settings.registry_path, settings.webhooks_path, settings.keys_path):
        if store.exists():
            compact(store)
    cert.remaining = _verify(settings, cert, instance)
    cert.verified = not cert.remaining
    cert.completed_at = datetime.now(UTC).isoformat()
    _store_certificate(settings, cert)
    if not cert.verified:
        _save_request(settings, cert)
        return cert
    _request_path(settings, cert.deletion_id).unlink(missing_ok=True)
    _lock_path(settings, cert.deletion_id).unlink(missing_ok=True)
    return cert


def complete_deletion(
    settings: Settings, cert: Certificate, instance: dg.DagsterInstance | None = None
) -> Certificate:
    """Carry out a recorded request outside Dagster: the deletion assets' steps, in their order.

    Every step is idempotent and saves the request's counts, so a rerun after a crash finishes;
    counts of files removed in an interrupted step are lost, which the certificate shows as
    ``resumed``. Should another process finish the request meanwhile, its certificate is returned.
    """
    if instance is None:
        from healthex_pipeline.runs import instance_for  # runs imports the deletion assets

        instance = instance_for(settings)
    with _request_lock(settings, cert.deletion_id):
        if not _request_path(settings, cert.deletion_id).exists():
            done = load_certificate(settings, cert.deletion_id)
            if done is not None:
                return done
        purge_operational_records(settings, cert)
        purge_partition_files(settings, cert)
        return finish_deletion(settings, cert, instance)


def purge(settings: Settings, account_id: str, connector: str | None = None) -> Certificate:
    """Delete the account's data (one connector, or everything) and write its certificate."""
    return complete_deletion(settings, request_deletion(settings, account_id, connector))


def pending_deletions(settings: Settings) -> list[str]:
    """Deletion ids of the requests not completed yet (or not verified), oldest first."""
    directory = settings.home / "compliance" / "requests"
    requests = []
    for path in directory.glob("*.json") if directory.exists() else []:
        try:
            requests.append(Certificate.from_json(path.read_bytes()))
        except FileNotFoundError:  # completed between the listing and the read
            continue
    return [c.deletion_id for c in sorted(requests, key=lambda c: c.requested_at)]


def resume_pending(settings: Settings) -> list[Certificate]:
    """Finish every deletion a crash interrupted (the requests left in the compliance store)."""
    finished = []
    for deletion_id in pending_deletions(settings):
        try:
            cert = Certificate.from_json(_request_path(settings, deletion_id).read_bytes())
        except FileNotFoundError:  # another process finished it meanwhile
            continue
        cert.resumed = True
        finished.append(complete_deletion(settings, cert))
    return finished


@contextmanager
def open_request(settings: Settings, deletion_id: str) -> Iterator[Certificate | None]:
    """The pending request, held exclusively while one step runs; None once it was completed.

    Two runs for one request (the CLI's and the sensor's, or a retry racing a slow run) then take
    turns step by step, each reading the counts the other saved, instead of undercounting.
    """
    with _request_lock(settings, deletion_id):
        path = _request_path(settings, deletion_id)
        if path.exists():
            yield Certificate.from_json(path.read_bytes())
        elif load_certificate(settings, deletion_id) is not None:
            _lock_path(settings, deletion_id).unlink(missing_ok=True)
            yield None
        else:
            raise UnknownDeletionError(f"no deletion request or certificate {deletion_id}")


def load_certificate(settings: Settings, deletion_id: str) -> Certificate | None:
    """The stored certificate of a deletion, if it was written."""
    path = _certificate_path(settings, deletion_id)
    return Certificate.from_json(path.read_bytes()) if path.exists() else None


_DELETION_ID = re.compile(r"[0-9a-f]{32}")


def _checked(deletion_id: str) -> str:
    """Deletion ids arrive in run config (editable in the UI): never let one name another path."""
    if not _DELETION_ID.fullmatch(deletion_id):
        raise UnknownDeletionError("a deletion id is 32 lowercase hex digits")
    return deletion_id


def _request_path(settings: Settings, deletion_id: str) -> Path:
    return settings.home / "compliance" / "requests" / f"{_checked(deletion_id)}.json"


def _lock_path(settings: Settings, deletion_id: str) -> Path:
    return _request_path(settings, deletion_id).with_suffix(".lock")


def _certificate_path(settings: Settings, deletion_id: str) -> Path:
    return settings.home / "compliance" / "certificates" / f"{_checked(deletion_id)}.json"


@contextmanager
def _request_lock(settings: Settings, deletion_id: str) -> Iterator[None]:
    """An exclusive flock on the request; the kernel releases it if the holder is killed."""
    path = _lock_path(settings, deletion_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _save_request(settings: Settings, cert: Certificate) -> None:
    data = cert.to_json()
    write_atomically(_request_path(settings, cert.deletion_id), lambda tmp: tmp.write_bytes(data))


def _store_certificate(settings: Settings, cert: Certificate) -> None:
    """Certificates live in the compliance store; they hold pseudonyms, counts and hashes only."""
    certificates = settings.home / "compliance" / "certificates"
    data = cert.to_json()
    write_atomically(certificates / f"{cert.deletion_id}.json", lambda tmp: tmp.write_bytes(data))


def disconnect(settings: Settings, account_id: str, connector: str, org: str) -> Certificate:
    """Remove one organization (facility) of a connection: its deliveries and what they fed.

    Objects another delivery also carried stay. The partition is then rebuilt, so curated rows
    from the organization leave, and the certificate verifies that none remains.
    """
    from healthex_pipeline.runs import run_partition  # runs imports the deletion assets

    cert = Certificate(deletion_id=uuid.uuid4().hex, requested_at=datetime.now(UTC).isoformat())
    user_key = PseudonymRegistry(settings.registry_path).lookup(account_id)
    if user_key is None:
        raise UnknownAccountError("no such account (never registered, or already deleted)")
    cert.user_key, cert.connectors, cert.organization = user_key, [connector], org
    cert.layers = [LayerReport(name) for name in ("raw", "staging", "warehouse", "connections")]
    raw, staging, warehouse, connections = cert.layers
    partition = RawPartition.at(settings, user_key, connector)
    manifests = list(partition.manifests())
    leaving = [m for m in manifests if m.source.get("facility") == org]
    kept = {o.sha256 for m in manifests if m not in leaving for o in m.objects}
    removed = sorted({o.sha256 for m in leaving for o in m.objects} - kept)
    vault = settings.vault()
    store = Warehouse(settings.warehouse_root, vault)
    staged = StagingPartition(settings.staging_root, user_key, connector, vault)
    for manifest in leaving:
        _remove_file(raw, partition.manifests_dir / f"{manifest.manifest_id}.json", vault)
        name = f"{manifest.manifest_id}.parquet"
        _remove_file(warehouse, store.partition_file(TABLE, user_key, connector, name), vault)
    for sha in removed:
        _remove_file(raw, partition.object_path(sha), vault)
        _remove_file(staging, staged.resources_file(sha), vault)
        quarantined = f"ingest-{sha}.parquet"
        _remove_file(
            warehouse,
            store.partition_file(QUARANTINE_TABLE, user_key, connector, quarantined),
            vault,
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
    partition = RawPartition.at(settings, user_key, connector)
    remaining = [
        "delivery manifest" for m in partition.manifests() if m.source.get("facility") == org
    ]
    remaining += ["raw object" for sha in removed if partition.object_path(sha).exists()]
    store = Warehouse.for_settings(settings)
    for model in models():
        path = store.partition_file(model.name, user_key, connector)
        if path.exists():
            shas = set(store.read(path, ["raw_sha256"]).column(0).to_pylist())
            remaining += [f"rows in {model.name}" for _ in shas & set(removed)]
    statuses = ConnectionStore(settings.registry_path).statuses(user_key)
    remaining += [
        "facility status" for s in statuses if (s.connector, s.facility) == (connector, org)
    ]
    return remaining
