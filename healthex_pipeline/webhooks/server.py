"""Run the webhook receiver on uvicorn, storing events in HEALTHEX_HOME."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from healthex_pipeline.settings import Settings
from healthex_pipeline.webhooks.app import build_receiver
from healthex_pipeline.webhooks.store import WebhookEventStore


def serve(home: Path, secret: str, host: str = "127.0.0.1", port: int = 8787) -> None:
    """Serve until interrupted; access logs stay off (paths are PHI-free, but quiet is safer)."""
    store = WebhookEventStore(Settings(home=home.resolve()).webhooks_path)
    uvicorn.run(
        build_receiver(store, secret), host=host, port=port, access_log=False, log_level="warning"
    )
