"""Fasten's webhook sender: signed per Standard Webhooks, in order, retried on non-2xx answers."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from standardwebhooks import Webhook

from healthex_pipeline.sandbox.faults import FaultState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One webhook event; retries and duplicates reuse its ``id``."""

    id: str
    type: str
    data: dict[str, Any]

    def body(self) -> str:
        """The JSON envelope."""
        envelope = {
            "api_mode": "test",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "id": self.id,
            "type": self.type,
            "data": self.data,
        }
        return orjson.dumps(envelope).decode()


def new_event(event_type: str, data: dict[str, Any]) -> Event:
    """An event with a fresh message id."""
    return Event(f"msg_{secrets.token_hex(12)}", event_type, data)


def signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (timestamp = now)."""
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }


class WebhookSender:
    """Posts queued events one at a time, so they arrive in the order they were queued."""

    def __init__(
        self, url: str | None, secret: str, attempts: int, backoff: float, faults: FaultState
    ) -> None:
        self.url = url
        self.secret = secret
        self.attempts = attempts
        self.backoff = backoff
        self.faults = faults
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def send(self, event: Event) -> None:
        """Queue an event (dropped when no webhook URL is configured)."""
        if self.url is not None:
            self.queue.put_nowait(event)

    async def run(self) -> None:
        """The worker loop; runs until cancelled."""
        url = self.url
        if url is None:
            return
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                event = await self.queue.get()
                copies = 2 if self.faults.config.duplicate_webhooks else 1
                for _ in range(copies):
                    await self._deliver(client, url, event)

    async def _deliver(self, client: httpx.AsyncClient, url: str, event: Event) -> None:
        body = event.body()
        for attempt in range(1, self.attempts + 1):
            headers = signed_headers(self.secret, event.id, body)
            try:
                response = await client.post(url, content=body, headers=headers)
                if response.is_success:
                    log.info("webhook %s %s delivered (attempt %d)", event.type, event.id, attempt)
                    return
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            log.warning("webhook %s attempt %d failed: %s", event.id, attempt, status)
            await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        log.error("webhook %s given up after %d attempts", event.id, self.attempts)
