"""Encryption at rest of every per-partition file, under the partition's data key (see keys.py).

Two formats, both AES-256-GCM:
- Raw bytes (raw objects, manifests) are sealed in 1 MiB segments, each with its own nonce
  (a random prefix + the segment number) and the segment number and a last-segment flag in the
  associated data, so segments cannot be reordered, dropped or truncated unnoticed. Hand-written
  because `cryptography` has no streaming AEAD and a raw export may be gigabytes.
- Parquet files use Parquet modular encryption (Arrow C++, uniform AES-GCM): a random key per
  file, wrapped by the partition's key through an in-process KMS client; the file's footer names
  the partition key (pseudonym/connector), so any reader holding the key store can open it and
  many users' files are read at once as one table.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from healthex_pipeline.durable import temp_path, write_atomically
from healthex_pipeline.keys import KeyStore, key_id, load_master_key, split_key_id

SEGMENT = 1 << 20
_MAGIC = b"HXS1"
_PREFIX_BYTES = 8
_TAG_BYTES = 16
FINGERPRINT_KEY = b"healthex.inputs"
# Unwrapped file keys are cached briefly; a purge deletes the files anyway.
_KEY_CACHE = timedelta(seconds=60)


class SealedDataError(Exception):
    """A sealed file is corrupt, truncated or under another key; the message names no content."""


class _PartitionKms(pe.KmsClient):
    """Wraps Parquet file keys with partition keys from the key store."""

    def __init__(self, keys: KeyStore) -> None:
        super().__init__()
        self._keys = keys

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> bytes:
        user_key, connector = split_key_id(master_key_identifier)
        aead = AESGCM(self._keys.data_key(user_key, connector, create=True))
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, key_bytes, master_key_identifier.encode())
        return base64.b64encode(nonce + sealed)

    def unwrap_key(self, wrapped_key: bytes, master_key_identifier: str) -> bytes:
        user_key, connector = split_key_id(master_key_identifier)
        aead = AESGCM(self._keys.data_key(user_key, connector))
        blob = base64.b64decode(wrapped_key)
        return aead.decrypt(blob[:12], blob[12:], master_key_identifier.encode())


class Vault:
    """Encrypts and decrypts a home's per-partition files."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._factory = pe.CryptoFactory(lambda _config: _PartitionKms(keys))
        self._kms = pe.KmsConnectionConfig()

    @classmethod
    def at(cls, keys_path: Path, secrets_dir: Path) -> Vault:
        return cls(KeyStore(keys_path, load_master_key(secrets_dir)))

    # Raw bytes ---------------------------------------------------------------------------

    def seal_file(self, source: Path, target: Path, user_key: str, connector: str) -> None:
        """Encrypt ``source`` into ``target`` (written beside it, then renamed)."""
        aead = AESGCM(self.keys.data_key(user_key, connector, create=True))
        prefix = os.urandom(_PREFIX_BYTES)
        aad = _aad(user_key, connector, target.name)

        def write(tmp: Path) -> None:
            with source.open("rb") as src, tmp.open("wb") as dst:
                dst.write(_MAGIC + prefix)
                index, chunk = 0, src.read(SEGMENT)
                while True:
                    following = src.read(SEGMENT)
                    last = not following
                    dst.write(
                        aead.encrypt(_nonce(prefix, index), chunk, _segment_aad(aad, index, last))
                    )
                    if last:
                        break
                    index, chunk = index + 1, following
            tmp.chmod(0o444)

        write_atomically(target, write)

    def seal_bytes(self, data: bytes, target: Path, user_key: str, connector: str) -> None:
        """Encrypt a small document (a manifest) into ``target`` atomically."""
        tmp = temp_path(target, "plain")
        try:
            tmp.write_bytes(data)
            self.seal_file(tmp, target, user_key, connector)
        finally:
            tmp.unlink(missing_ok=True)

    def open_segments(self, path: Path, user_key: str, connector: str) -> Iterator[bytes]:
        """The plaintext of a sealed file, segment by segment.

        Raises:
            KeyDestroyedError: the partition's key is gone.
            SealedDataError: the file is not intact.
        """
        aead = AESGCM(self.keys.data_key(user_key, connector))
        aad = _aad(user_key, connector, path.name)
        with path.open("rb") as handle:
            header = handle.read(len(_MAGIC) + _PREFIX_BYTES)
            if header[: len(_MAGIC)] != _MAGIC:
                raise SealedDataError("not a sealed file")
            prefix = header[len(_MAGIC) :]
            index, chunk = 0, handle.read(SEGMENT + _TAG_BYTES)
            while True:
                following = handle.read(SEGMENT + _TAG_BYTES)
                last = not following
                try:
                    yield aead.decrypt(_nonce(prefix, index), chunk, _segment_aad(aad, index, last))
                except InvalidTag as exc:
                    raise SealedDataError("sealed file is corrupt or truncated") from exc
                if last:
                    return
                index, chunk = index + 1, following

    def open_bytes(self, path: Path, user_key: str, connector: str) -> bytes:
        return b"".join(self.open_segments(path, user_key, connector))

    # Parquet -----------------------------------------------------------------------------

    def write_parquet(
        self,
        path: Path,
        table: pa.Table,
        user_key: str,
        connector: str,
        fingerprint: str | None = None,
    ) -> None:
        """Write an encrypted Parquet file atomically (readers never see half a file)."""
        if fingerprint is not None:
            metadata = dict(table.schema.metadata or {})
            metadata[FINGERPRINT_KEY] = fingerprint.encode()
            table = table.replace_schema_metadata(metadata)
        config = pe.EncryptionConfiguration(
            footer_key=key_id(user_key, connector),
            uniform_encryption=True,
            double_wrapping=False,
            cache_lifetime=_KEY_CACHE,
        )
        properties = self._factory.file_encryption_properties(self._kms, config)
        write_atomically(
            path,
            lambda tmp: pq.write_table(
                table, tmp, compression="zstd", encryption_properties=properties
            ),
        )

    def _decryption(self) -> Any:  # pyarrow's FileDecryptionProperties, not exported for typing
        config = pe.DecryptionConfiguration(cache_lifetime=_KEY_CACHE)
        return self._factory.file_decryption_properties(self._kms, config)

    def read_parquet(
        self, path: Path, columns: Sequence[str] | None = None, filters: Any = None
    ) -> pa.Table:
        return pq.read_table(
            path,
            columns=list(columns) if columns is not None else None,
            filters=filters,
            decryption_properties=self._decryption(),
        )

    def parquet_file(self, path: Path) -> pq.ParquetFile:
        return pq.ParquetFile(path, decryption_properties=self._decryption())

    def fingerprint(self, path: Path) -> str | None:
        """The inputs fingerprint a file was written from; None when absent."""
        if not path.exists():
            return None
        metadata = self.parquet_file(path).schema_arrow.metadata or {}
        value = metadata.get(FINGERPRINT_KEY)
        return value.decode() if value else None

    def read_many(self, files: Sequence[Path], schema: pa.Schema | None = None) -> pa.Table:
        """Many encrypted files (any partitions) read as one table, in the calling thread.

        Never hand the lazy dataset to DuckDB: its scan threads would call the key store back
        into Python while DuckDB's own thread may hold the interpreter lock (a deadlock seen
        under load).
        """
        return self._dataset(files, schema).to_table()

    def _dataset(self, files: Sequence[Path], schema: pa.Schema | None) -> ds.Dataset:
        decryption = ds.ParquetDecryptionConfig(
            self._factory, self._kms, pe.DecryptionConfiguration(cache_lifetime=_KEY_CACHE)
        )
        options = ds.ParquetFragmentScanOptions(decryption_config=decryption)
        file_format = ds.ParquetFileFormat(default_fragment_scan_options=options)
        return ds.dataset([str(f) for f in files], schema=schema, format=file_format)


def _aad(user_key: str, connector: str, name: str) -> bytes:
    """Binds a sealed file to its partition and name: a file moved elsewhere does not open."""
    return f"{key_id(user_key, connector)}/{name}".encode()


def _segment_aad(aad: bytes, index: int, last: bool) -> bytes:
    return aad + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + index.to_bytes(4, "big")
