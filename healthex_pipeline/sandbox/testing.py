"""Helpers for tests that need the sandbox: a real subprocess server and a webhook receiver."""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from healthex_pipeline.processes import free_port, running_process
from healthex_pipeline.sandbox.config import SandboxConfig

STARTUP_TIMEOUT = 30.0


@contextmanager
def running_sandbox(config: SandboxConfig) -> Iterator[str]:
    """Start ``python -m healthex_pipeline.sandbox`` on a free port; yield its base URL.

    The config's host and port are replaced (127.0.0.1, a free port); the process is terminated
    on exit.
    """
    config = dataclasses.replace(config, host="127.0.0.1", port=free_port())
    with tempfile.TemporaryDirectory(prefix="sandbox-") as tmp:
        config_path = Path(tmp) / "sandbox.json"
        config_path.write_text(config.to_json())
        argv = [sys.executable, "-m", "healthex_pipeline.sandbox", "--config", str(config_path)]
        with running_process(argv, f"{config.base_url}/sandbox/health"):
            yield config.base_url


@contextmanager
def vendor_environment(config: SandboxConfig, base_url: str) -> Iterator[None]:
    """Point the HealthEx and Fasten clients (their ``*_API_*`` variables) at this sandbox.

    Set in this process's environment, so child processes started inside inherit it; restored
    on exit.
    """
    values = {
        "HEALTHEX_API_URL": base_url,
        "HEALTHEX_API_KEY": config.api_key,
        "HEALTHEX_API_SECRET": config.api_secret,
        "HEALTHEX_PROJECT_ID": config.project_id,
        "FASTEN_API_URL": base_url,
        "FASTEN_PUBLIC_ID": config.fasten_public_id,
        "FASTEN_PRIVATE_KEY": config.fasten_private_key,
    }
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass(frozen=True)
class ReceivedWebhook:
    """One POST the receiver got: its headers (lower-cased) and raw body."""

    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A customer webhook endpoint that records what it receives."""

    url: str
    fail_first: int = 0
    """Answer 500 to this many requests before accepting (to exercise the sender's retries)."""
    received: list[ReceivedWebhook] = field(default_factory=list)
    """Accepted (2xx-answered) deliveries, in arrival order."""
    refused: int = 0
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        with self._arrived:
            if self.refused < self.fail_first:
                self.refused += 1
                return JSONResponse({"error": "try again"}, status_code=500)
            self.received.append(ReceivedWebhook(dict(request.headers), body))
            self._arrived.notify_all()
        return JSONResponse({"ok": True})

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedWebhook]:
        """Block until ``count`` webhooks were accepted; raise TimeoutError otherwise."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.received) >= count, timeout):
                raise TimeoutError(f"{len(self.received)} of {count} webhooks arrived")
            return list(self.received)


@contextmanager
def webhook_receiver(fail_first: int = 0) -> Iterator[WebhookReceiver]:
    """Serve a ``WebhookReceiver`` on a free port from a background thread."""
    port = free_port()
    receiver = WebhookReceiver(f"http://127.0.0.1:{port}/webhooks", fail_first=fail_first)
    app = Starlette(routes=[Route("/webhooks", receiver.endpoint, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("webhook receiver did not start")
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
