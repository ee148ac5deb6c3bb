"""The webhook endpoint: verify, deduplicate, store, answer 204 before any work is done.

Processing happens later in a Dagster sensor reading the store, so the sender is never kept
waiting and a slow pipeline never turns into its retries. Error bodies are PHI-free.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthex_pipeline.webhooks.store import WebhookEventStore

MAX_BODY_BYTES = 1 << 20
# standardwebhooks always enforces its own 5 minutes; ours can only tighten it.
_LIBRARY_TOLERANCE_SECONDS = 300


def build_receiver(
    store: WebhookEventStore, secret: str, tolerance_seconds: int = 300
) -> Starlette:
    """The ASGI app: ``POST /webhooks/fasten`` and ``GET /webhooks/health``."""
    if not 0 < tolerance_seconds <= _LIBRARY_TOLERANCE_SECONDS:
        raise ValueError("tolerance_seconds must be between 1 and 300")
    webhook = Webhook(secret)

    async def receive(request: Request) -> Response:
        body = await _read_limited(request)
        if body is None:
            return _refuse(413, "body too large")
        headers = dict(request.headers)
        if not _is_fresh(headers.get("webhook-timestamp"), tolerance_seconds):
            return _refuse(400, "missing or stale timestamp")
        try:
            webhook.verify(body, headers, json_parse=False)
        except (WebhookVerificationError, ValueError):
            return _refuse(400, "bad signature")
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _refuse(400, "malformed body")
        if not (
            isinstance(event, dict)
            and event.get("id") == headers["webhook-id"]
            and isinstance(event.get("type"), str)
            and isinstance(event.get("data"), dict)
        ):
            return _refuse(400, "malformed event")
        now = datetime.now(UTC).isoformat()
        await run_in_threadpool(store.record, event["id"], event["type"], now, event["data"])
        return Response(status_code=204)

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/webhooks/fasten", receive, methods=["POST"]),
            Route("/webhooks/health", health, methods=["GET"]),
        ]
    )


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None once it passes ``MAX_BODY_BYTES`` (read no further)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


def _is_fresh(timestamp: str | None, tolerance_seconds: int) -> bool:
    try:
        sent = float(timestamp or "")
    except ValueError:
        return False
    return abs(time.time() - sent) <= tolerance_seconds


def _refuse(status: int, reason: str) -> Response:
    return JSONResponse({"error": reason}, status_code=status)
