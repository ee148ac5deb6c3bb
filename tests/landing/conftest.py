"""A real moto S3 server per module and a fresh bucket per test, reached through the env."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from healthex_pipeline.landing_store import S3_ENDPOINT_ENV
from healthex_pipeline.processes import free_port, running_process


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """``moto_server`` as a subprocess on a free loopback port."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with running_process(argv, f"{endpoint}/moto-api/"):
        yield endpoint


@pytest.fixture
def bucket(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new empty bucket; the S3 variables are set so this process and children reach it."""
    monkeypatch.setenv(S3_ENDPOINT_ENV, moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    name = f"landing-{uuid.uuid4().hex[:12]}"
    httpx.put(f"{moto_endpoint}/{name}", timeout=10).raise_for_status()
    return name
