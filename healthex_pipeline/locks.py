"""File locks under ``HEALTHEX_HOME/locks``: one run of a partition at a time, across processes.

A lock file is named by the SHA-256 of the lock's name (a partition key holds a pseudonym), so
no file name in the home carries a purged user's pseudonym; the files are empty.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from healthex_pipeline.settings import Settings

_POLL_SECONDS = 0.2


def lock_path(settings: Settings, name: str) -> Path:
    """The file behind lock ``name``."""
    return settings.home / "locks" / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"


@contextmanager
def file_lock(settings: Settings, name: str, wait_seconds: float) -> Iterator[bool]:
    """Try for ``wait_seconds`` to lock ``HEALTHEX_HOME/locks/<name>.lock``; yield whether held.

    ``flock`` locks belong to the open file, so they exclude threads of one process as well
    as other processes, and the kernel releases them when the file closes, even in a killed
    process: a crash never leaves a partition locked.
    """
    path = lock_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(_POLL_SECONDS)
        yield True
    finally:
        os.close(fd)  # releases the lock
