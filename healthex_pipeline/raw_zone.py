"""Raw zone: input bytes exactly as received, content-addressed, with one manifest per delivery.

Layout per partition (``raw/user=<key>/connector=<c>/``):
- ``inbox/<batch>/``: files waiting to be landed (written by an import or a push delivery),
  with ``batch.json`` naming each file's source; removed once landed.
- ``objects/<sha256>``: immutable received bytes (named by the hash of the plaintext), sealed
  under the partition's data key (encryption.py), so destroying the key shreds every copy.
- ``manifests/<manifest_id>.json``: what a delivery contained, sealed the same way; written last,
  so a manifest only ever names objects that are fully on disk. The id is derived from the object
  hashes, which makes landing the same delivery twice a no-op.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from healthex_pipeline.durable import fsync_dir, sweep_stale_temps, temp_path
from healthex_pipeline.encryption import Vault
from healthex_pipeline.settings import Settings, partition_dir

_CHUNK = 1 << 20


@dataclass(frozen=True)
class InboxFile:
    """One file waiting in an inbox batch; ``name`` is its source name (data layer only)."""

    path: Path
    name: str


@dataclass(frozen=True)
class RawObject:
    """A landed object and where it came from."""

    sha256: str
    size: int
    name: str
    input_index: int


@dataclass
class Manifest:
    """One delivery: the objects it carried and what they contained."""

    manifest_id: str
    connector: str
    received_at: str
    source: dict[str, Any]
    objects: list[RawObject]
    resource_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "manifest_id": self.manifest_id,
                "connector": self.connector,
                "received_at": self.received_at,
                "source": self.source,
                "objects": [o.__dict__ for o in self.objects],
                "resource_counts": self.resource_counts,
            },
            option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS,
        )

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        doc = orjson.loads(data)
        return cls(
            manifest_id=doc["manifest_id"],
            connector=doc["connector"],
            received_at=doc["received_at"],
            source=doc["source"],
            objects=[RawObject(**o) for o in doc["objects"]],
            resource_counts=doc.get("resource_counts", {}),
        )


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def sha256_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """Hash a stream chunk by chunk, so large exports never sit in memory."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex digest, size) of a file's bytes as stored."""
    return sha256_chunks(_file_chunks(path))


