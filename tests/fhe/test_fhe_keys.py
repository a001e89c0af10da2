"""Key handling: local 0600 keystore, one keyset per (client, model), no secret bytes on the wire,
and another client's key cannot decrypt."""

from __future__ import annotations

import stat

import numpy as np
import pytest

from veilproof.fhe import CommitmentMismatch, FheClient


def _mode(p) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_keystore_permissions_and_reuse(fhe_world) -> None:
    c = fhe_world.client("logreg")
    assert _mode(c.keyset_path) == 0o600
    assert _mode(c.model_dir) == 0o700 and _mode(c.key_dir) == 0o700
    again = FheClient(fhe_world.bundle("logreg").client_zip_path, c.key_dir)
    assert not again.generated_keys
    assert again.keyset_path.read_bytes() == c.keyset_path.read_bytes()
    _, out = fhe_world.job("logreg", 0)
    np.testing.assert_array_equal(again.decrypt(out), c.decrypt(out))


def test_encryption_is_randomised(fhe_world) -> None:
    c = fhe_world.client("logreg")
    x = fhe_world.data.x_test[0]
    assert c.encrypt(x) != c.encrypt(x)


def test_refuses_keystore_with_loose_permissions(fhe_world, tmp_path) -> None:
    from veilproof.fhe import KeyStoreError

    b = fhe_world.bundle("logreg")
    c = FheClient(b.client_zip_path, tmp_path / "k")
    c.keyset_path.chmod(0o644)
    with pytest.raises(KeyStoreError):
        FheClient(b.client_zip_path, tmp_path / "k")


def test_client_zip_commitment_checked(fhe_world, tmp_path) -> None:
    b = fhe_world.bundle("logreg")
    with pytest.raises(CommitmentMismatch):
        FheClient(b.client_zip_path, tmp_path / "k", expected_client_hash="00" * 32)


def _secret_windows(client: FheClient, width: int = 256) -> list[bytes]:
    """Slices of every raw secret key of the client (skipping serialization headers)."""
    from concrete import fhe

    keyset = fhe.Keys.deserialize(client.keyset_path)._keyset
    windows = []
    for sk in keyset.get_client_keys().get_secret_keys():
        raw = sk.serialize()
        assert len(raw) > 4 * width
        for start in (len(raw) // 4, len(raw) // 2, len(raw) - 2 * width):
            w = raw[start : start + width]
            assert len(set(w)) > 1  # a real key slice, not padding
            windows.append(w)
    return windows


@pytest.mark.parametrize("kind", ["logreg", pytest.param("xgb", marks=pytest.mark.slow)])
def test_secret_key_never_in_anything_the_server_gets(fhe_world, kind: str) -> None:
    c = fhe_world.client(kind)
    ct, out = fhe_world.job(kind, 0)
    ek = c.evaluation_keys()
    for w in _secret_windows(c):
        assert w not in ek
        assert w not in ct
        assert w not in out
    # Sanity check of the method itself: the windows *are* found in the local keyset file.
    assert all(w in c.keyset_path.read_bytes() for w in _secret_windows(c)[:2])


@pytest.mark.slow
def test_other_clients_key_cannot_decrypt(fhe_world) -> None:
    """Bob decrypting Alice's output gets garbage (no error is raised by Concrete: LWE decryption
    always yields *some* value). Checked over several outputs so the test is not a coin flip."""
    alice, bob = fhe_world.client("xgb", "alice"), fhe_world.client("xgb", "bob")
    assert bob.evaluation_keys_hash() != alice.evaluation_keys_hash()
    rows = range(3)
    alice_vals = [alice.decrypt(fhe_world.job("xgb", i)[1]) for i in rows]
    bob_vals = [bob.decrypt(fhe_world.job("xgb", i)[1]) for i in rows]
    for a, b_ in zip(alice_vals, bob_vals, strict=True):
        assert not np.allclose(a, b_)
    want = fhe_world.clear_proba("xgb", fhe_world.data.x_test[:3])
    np.testing.assert_allclose(np.array(alice_vals), want, atol=1e-9)
