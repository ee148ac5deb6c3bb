"""The receiver as it runs for real: a separate process, events landing in HEALTHEX_HOME."""

from __future__ import annotations

import httpx

from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.store import WebhookEventStore
from healthex_pipeline.webhooks.testing import running_receiver
from tests.webhooks.support import SECRET, event, signed_headers


def test_receiver_subprocess_records_once_and_refuses_forgeries(settings: Settings) -> None:
    body = event("evt-live")
    headers = signed_headers("evt-live", body)

    with running_receiver(settings.home, SECRET) as base_url:
        url = f"{base_url}/webhooks/fasten"
        first = httpx.post(url, content=body, headers=headers)
        again = httpx.post(url, content=body, headers=headers)
        forged = httpx.post(url, content=body.replace(b"conn-5", b"conn-6"), headers=headers)

    assert (first.status_code, again.status_code, forged.status_code) == (204, 204, 400)
    stored = WebhookEventStore(settings.webhooks_path).events_after(0, 10)
    assert [e.event_id for e in stored] == ["evt-live"]
