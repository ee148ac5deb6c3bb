"""The landing area HealthEx pushes to: a local folder (the default) or an S3 bucket prefix.

One location string configures it (``HEALTHEX_LANDING_DIR``): a path, or ``s3://bucket/prefix``
whose endpoint and credentials come from the environment, so the pipeline and the sandbox reach
the same place the same way. Both sides go through obstore, so code above never cares which.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import obstore
from obstore.store import LocalStore, S3Store

S3_SCHEME = "s3://"
S3_ENDPOINT_ENV = "HEALTHEX_LANDING_S3_ENDPOINT"
"""An S3-compatible endpoint (moto, MinIO); unset means AWS itself."""
CHUNK_BYTES = 1024 * 1024
"""Bytes per chunk when streaming a delivery, so no object is ever whole in memory."""


def is_remote(location: str) -> bool:
    """Whether a landing location names object storage rather than a local folder."""
    return location.startswith(S3_SCHEME)


def _s3_store(location: str) -> S3Store:
    """An S3 store for ``s3://bucket/prefix``.

    obstore itself reads ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_REGION`` (and
    the other standard AWS variables); only the endpoint override is ours.
    """
    bucket, _, prefix = location.removeprefix(S3_SCHEME).partition("/")
    endpoint = os.environ.get(S3_ENDPOINT_ENV)
    prefix = prefix.strip("/") or None
    if not endpoint:
        return S3Store(bucket, prefix=prefix)
    return S3Store(
        bucket,
        prefix=prefix,
        endpoint=endpoint,
        client_options={"allow_http": endpoint.startswith("http://")},
    )


@dataclass(frozen=True)
class LandingStore:
    """Delivery files under one landing location, addressed by ``/``-separated keys."""

    store: LocalStore | S3Store

    @classmethod
    def at(cls, location: str) -> LandingStore:
        """The store for a path (created if missing) or an ``s3://bucket/prefix`` URL."""
        if is_remote(location):
            return cls(_s3_store(location))
        return cls(LocalStore(Path(location).resolve(), mkdir=True))

    def list_keys(self) -> list[str]:
        """Keys of complete files, sorted; local temporary files have dot names and are skipped.

        An S3 put is atomic, so every listed object there is complete.
        """
        found = [
            meta["path"]
            for batch in obstore.list(self.store, chunk_size=1000)
            for meta in batch
            if not meta["path"].rsplit("/", 1)[-1].startswith(".")
        ]
        return sorted(found)

    def chunks(self, key: str) -> Iterator[bytes]:
        """The object's bytes as a stream of chunks."""
        for chunk in obstore.get(self.store, key).stream(min_chunk_size=CHUNK_BYTES):
            yield bytes(chunk)

    def delete(self, key: str) -> None:
        """Remove one object."""
        obstore.delete(self.store, key)

    def write(self, key: str, data: bytes) -> None:
        """Write one object atomically: readers see all of it or nothing."""
        obstore.put(self.store, key, data)