class RawPartition:
    """The raw zone of one user × connector."""

    def __init__(self, raw_root: Path, user_key: str, connector: str, vault: Vault) -> None:
        self.root = partition_dir(raw_root, user_key, connector)
        self.user_key = user_key
        self.connector = connector
        self.vault = vault

    @classmethod
    def at(cls, settings: Settings, user_key: str, connector: str) -> RawPartition:
        return cls(settings.raw_root, user_key, connector, settings.vault())

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def objects_dir(self) -> Path:
        return self.root / "objects"

    @property
    def manifests_dir(self) -> Path:
        return self.root / "manifests"

    def object_path(self, sha256: str) -> Path:
        return self.objects_dir / sha256

    def object_segments(self, sha256: str) -> Iterator[bytes]:
        """An object's received bytes, decrypted a segment at a time."""
        return self.vault.open_segments(self.object_path(sha256), self.user_key, self.connector)

    def read_object(self, sha256: str) -> bytes:
        return b"".join(self.object_segments(sha256))

    def stage(
        self, files: Iterable[InboxFile], source_kind: str, source: dict[str, str] | None = None
    ) -> str:
        """Copy files into a new inbox batch; the batch becomes visible only when complete."""
        streams = ((item.name, _file_chunks(item.path)) for item in files)
        return self.stage_stream(streams, source_kind, source or {})

    def stage_stream(
        self,
        chunks_by_name: Iterable[tuple[str, Iterable[bytes]]],
        source_kind: str,
        source: dict[str, str],
    ) -> str:
        """Write named byte streams into a new inbox batch chunk by chunk, never whole in memory.

        The batch is built under a hidden name and renamed when complete, so it is visible only
        once every stream has ended; a stream that fails midway leaves nothing behind.
        ``source`` is a PHI-free description of the delivery (e.g. a task id), kept in batch.json.
        """
        batch = f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
        tmp = temp_path(self.inbox / batch)
        tmp.mkdir(parents=True)
        try:
            names = []
            for index, (name, chunks) in enumerate(chunks_by_name):
                with (tmp / f"{index:05d}").open("wb") as handle:
                    for chunk in chunks:
                        handle.write(chunk)
                    handle.flush()
                    os.fsync(handle.fileno())
                names.append(name)
            meta = {"kind": source_kind, "names": names, "source": source}
            with (tmp / "batch.json").open("wb") as handle:
                handle.write(orjson.dumps(meta))
                handle.flush()
                os.fsync(handle.fileno())
            fsync_dir(tmp)
            os.replace(tmp, self.inbox / batch)
            fsync_dir(self.inbox)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return batch

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this partition's raw-zone lock (an OS file lock, released if the process dies).

        Whoever takes the lock first removes what a killed writer left: temp files and folders
        (a half-written object, manifest or inbox batch) and objects no manifest or pending batch
        names (see ``sweep_orphans``), so the zone holds only whole, referenced objects.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                sweep_stale_temps(self.root)
                self.sweep_orphans()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def sweep_orphans(self) -> int:
        """Remove objects neither a manifest nor a pending inbox batch names; returns the count.

        Landing writes objects before the manifest, and the batch stays in the inbox until the
        manifest is written, so a killed landing leaves objects its batch will name again; an
        object outside both (its batch dropped without a commit) is unreachable and goes. Called
        with the lock held. A batch's objects are known by hashing its files, so this runs only
        when the zone holds an object no manifest names.
        """
        if not self.objects_dir.exists():
            return 0
        present = {p.name for p in self.objects_dir.iterdir() if not p.name.startswith(".")}
        unnamed = present - {o.sha256 for m in self.manifests() for o in m.objects}
        if unnamed:
            for batch in self.pending_batches():
                for path in batch.iterdir():
                    if path.name != "batch.json":
                        unnamed.discard(sha256_file(path)[0])
        for sha in unnamed:
            self.object_path(sha).unlink(missing_ok=True)
        return len(unnamed)

    def pending_batches(self) -> list[Path]:
        """Complete inbox batches, oldest first."""
        if not self.inbox.exists():
            return []
        return sorted(p for p in self.inbox.iterdir() if p.is_dir() and not p.name.startswith("."))

    def land(self, batch: Path) -> Manifest:
        """Copy a batch's files into content-addressed objects; returns the manifest to commit.

        The batch stays in the inbox until ``commit``, so a crash before then loses nothing and
        a rerun lands the same objects again (an object already present is not rewritten).
        """
        meta = orjson.loads((batch / "batch.json").read_bytes())
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        objects: list[RawObject] = []
        for index, name in enumerate(meta["names"]):
            path = batch / f"{index:05d}"
            sha, size = sha256_file(path)
            objects.append(RawObject(sha256=sha, size=size, name=name, input_index=index + 1))
            target = self.object_path(sha)
            if not target.exists():
                self.vault.seal_file(path, target, self.user_key, self.connector)
        # Same objects and same vendor delivery id (none for file imports) = the same delivery.
        delivery = str(
            meta.get("source", {}).get("delivery") or meta.get("source", {}).get("task") or ""
        )
        manifest_id = hashlib.sha256(
            "\n".join([*sorted({o.sha256 for o in objects}), delivery]).encode()
        ).hexdigest()[:32]
        return Manifest(
            manifest_id=manifest_id,
            connector=self.connector,
            received_at=datetime.now(UTC).isoformat(),
            source={**meta.get("source", {}), "kind": meta["kind"], "files": len(objects)},
            objects=objects,
        )

    def commit(self, manifest: Manifest, batch: Path) -> bool:
        """Write the manifest (the commit point of a delivery) and drop the inbox batch.

        Returns False when an identical delivery was committed before (nothing new).
        """
        self.manifests_dir.mkdir(parents=True, exist_ok=True)
        target = self.manifests_dir / f"{manifest.manifest_id}.json"
        is_new = not target.exists()
        if is_new:
            self.vault.seal_bytes(manifest.to_json(), target, self.user_key, self.connector)
        # Renamed out of the inbox first: a kill while removing it leaves a temp folder (swept),
        # never a half-removed batch that the next landing would fail to read.
        done = temp_path(batch)
        os.replace(batch, done)
        shutil.rmtree(done)
        return is_new

    def manifests(self) -> Iterator[Manifest]:
        if not self.manifests_dir.exists():
            return
        for path in sorted(self.manifests_dir.glob("*.json")):
            yield Manifest.from_json(self.vault.open_bytes(path, self.user_key, self.connector))

    def current_objects(self) -> dict[str, str]:
        """Objects the sources hold now, with their first-seen time.

        A facility's delivery is a full snapshot, so only its latest delivery counts (what an
        earlier one had and the latest lacks was removed at the source); deliveries without a
        facility (file imports, pulls) all count.
        """
        seen = self.first_seen()
        latest: dict[str, Manifest] = {}
        current: set[str] = set()
        for manifest in self.manifests():
            facility = manifest.source.get("facility")
            if not facility:
                current.update(o.sha256 for o in manifest.objects)
            elif facility not in latest or manifest.received_at > latest[facility].received_at:
                latest[facility] = manifest
        for manifest in latest.values():
            current.update(o.sha256 for o in manifest.objects)
        return {sha: seen[sha] for sha in sorted(current)}

    def first_seen(self) -> dict[str, str]:
        """Object hash → the earliest time a manifest received it (the rows' ``fetched_at``)."""
        seen: dict[str, str] = {}
        for manifest in self.manifests():
            for obj in manifest.objects:
                if obj.sha256 not in seen or manifest.received_at < seen[obj.sha256]:
                    seen[obj.sha256] = manifest.received_at
        return seen
