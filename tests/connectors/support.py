"""Shared constants and builders for the connector tests."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import jwt

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.healthex import HealthExClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.raw_zone import RawPartition

HEALTHEX_URL = "https://healthex.example"
FASTEN_URL = "https://fasten.example"
STORAGE_URL = "https://storage.example"
EXTERNAL_ID = "u_pseudonym_4711"
PATIENT_ID = "hx-patient-8812"
ATTEMPTS = 4


def make_healthex(retry_after_max_seconds: float = 5.0) -> HealthExClient:
    """Tiny backoffs keep the suite fast; Retry-After is honoured up to the given cap."""
    return HealthExClient(
        base_url=HEALTHEX_URL,
        api_key="key-1",
        api_secret="secret-1",
        project_id="proj-1",
        page_size=2,
        max_attempts=ATTEMPTS,
        retry_budget_seconds=30.0,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
        backoff_jitter_seconds=0.0,
        retry_after_max_seconds=retry_after_max_seconds,
    )


def make_fasten() -> FastenClient:
    return FastenClient(
        base_url=FASTEN_URL,
        public_id="public_test_1",
        private_key="private_test_1",
        max_attempts=ATTEMPTS,
        retry_budget_seconds=30.0,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
        backoff_jitter_seconds=0.0,
    )


def make_token(lifetime: float = 86400.0) -> str:
    return jwt.encode(
        {"exp": int(time.time() + lifetime)},
        "test-signing-key-of-at-least-32-bytes",
        algorithm="HS256",
    )


def assert_phi_free(error: VendorError, *secrets: str) -> None:
    """No URL, token, id or signature in the message, and no httpx exception chained on."""
    message = str(error)
    assert "://" not in message and "?" not in message
    for secret in secrets:
        assert secret not in message
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def inbox_entries(partition: RawPartition) -> list[str]:
    """Every entry of the inbox, hidden temporaries included."""
    return sorted(p.name for p in partition.inbox.iterdir()) if partition.inbox.exists() else []


def batch_files(partition: RawPartition, batch: str) -> list[bytes]:
    root = partition.inbox / batch
    return [p.read_bytes() for p in sorted(root.iterdir()) if p.name != "batch.json"]


class CountingPartition(RawPartition):
    """Records the size of every chunk each staged stream arrived in."""

    chunk_sizes: list[list[int]]

    def stage_stream(
        self,
        chunks_by_name: Iterable[tuple[str, Iterable[bytes]]],
        source_kind: str,
        source: dict[str, str],
    ) -> str:
        self.chunk_sizes = []

        def counted(chunks: Iterable[bytes]) -> Iterator[bytes]:
            self.chunk_sizes.append([])
            for chunk in chunks:
                self.chunk_sizes[-1].append(len(chunk))
                yield chunk

        streams = ((name, counted(chunks)) for name, chunks in chunks_by_name)
        return super().stage_stream(streams, source_kind, source)
