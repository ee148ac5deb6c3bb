"""Every byte under HEALTHEX_HOME, as stored and as decrypted: what a deletion test scans.

Files are encrypted at rest, so a scan of stored bytes alone would pass even if a purge left a
user's files in place; decrypting everything the home's keys still open closes that gap.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from healthex_pipeline.keys import KeyDestroyedError
from healthex_pipeline.settings import Settings

_SEALED_DIRS = {"objects", "manifests"}


def _partition_of(path: Path) -> tuple[str, str] | None:
    parts = {p.split("=", 1)[0]: p.split("=", 1)[1] for p in path.parts if "=" in p}
    if "user" in parts and "connector" in parts:
        return parts["user"], parts["connector"]
    return None


def _plaintext(settings: Settings, path: Path) -> bytes:
    vault = settings.vault()
    partition = _partition_of(path)
    if partition is None or path.name.startswith("."):
        return b""
    try:
        if path.parent.name in _SEALED_DIRS:
            return vault.open_bytes(path, *partition)
        if path.suffix == ".parquet":
            return orjson.dumps(vault.read_parquet(path).to_pylist(), default=str)
    except KeyDestroyedError:
        return b""
    return b""


def every_byte(settings: Settings) -> bytes:
    """Stored bytes of every file, then the plaintext of every file the vault can open."""
    files = [p for p in sorted(settings.home.rglob("*")) if p.is_file() and p.stat().st_size]
    stored = [p.read_bytes() for p in files]
    decrypted = [_plaintext(settings, p) for p in files]
    return b"\n".join(stored + decrypted)
