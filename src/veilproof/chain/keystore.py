"""Local encrypted keystores (Web3 Secret Storage, via eth-account).

A private key is decrypted only into memory, for signing. It is never printed, logged or sent:
``LocalAccount`` objects are passed around, and their repr does not show the key.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from veilproof.errors import InputError, KeystoreError


@dataclass(frozen=True)
class KeystoreEntry:
    name: str
    address: str
    path: Path


class Keystore:
    """A folder of ``<name>.json`` keystore files, each encrypted with a password (scrypt)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        if not name or not all(c.isalnum() or c in "-_." for c in name) or name.startswith("."):
            raise InputError("account name", "letters, digits, '-', '_' or '.'", name)
        return self.root / f"{name}.json"

    def create(self, name: str, password: str, account: LocalAccount | None = None) -> KeystoreEntry:
        """Write a new encrypted keystore; refuses to overwrite an existing one."""
        path = self._path(name)
        if path.exists():
            raise KeystoreError(f"keystore {name!r} already exists at {path}")
        acct = account or Account.create()
        # Light scrypt parameters only when asked for (tests, demo); the default is the standard one.
        kdf_n = int(os.environ.get("VEILPROOF_SCRYPT_N", "262144"))
        data = Account.encrypt(acct.key, password, kdf="scrypt", iterations=kdf_n)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
        return KeystoreEntry(name, acct.address, path)

    def load(self, name: str, password: str) -> LocalAccount:
        path = self._path(name)
        if not path.is_file():
            raise KeystoreError(f"no keystore named {name!r} in {self.root}")
        try:
            key = Account.decrypt(json.loads(path.read_text()), password)
        except ValueError as e:
            raise KeystoreError(f"keystore {name!r}: wrong password or corrupted file") from e
        return Account.from_key(key)

    def list(self) -> list[KeystoreEntry]:
        out = []
        for p in sorted(self.root.glob("*.json")):
            try:
                addr = "0x" + json.loads(p.read_text())["address"].removeprefix("0x")
            except (KeyError, ValueError):
                continue
            out.append(KeystoreEntry(p.stem, addr, p))
        return out
