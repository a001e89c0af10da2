"""Key handling: local 0600 keystore, one keyset per (client, model), no secret bytes on the wire,
and another client's key cannot decrypt."""

from __future__ import annotations

import stat

import numpy as np
import pytest
from chance import assert_wrong_key_garbage

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
    """Bob decrypting Alice's outputs gets integers unrelated to hers.

    Concrete raises no error for a wrong key: LWE decryption always yields *some* value. With the wrong
    secret key the phase b - <a, s'> = <a, s - s'> + Δm + e is uniform (a is uniform), so each decrypted
    output integer is uniform over the decoding space, whatever Alice's value was. That space holds at
    least 2^w values for an output of w bits (observed: 2^(w+1), the padding bit included), so one
    integer equals Alice's with probability p <= 2^-w.

    The check counts equal integers over every output integer of 3 jobs (XGB int5: one per tree, n = 24)
    and fails only at k = 11 or more, where P(Bin(24, 1/32) >= 11) = 4.8e-11 is the false-failure
    probability (``chance.assert_wrong_key_garbage`` computes it). Real decryption makes all 24 equal.

    (An earlier version compared dequantized probabilities; those are a sum over trees and a sigmoid,
    so unrelated integers collide about once in a hundred rows, and CI drew one.)
    """
    alice, bob = fhe_world.client("xgb", "alice"), fhe_world.client("xgb", "bob")
    assert bob.evaluation_keys_hash() != alice.evaluation_keys_hash()
    rows = range(3)
    outs = [fhe_world.job("xgb", i)[1] for i in rows]
    alice_raw = np.concatenate([alice.decrypt_raw(o) for o in outs])
    bob_raw = np.concatenate([bob.decrypt_raw(o) for o in outs])

    (node,) = fhe_world.build("xgb")[1].model.fhe_circuit.graph.ordered_outputs()
    assert alice.output_bit_width == node.output.dtype.bit_width == 5
    assert_wrong_key_garbage(alice_raw, bob_raw, alice.output_bit_width)

    # Alice's own key does decrypt, to the clear model's answer.
    want = fhe_world.clear_proba("xgb", fhe_world.data.x_test[:3])
    np.testing.assert_allclose(np.array([alice.decrypt(o) for o in outs]), want, atol=1e-9)
