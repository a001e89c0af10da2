"""Hostile or broken inputs to the server become typed errors and the server keeps working.

Measured Concrete behaviour without our guards: malformed bytes raise RuntimeError; a ciphertext of
another circuit raises RuntimeError (incompatible variance); evaluation keys of another circuit
**segfault the process** (C++ assertion). See veilproof/fhe/server.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from veilproof.artifacts import sha256_hex
from veilproof.fhe import (
    CiphertextError,
    CircuitMismatch,
    CommitmentMismatch,
    EvaluationCrashed,
    EvaluationKeyError,
    FheServer,
    PayloadTooLarge,
    ServerLimits,
)


def _flip(b: bytes, i: int) -> bytes:
    m = bytearray(b)
    m[i] ^= 0xFF
    return bytes(m)


def _check_still_works(fhe_world, kind: str) -> None:
    """A valid job still evaluates correctly. Compared after decryption: a restarted worker is a new
    process, and PBS circuits are not byte-identical across processes (see reexecute.py)."""
    c = fhe_world.client(kind)
    ct, out = fhe_world.job(kind, 0)
    np.testing.assert_allclose(c.decrypt(fhe_world.server(kind).run(ct, c.evaluation_keys())), c.decrypt(out))


@pytest.mark.parametrize("kind", ["logreg", pytest.param("xgb", marks=pytest.mark.slow)])
def test_bad_ciphertexts(fhe_world, kind: str) -> None:
    s, c = fhe_world.server(kind), fhe_world.client(kind)
    ek = c.evaluation_keys()
    ct, _ = fhe_world.job(kind, 0)
    cases = {
        "empty": b"",
        "random same size": os.urandom(len(ct)),
        "truncated": ct[: len(ct) // 2],
        "extended": ct + b"\0" * 8,
        "header flipped": _flip(ct, 8),
    }
    for name, bad in cases.items():
        with pytest.raises(CiphertextError):
            s.run(bad, ek)
            pytest.fail(name)
    with pytest.raises(CiphertextError):
        s.run("not bytes", ek)  # type: ignore[arg-type]
    _check_still_works(fhe_world, kind)


@pytest.mark.slow
def test_ciphertext_for_another_circuit(fhe_world) -> None:
    ct_logreg, _ = fhe_world.job("logreg", 0)
    with pytest.raises(CircuitMismatch):
        fhe_world.server("xgb").run(ct_logreg, fhe_world.client("xgb").evaluation_keys())
    _check_still_works(fhe_world, "xgb")


@pytest.mark.slow
def test_bad_evaluation_keys(fhe_world) -> None:
    s, c = fhe_world.server("xgb"), fhe_world.client("xgb")
    ek = c.evaluation_keys()
    ct, _ = fhe_world.job("xgb", 0)
    cases = {
        "empty": b"",
        "other circuit's keys (segfaults Concrete unguarded)": fhe_world.client("logreg").evaluation_keys(),
        "truncated": ek[: len(ek) // 2],
        "random same size": os.urandom(len(ek)),
        "header flipped": _flip(ek, 8),
    }
    for name, bad in cases.items():
        with pytest.raises(EvaluationKeyError):
            s.run(ct, bad)
            pytest.fail(name)
    _check_still_works(fhe_world, "xgb")


@pytest.mark.slow
def test_native_crash_is_isolated_and_worker_restarts(fhe_world) -> None:
    """Bypass the size pre-check to feed Concrete the input that segfaults it: the parent survives."""
    s = fhe_world.server("xgb")
    ct, _ = fhe_world.job("xgb", 0)
    foreign = fhe_world.client("logreg").evaluation_keys()
    pid = s.worker_pid
    with pytest.raises(EvaluationCrashed):
        s._run_isolated(ct, sha256_hex(foreign), foreign)
    assert s.crashes >= 1
    _check_still_works(fhe_world, "xgb")
    assert s.worker_pid != pid


def test_oversized_inputs(fhe_world) -> None:
    s, c = fhe_world.server("logreg"), fhe_world.client("logreg")
    ek = c.evaluation_keys()
    with pytest.raises(PayloadTooLarge):
        s.run(b"\0" * (s.limits.max_ciphertext_bytes + 1), ek)
    b = fhe_world.bundle("logreg")
    ct, out = fhe_world.job("logreg", 0)
    with FheServer(
        b.server_zip_path,
        isolate=False,
        limits=ServerLimits(max_evaluation_key_bytes=16, max_ciphertext_bytes=100),
    ) as tight:
        with pytest.raises(PayloadTooLarge):
            tight.run(b"\0" * 8, ek)
        with pytest.raises(PayloadTooLarge):
            tight.run(ct, ek)
    _check_still_works(fhe_world, "logreg")


def test_server_zip_commitment_checked(fhe_world) -> None:
    b = fhe_world.bundle("logreg")
    with pytest.raises(CommitmentMismatch):
        FheServer(b.server_zip_path, expected_hash="11" * 32)


def test_evaluation_timeout_kills_worker(fhe_world) -> None:
    """A run over the time limit is killed and reported; nothing blocks forever."""
    from veilproof.fhe import EvaluationTimeout

    b, c = fhe_world.bundle("logreg"), fhe_world.client("logreg")
    ct, _ = fhe_world.job("logreg", 0)
    with FheServer(b.server_zip_path, b.server_zip_hash, limits=ServerLimits(timeout_s=1e-6)) as s:
        with pytest.raises(EvaluationTimeout):
            s.run(ct, c.evaluation_keys())
        assert s.worker_pid is None  # killed; a fresh worker is started on the next run
