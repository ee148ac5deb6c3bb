"""Per-partition data keys: the handle for crypto-shredding.

Every file a partition (user × connector) writes is encrypted under that partition's data key;
the keys live here, each wrapped (AES-GCM) by a master key that never touches the data layer.
Destroying a partition's key row (the store runs with ``secure_delete`` and is compacted) makes
every copy of its files unreadable, including copies that escaped a purge: a backup, an object
store's old version. In production the master key comes from a KMS through
``HEALTHEX_MASTER_KEY``; the embedded default is a 0600 file under ``HEALTHEX_HOME/secrets``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from healthex_pipeline.sqlite import connect

MASTER_KEY_ENV = "HEALTHEX_MASTER_KEY"
_KEY_BYTES = 32
_NONCE_BYTES = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS partition_keys (
    user_key TEXT NOT NULL,
    connector TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_key, connector)
)
"""


class KeyDestroyedError(Exception):
    """A partition's data key does not exist (never created, or destroyed by a purge)."""


def key_id(user_key: str, connector: str) -> str:
    """The name a key goes by in file metadata: the pseudonym and connector, nothing else."""
    return f"{user_key}/{connector}"


def split_key_id(name: str) -> tuple[str, str]:
    """(pseudonym, connector) back from a key id."""
    user_key, _, connector = name.partition("/")
    return user_key, connector


def load_master_key(secrets_dir: Path) -> bytes:
    """HEALTHEX_MASTER_KEY (base64, 32 bytes), else the home's key file, created on first use."""
    configured = os.environ.get(MASTER_KEY_ENV)
    if configured:
        key = base64.b64decode(configured)
        if len(key) != _KEY_BYTES:
            raise ValueError(f"{MASTER_KEY_ENV} must be {_KEY_BYTES} bytes, base64-encoded")
        return key
    path = secrets_dir / "master.key"
    if not path.exists():
        secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".master.key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.b64encode(AESGCM.generate_key(bit_length=256)))
        with contextlib.suppress(FileExistsError):  # first writer wins; the rest read its key
            os.link(tmp, path)
        tmp.unlink()
    return base64.b64decode(path.read_bytes())


class KeyStore:
    """Wrapped data keys in a small SQLite store beside the other registries."""

    def __init__(self, path: Path, master_key: bytes) -> None:
        self.path = path
        self._master = AESGCM(master_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with connect(path) as con:
            con.execute(_SCHEMA)

    def data_key(self, user_key: str, connector: str, create: bool = False) -> bytes:
        """The partition's key; ``create`` makes one on first write.

        Raises:
            KeyDestroyedError: no key and ``create`` is false.
        """
        name = key_id(user_key, connector)
        with connect(self.path) as con:
            blob = self._wrapped(con, user_key, connector, create)
        if blob is None:
            raise KeyDestroyedError("no data key for the partition (destroyed or never made)")
        return self._master.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], name.encode())

    def create_keys(self, partitions: Sequence[tuple[str, str]]) -> None:
        """Make the missing keys of many (user, connector) partitions in one transaction."""
        with connect(self.path) as con:
            for user_key, connector in partitions:
                self._wrapped(con, user_key, connector, create=True)

    def _wrapped(
        self, con: sqlite3.Connection, user_key: str, connector: str, create: bool
    ) -> bytes | None:
        select = "SELECT wrapped FROM partition_keys WHERE user_key = ? AND connector = ?"
        row = con.execute(select, (user_key, connector)).fetchone()
        if row is None and create:
            # Only a partition's first write takes the write lock; a racing writer's key wins
            # the INSERT and both read it back.
            nonce = os.urandom(_NONCE_BYTES)
            wrapped = nonce + self._master.encrypt(
                nonce, AESGCM.generate_key(bit_length=256), key_id(user_key, connector).encode()
            )
            con.execute(
                "INSERT OR IGNORE INTO partition_keys VALUES (?, ?, ?, ?)",
                (user_key, connector, wrapped, datetime.now(UTC).isoformat()),
            )
            row = con.execute(select, (user_key, connector)).fetchone()
        return None if row is None else bytes(row[0])

    def destroy(self, user_key: str, connector: str) -> int:
        """Delete a partition's key; returns how many rows went (0 or 1)."""
        with connect(self.path) as con:
            return con.execute(
                "DELETE FROM partition_keys WHERE user_key = ? AND connector = ?",
                (user_key, connector),
            ).rowcount

    def connectors_with_keys(self, user_key: str) -> list[str]:
        with connect(self.path) as con:
            rows = con.execute(
                "SELECT connector FROM partition_keys WHERE user_key = ? ORDER BY connector",
                (user_key,),
            ).fetchall()
        return [str(connector) for (connector,) in rows]
