"""Turn recorded Fasten Connect webhook events into connection state and pending downloads.

Events can repeat, arrive late or out of order: a repeated export (same task id) is queued once,
an export announced before its connection event still creates the connection, and events for a
pseudonym we do not know are ignored (counted, never logged with their ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from healthex_pipeline.connections import ConnectionStore
from healthex_pipeline.registry import PseudonymRegistry

CONNECTOR = "fasten"


class WebhookEvent(Protocol):
    """The part of a stored webhook event this module reads."""

    @property
    def event_id(self) -> str: ...

    @property
    def type(self) -> str: ...

    @property
    def data(self) -> dict[str, Any]: ...


@dataclass
class AppliedEvents:
    """Which partitions have new downloads to fetch, and what was ignored."""

    users_with_downloads: dict[str, list[str]] = field(default_factory=dict)  # user → task ids
    ignored: int = 0


def apply_events(
    events: Iterable[WebhookEvent], registry: PseudonymRegistry, connections: ConnectionStore
) -> AppliedEvents:
    """Apply events in order; safe to apply the same event twice."""
    applied = AppliedEvents()
    for event in events:
        data = event.data
        user_key = str(data.get("external_id", ""))
        facility = str(data.get("org_connection_id", ""))
        if event.type == "webhook.test":
            continue
        if not user_key or not facility or not registry.is_registered(user_key):
            applied.ignored += 1
            continue
        connections.open(user_key, CONNECTOR)
        if event.type == "patient.connection_success":
            connections.set_status(user_key, CONNECTOR, facility, "waiting", only_if_absent=True)
        elif event.type == "patient.ehi_export_success":
            urls = [str(link["url"]) for link in data.get("download_links", [])]
            task_id = str(data.get("task_id", event.event_id))
            if connections.add_download(user_key, CONNECTOR, facility, task_id, urls):
                applied.users_with_downloads.setdefault(user_key, []).append(task_id)
                connections.set_status(user_key, CONNECTOR, facility, "downloading")
        elif event.type == "patient.ehi_export_failed":
            reason = str(data.get("failure_reason", "unknown"))
            connections.set_status(user_key, CONNECTOR, facility, f"failed: {reason}")
        else:
            applied.ignored += 1
    return applied
