from __future__ import annotations

import logging
from pathlib import Path

import pytest

from veilproof.chain.keystore import Keystore
from veilproof.errors import InputError, KeystoreError


def test_create_load_roundtrip_and_file_mode(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    entry = ks.create("alice", "pw")
    acct = ks.load("alice", "pw")
    assert acct.address == entry.address
    assert entry.path.stat().st_mode & 0o777 == 0o600
    assert acct.key.hex() not in entry.path.read_text()
    assert [e.name for e in ks.list()] == ["alice"]


def test_wrong_password_and_duplicates(tmp_path: Path) -> None:
    ks = Keystore(tmp_path)
    ks.create("bob", "right")
    with pytest.raises(KeystoreError, match="wrong password"):
        ks.load("bob", "wrong")
    with pytest.raises(KeystoreError, match="already exists"):
        ks.create("bob", "x")
    with pytest.raises(KeystoreError, match="no keystore"):
        ks.load("carol", "x")
    with pytest.raises(InputError):
        ks.create("../evil", "x")


def test_key_never_in_repr_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ks = Keystore(tmp_path)
    ks.create("dave", "pw")
    caplog.set_level(logging.DEBUG)
    acct = ks.load("dave", "pw")
    secret = acct.key.hex().removeprefix("0x")
    assert secret not in repr(acct)
    assert secret not in caplog.text
