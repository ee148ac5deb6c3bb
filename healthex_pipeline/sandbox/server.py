"""Run the sandbox as a real HTTP server."""

from __future__ import annotations

import logging

import uvicorn

from healthex_pipeline.sandbox.app import build_app
from healthex_pipeline.sandbox.config import SandboxConfig


def serve(config: SandboxConfig) -> None:
    """Serve until interrupted; the access log stays off (its paths carry patient ids)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    uvicorn.run(
        build_app(config),
        host=config.host,
        port=config.port,
        access_log=False,
        log_level="info",
        lifespan="on",
    )
