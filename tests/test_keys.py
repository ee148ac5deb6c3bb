"""The key store: one data key per partition, made once, readable only with the master key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from healthex_pipeline.keys import KeyDestroyedError, KeyStore

USER = "u_0123456789abcdef01234567"


def _store(tmp_path: Path, master: bytes) -> KeyStore:
    return KeyStore(tmp_path / "keys.sqlite", master)


def test_a_partition_key_is_made_once_and_read_back_by_every_store(tmp_path: Path) -> None:
    master = os.urandom(32)
    first = _store(tmp_path, master).data_key(USER, "healthex", create=True)

    again = _store(tmp_path, master).data_key(USER, "healthex", create=True)
    read = _store(tmp_path, master).data_key(USER, "healthex")
    other = _store(tmp_path, master).data_key(USER, "fasten", create=True)

    assert len(first) == 32
    assert again == read == first
    assert other != first


def test_reading_creates_nothing_and_a_destroyed_key_stays_gone(tmp_path: Path) -> None:
    store = _store(tmp_path, os.urandom(32))
    with pytest.raises(KeyDestroyedError):
        store.data_key(USER, "healthex")
    store.data_key(USER, "healthex", create=True)

    assert store.destroy(USER, "healthex") == 1
    with pytest.raises(KeyDestroyedError):
        store.data_key(USER, "healthex")
    assert store.connectors_with_keys(USER) == []


def test_another_master_key_cannot_unwrap(tmp_path: Path) -> None:
    _store(tmp_path, os.urandom(32)).data_key(USER, "healthex", create=True)

    with pytest.raises(InvalidTag):
        _store(tmp_path, os.urandom(32)).data_key(USER, "healthex", create=True)


def test_bulk_creation_makes_missing_keys_and_keeps_existing_ones(tmp_path: Path) -> None:
    store = _store(tmp_path, os.urandom(32))
    existing = store.data_key(USER, "healthex", create=True)
    others = [f"u_{i:024x}" for i in range(3)]

    store.create_keys([(USER, "healthex"), *((u, "fasten") for u in others)])

    assert store.data_key(USER, "healthex") == existing
    keys = [store.data_key(u, "fasten") for u in others]
    assert len(set(keys)) == 3 and all(len(k) == 32 for k in keys)
