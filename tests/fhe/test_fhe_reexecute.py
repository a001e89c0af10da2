"""Determinism of server evaluation per kind, and third-party re-execution (confirm / refute)."""

from __future__ import annotations

import pytest

from veilproof.artifacts import sha256_hex
from veilproof.fhe import (
    DETERMINISTIC_KINDS,
    FheServer,
    NotDeterministic,
    circuit_is_deterministic,
    job_hashes,
    reexecute,
)

KINDS = ["logreg", pytest.param("xgb", marks=pytest.mark.slow), pytest.param("nn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("kind", KINDS)
def test_server_evaluation_is_byte_deterministic_within_a_process(fhe_world, kind: str) -> None:
    c, s = fhe_world.client(kind), fhe_world.server(kind)
    ct, _ = fhe_world.job(kind, 0)
    assert s.run(ct, c.evaluation_keys()) == s.run(ct, c.evaluation_keys())


def test_reexecute_confirms_and_refutes(fhe_world) -> None:
    kind = "logreg"
    c, s, b = fhe_world.client(kind), fhe_world.server(kind), fhe_world.bundle(kind)
    ct, out = fhe_world.job(kind, 0)
    hashes = job_hashes(c.evaluation_keys(), ct, out, b.server_zip_hash)
    ok = reexecute(
        s, c.evaluation_keys(), ct, hashes["output_hash"], expected_server_hash=b.server_zip_hash, kind=kind
    )
    assert ok.match and ok.output_hash == hashes["output_hash"]
    # A node that reports the output of another input (or a fabricated one) is refuted.
    _, other_out = fhe_world.job(kind, 1)
    bad = reexecute(s, c.evaluation_keys(), ct, sha256_hex(other_out), kind=kind)
    assert not bad.match and bad.output_hash == hashes["output_hash"]


@pytest.mark.parametrize("kind", ["xgb", "nn"])
def test_pbs_kinds_are_excluded_from_hash_reexecution(kind: str) -> None:
    """Cross-process outputs of PBS circuits differ in noise bits, so a hash mismatch proves nothing."""
    assert kind not in DETERMINISTIC_KINDS
    with pytest.raises(NotDeterministic):
        reexecute("unused-path", b"", b"", "00" * 32, kind=kind)


def test_reexecute_from_path_in_fresh_process_and_in_process_agree(fhe_world) -> None:
    """Isolated worker, a brand-new worker, and in-process evaluation all give identical bytes."""
    c, b = fhe_world.client("logreg"), fhe_world.bundle("logreg")
    ct, out = fhe_world.job("logreg", 0)
    r = reexecute(
        b.server_zip_path, c.evaluation_keys(), ct, sha256_hex(out), expected_server_hash=b.server_zip_hash
    )
    assert r.match
    with FheServer(b.server_zip_path, b.server_zip_hash, isolate=False) as local:
        assert local.run(ct, c.evaluation_keys()) == out


def test_reexecute_refuses_non_deterministic_kind(fhe_world) -> None:
    c = fhe_world.client("logreg")
    ct, out = fhe_world.job("logreg", 0)
    with pytest.raises(NotDeterministic):
        reexecute(fhe_world.server("logreg"), c.evaluation_keys(), ct, sha256_hex(out), kind="made-up")


@pytest.mark.parametrize("kind", KINDS)
def test_determinism_is_read_from_the_committed_circuit(fhe_world, kind: str) -> None:
    """Validators know no model kind, only the committed server.zip: bootstrap keys in its keyset mean
    PBS, hence not byte-deterministic; re-execution then refuses to judge (issue #12 item 5)."""
    b = fhe_world.bundle(kind)
    assert circuit_is_deterministic(b.server_zip_path) is (kind in DETERMINISTIC_KINDS)
    assert fhe_world.server(kind).deterministic is (kind in DETERMINISTIC_KINDS)
    if kind not in DETERMINISTIC_KINDS:
        c = fhe_world.client(kind)
        ct, out = fhe_world.job(kind, 0)
        with pytest.raises(NotDeterministic):
            reexecute(fhe_world.server(kind), c.evaluation_keys(), ct, sha256_hex(out))
        with pytest.raises(NotDeterministic):
            reexecute(b.server_zip_path, c.evaluation_keys(), ct, sha256_hex(out))


def test_an_unreadable_circuit_is_never_taken_as_deterministic(tmp_path) -> None:
    bad = tmp_path / "server.zip"
    bad.write_bytes(b"not a zip")
    assert circuit_is_deterministic(bad) is False
    assert circuit_is_deterministic(b"") is False
