"""The data host's record store, encrypted at rest with AES-256-GCM (pycryptodome).

Why: a host's disk (a backup, a stolen volume, a co-tenant) must not hold readable rows. Each record
is sealed under the host's 32-byte key with a fresh 12-byte nonce and the record hash as associated
data, so a file swapped between records fails to open. The key lives only in the host process (or
its key file, mode 0600); what can still leak is documented in docs/data-market.md.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from Crypto.Cipher import AES

from veilproof.data.records import Record
from veilproof.errors import DataHostError, InputError

NONCE = 12
TAG = 16


class EncryptedStore:
    """``put``/``get`` records by hash under ``root``; ``key`` is 32 bytes (random if not given)."""

    def __init__(self, root: Path, n_features: int, key: bytes | None = None) -> None:
        if key is not None and len(key) != 32:
            raise InputError("key", "32 bytes (AES-256)", len(key))
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.n_features = n_features
        self._key = key or secrets.token_bytes(32)

    def _path(self, record_hash: bytes) -> Path:
        return self.root / f"{record_hash.hex()}.bin"

    def put(self, rec: Record) -> bytes:
        """Seal and store ``rec``; returns its record hash."""
        h = rec.record_hash
        nonce = secrets.token_bytes(NONCE)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        cipher.update(h)
        ct, tag = cipher.encrypt_and_digest(rec.to_bytes())
        tmp = self._path(h).with_suffix(".tmp")
        tmp.write_bytes(nonce + tag + ct)
        os.replace(tmp, self._path(h))
        return h

    def has(self, record_hash: bytes) -> bool:
        return self._path(record_hash).is_file()

    def get(self, record_hash: bytes) -> Record:
        """Open one record; DataHostError if missing or tampered (tag or hash mismatch)."""
        p = self._path(record_hash)
        if not p.is_file():
            raise DataHostError(f"record {record_hash.hex()} is not in this host's store")
        raw = p.read_bytes()
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=raw[:NONCE])
        cipher.update(record_hash)
        try:
            plain = cipher.decrypt_and_verify(raw[NONCE + TAG :], raw[NONCE : NONCE + TAG])
        except ValueError as e:
            raise DataHostError(f"record {record_hash.hex()} fails its integrity check: {e}") from e
        rec = Record.from_bytes(plain, self.n_features)
        if rec.record_hash != record_hash:
            raise DataHostError(f"record {record_hash.hex()} decrypts to another record")
        return rec
