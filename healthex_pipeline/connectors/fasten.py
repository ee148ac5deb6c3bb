"""Fasten Connect client: the Connect link, export requests, and export downloads.

Exports can be large, so a download is streamed from the socket straight into an inbox batch;
the export never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial

import httpx
import orjson
from pydantic import Field

from healthex_pipeline.connectors.http import (
    TransientVendorError,
    VendorError,
    check_status,
    read_json,
    required_field,
)
from healthex_pipeline.connectors.resource import VendorResource
from healthex_pipeline.raw_zone import RawPartition

SOURCE_KIND = "fasten-ehi-export"
EXPORT_NAME = "ehi-export.ndjson"
_CHUNK = 1 << 16


class FastenClient(VendorResource):
    """Fasten Connect API; ``public_id``/``private_key`` are the customer's credentials.

    Secrets are left out of the repr, so a logged resource never shows them.
    """

    public_id: str
    private_key: str = Field(repr=False)

    def connect_url(self, external_id: str) -> str:
        """The URL the user opens to connect their records; ``external_id`` is our pseudonym."""
        url = httpx.URL(f"{self.base_url.rstrip('/')}/v1/connect")
        return str(url.copy_merge_params({"public_id": self.public_id, "external_id": external_id}))

    def request_export(self, org_connection_id: str) -> str:
        """Ask for a fresh EHI export of one connection; returns the task id its webhook names.

        Repeating the request would start a second export, so it is retried only when the
        vendor certainly did not act on it.
        """
        answer = self.retry_policy.run(
            "request export", partial(self._request_export, org_connection_id), idempotent=False
        )
        return required_field("request export", answer, "task_id")

    def download(self, url: str, partition: RawPartition, source: dict[str, str]) -> str:
        """Stream one export into a new inbox batch; returns the batch name.

        The signed link answers 302 to storage, which is followed. An expired link (403) is final:
        only a new export brings a new link. ``source`` (PHI-free, e.g. the task id) goes to
        batch.json.
        """
        return self.retry_policy.run("download", partial(self._download, url, partition, source))

    def _request_export(self, org_connection_id: str) -> object:
        response = self.http().post(
            "/v1/bridge/fhir/ehi-export",
            json={"org_connection_id": org_connection_id},
            auth=(self.public_id, self.private_key),
        )
        check_status("request export", response)
        return read_json("request export", response)

    def _download(self, url: str, partition: RawPartition, source: dict[str, str]) -> str:
        with self.http().stream("GET", url, follow_redirects=True) as response:
            if response.status_code == 403:
                raise VendorError("download", 403, reason="download link expired")
            check_status("download", response)
            stream = _whole_lines(response.iter_bytes(_CHUNK))
            return partition.stage_stream([(EXPORT_NAME, stream)], SOURCE_KIND, source)


def _whole_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass chunks through; an export ending in a cut-off line is transient (download again)."""
    tail = bytearray()
    for chunk in chunks:
        newline = chunk.rfind(b"\n")
        if newline < 0:
            tail += chunk
        else:
            tail[:] = chunk[newline + 1 :]
        yield chunk
    if tail.strip():
        try:
            orjson.loads(tail)
        except orjson.JSONDecodeError:
            raise TransientVendorError("download", reason="truncated export") from None
