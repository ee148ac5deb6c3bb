"""Signing webhooks as Fasten does (Standard Webhooks), for the receiver tests."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"receiver-test-secret-32-bytes-ok").decode()
EXPORT_DATA = {
    "org_connection_id": "conn-5",
    "task_id": "task-77",
    "org_id": "org-1",
    "external_id": "u_pseudonym_4711",
    "download_links": [{"url": "https://fasten.example/d?signature=abc", "export_type": "jsonl"}],
    "stats": {"total_resources": 12},
}


def event(event_id: str, type: str = "patient.ehi_export_success", data: Any = None) -> bytes:
    envelope = {
        "api_mode": "test",
        "date": "2026-01-05T12:00:00Z",
        "id": event_id,
        "type": type,
        "data": EXPORT_DATA if data is None else data,
    }
    return orjson.dumps(envelope)


def signed_headers(
    event_id: str, body: bytes, secret: str = SECRET, sent_at: float | None = None
) -> dict[str, str]:
    sent = datetime.fromtimestamp(time.time() if sent_at is None else sent_at, tz=UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(sent.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, sent, body.decode()),
        "content-type": "application/json",
    }
