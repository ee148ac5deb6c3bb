"""Fetch what vendors announced for a partition into its inbox, before the partition lands.

Fasten exports are announced by webhook and downloaded here, inside the partition's run, so the
sensor that saw the webhook stays fast and the download is retried and logged like any step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.connectors.fasten import FastenClient
from healthex_pipeline.connectors.http import VendorError
from healthex_pipeline.raw_zone import RawPartition


@dataclass
class FetchResult:
    """Downloads staged and failed, with PHI-free reasons."""

    staged: int = 0
    failed: list[str] = field(default_factory=list)


def fetch_fasten_downloads(
    client: FastenClient, connections: ConnectionStore, raw: RawPartition, user_key: str
) -> FetchResult:
    """Stream every pending export of the user into the partition's inbox."""
    result = FetchResult()
    for pending in connections.pending_downloads(user_key, raw.connector):
        source = {"facility": pending.facility, "task": pending.task_id}
        try:
            for url in pending.urls:
                client.download(url, raw, source)
        except VendorError as exc:
            reason = exc.reason or str(exc)
            connections.finish_download(pending.task_id, f"failed: {reason}")
            connections.set_status(user_key, raw.connector, pending.facility, f"failed: {reason}")
            result.failed.append(reason)
            continue
        connections.finish_download(pending.task_id, "done")
        result.staged += 1
    return result
