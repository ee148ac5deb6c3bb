"""Start the receiver as a real subprocess on a free port, for tests and the demo."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from healthex_pipeline.processes import free_port, running_process
from healthex_pipeline.webhooks.__main__ import SECRET_ENV


@contextmanager
def running_receiver(home: Path, secret: str, startup_seconds: float = 20.0) -> Iterator[str]:
    """Yield the receiver's base URL once it answers its health check; stop it on exit."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "healthex_pipeline.webhooks"]
    argv += ["--home", str(home), "--port", str(port)]
    env = {**os.environ, SECRET_ENV: secret}
    with running_process(argv, f"{base_url}/webhooks/health", env, startup_seconds):
        yield base_url
