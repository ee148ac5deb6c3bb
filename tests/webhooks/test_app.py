"""The receiver refuses what it cannot verify and changes nothing when it does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from healthex_pipeline.webhooks.app import build_receiver
from healthex_pipeline.webhooks.store import StoredEvent, WebhookEventStore
from tests.webhooks.support import EXPORT_DATA, SECRET, event, signed_headers

OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LW9mLXRoZS1zYW1lLWxlbmd0aCE="


@pytest.fixture
def store(tmp_path: Path) -> WebhookEventStore:
    return WebhookEventStore(tmp_path / "webhooks.sqlite")


class Client:
    """Calls the ASGI app in-process over httpx (the subprocess test covers real sockets)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(
        self, method: str, path: str, content: bytes = b"", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
                return await client.request(method, path, content=content, headers=headers)

        return asyncio.run(send())

    def post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.request("POST", path, content, headers)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@pytest.fixture
def client(store: WebhookEventStore) -> Client:
    return Client(build_receiver(store, SECRET, tolerance_seconds=60))


def _all(store: WebhookEventStore) -> list[StoredEvent]:
    return store.events_after(0, 1000)


def test_valid_signed_event_is_recorded(client: Client, store: WebhookEventStore) -> None:
    body = event("evt-1")

    response = client.post("/webhooks/fasten", content=body, headers=signed_headers("evt-1", body))

    assert response.status_code == 204
    [stored] = _all(store)
    assert (stored.event_id, stored.type, stored.data) == (
        "evt-1",
        "patient.ehi_export_success",
        EXPORT_DATA,
    )


def test_replayed_event_is_acknowledged_but_dropped(
    client: Client, store: WebhookEventStore
) -> None:
    body = event("evt-1")
    client.post("/webhooks/fasten", content=body, headers=signed_headers("evt-1", body))
    before = _all(store)

    replay = client.post("/webhooks/fasten", content=body, headers=signed_headers("evt-1", body))

    assert replay.status_code == 204
    assert _all(store) == before


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong secret", "bad signature"),
        ("tampered body", "bad signature"),
        ("garbled signature", "bad signature"),
        ("missing signature", "bad signature"),
        ("stale timestamp", "missing or stale timestamp"),
        ("future timestamp", "missing or stale timestamp"),
        ("missing timestamp", "missing or stale timestamp"),
        ("not json", "malformed body"),
        ("id mismatch", "malformed event"),
        ("no data", "malformed event"),
    ],
)
def test_unverifiable_or_malformed_events_are_refused_and_change_nothing(
    client: Client, store: WebhookEventStore, case: str, reason: str
) -> None:
    body = event("evt-9")
    headers = signed_headers("evt-9", body)
    if case == "wrong secret":
        headers = signed_headers("evt-9", body, secret=OTHER_SECRET)
    elif case == "tampered body":
        body = body.replace(b"task-77", b"task-78")
    elif case == "garbled signature":
        headers["webhook-signature"] = "v1-not-a-signature"
    elif case == "missing signature":
        del headers["webhook-signature"]
    elif case == "stale timestamp":
        headers = signed_headers("evt-9", body, sent_at=time.time() - 120)
    elif case == "future timestamp":
        headers = signed_headers("evt-9", body, sent_at=time.time() + 120)
    elif case == "missing timestamp":
        del headers["webhook-timestamp"]
    elif case == "not json":
        body = b"{not json"
        headers = signed_headers("evt-9", body)
    elif case == "id mismatch":
        body = event("evt-other")
        headers = signed_headers("evt-9", body)
    elif case == "no data":
        body = event("evt-9", data=["not", "an", "object"])
        headers = signed_headers("evt-9", body)

    response = client.post("/webhooks/fasten", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": reason}
    assert _all(store) == []


def test_oversized_body_is_refused(client: Client, store: WebhookEventStore) -> None:
    body = event("evt-big", data={"padding": "x" * (2 << 20)})

    response = client.post(
        "/webhooks/fasten", content=body, headers=signed_headers("evt-big", body)
    )

    assert response.status_code == 413
    assert _all(store) == []


def test_health(client: Client) -> None:
    assert client.get("/webhooks/health").json() == {"ok": True}


def test_tolerance_cannot_exceed_the_libraries_five_minutes(store: WebhookEventStore) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        build_receiver(store, SECRET, tolerance_seconds=600)
