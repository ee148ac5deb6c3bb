"""Servers the project starts as real child processes (sandbox, webhook receiver), one way.

Used by tests and the demo: pick a free loopback port, start the process, wait for its health
URL, and always stop it, showing its log if it fails to come up.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not healthy after {seconds} s:\n{log.read_text()}")


@contextmanager
def running_process(
    argv: list[str],
    health_url: str,
    env: Mapping[str, str] | None = None,
    startup_seconds: float = 30.0,
) -> Iterator[None]:
    """Run ``argv`` until the block ends; returns once ``health_url`` answers 200."""
    with tempfile.TemporaryDirectory(prefix="process-") as tmp:
        log = Path(tmp) / "process.log"
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                argv, stdout=log_file, stderr=subprocess.STDOUT, env=dict(env) if env else None
            )
            try:
                _wait_healthy(process, health_url, log, startup_seconds)
                yield
            finally:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
