"""Start the receiver as a real subprocess on a free port, for tests and the demo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from healthex_pipeline.webhooks.__main__ import SECRET_ENV


@contextmanager
def running_receiver(home: Path, secret: str, startup_seconds: float = 20.0) -> Iterator[str]:
    """Yield the receiver's base URL once it answers its health check; stop it on exit."""
    port = _free_port()
    module = [sys.executable, "-m", "healthex_pipeline.webhooks"]
    process = subprocess.Popen(
        [*module, "--home", str(home), "--port", str(port)], env={**os.environ, SECRET_ENV: secret}
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(process, f"{base_url}/webhooks/health", startup_seconds)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(process: subprocess.Popen[bytes], url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"webhook receiver exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("webhook receiver did not become healthy in time")
