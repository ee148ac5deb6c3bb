"""Fasten faults the sandbox cannot produce: a reset mid-stream, a 500 on the export request.

Every fault a server can produce is tested over real HTTP in ``test_sandbox.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpx
import orjson
import pytest
import respx

from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.raw_zone import RawPartition
from tests.connectors.support import (
    FASTEN_URL,
    STORAGE_URL,
    assert_phi_free,
    batch_files,
    inbox_entries,
)

SIGNATURE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
LINK = f"{FASTEN_URL}/v1/downloads/task-77?expires=1999999999&signature={SIGNATURE}"
STORED = f"{STORAGE_URL}/exports/task-77.ndjson"
SOURCE = {"task_id": "task-77"}
LINES = [orjson.dumps({"resourceType": "Observation", "id": f"o{n}"}) + b"\n" for n in range(3000)]
EXPORT = b"".join(LINES)


def _chunks(data: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _redirect() -> httpx.Response:
    return httpx.Response(302, headers={"Location": STORED})


def _export(content: bytes | Iterable[bytes] = EXPORT) -> httpx.Response:
    body = _chunks(content) if isinstance(content, bytes) else content
    return httpx.Response(200, content=body, headers={"Content-Type": "application/fhir+ndjson"})


@pytest.fixture
def signed_link(vendor: respx.MockRouter) -> respx.Route:
    return vendor.get(LINK).mock(side_effect=lambda _: _redirect())


def _phi(error: VendorError) -> None:
    assert_phi_free(error, SIGNATURE, "task-77", "fasten.example", "storage.example")


def test_request_export_is_not_repeated_after_a_500(
    fasten: FastenClient, vendor: respx.MockRouter
) -> None:
    route = vendor.post(f"{FASTEN_URL}/v1/bridge/fhir/ehi-export").respond(500)

    with pytest.raises(VendorError) as raised:
        fasten.request_export("conn-5")
    assert route.call_count == 1
    _phi(raised.value)


def test_connection_reset_midway_leaves_nothing_and_is_retried(
    fasten: FastenClient,
    vendor: respx.MockRouter,
    signed_link: respx.Route,
    partition: RawPartition,
) -> None:
    def reset_midway() -> Iterator[bytes]:
        yield EXPORT[:10_000]
        raise httpx.ReadError("connection reset by peer")

    stored = vendor.get(STORED)
    stored.side_effect = [_export(reset_midway()), httpx.Response(503), _export()]

    batch = fasten.download(LINK, partition, SOURCE)

    assert stored.call_count == 3
    assert inbox_entries(partition) == [batch]
    assert batch_files(partition, batch) == [EXPORT]
