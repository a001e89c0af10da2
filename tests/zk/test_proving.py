"""Proving, verifying and the fraud cases, on the breast-cancer MLP (logrows 11, <1 s per proof)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from veilproof.models import prove, verify
from veilproof.zk import input_commitment
from veilproof.zk.errors import CommitmentMismatchError, ProofInvalidError
from veilproof.zk.instances import FIELD_MODULUS

pytestmark = pytest.mark.slow


def test_prove_verify_outputs_match_onnx(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    x = mlp.example.x_test[0]
    sess = ort.InferenceSession(str(mlp.example.onnx_path), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: x[None]})[0].reshape(-1)
    assert np.allclose(mlp_proof.outputs, ref, atol=0.05)
    assert verify(mlp.package, mlp_proof.proof, mlp_proof.input_commitment) == mlp_proof.outputs


def test_instances_layout(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """instances == [poseidon(input), out_0, out_1]: exactly one commitment felt, first."""
    inst = mlp_proof.instances
    assert len(inst) == 1 + 2
    assert inst[0] == input_commitment(mlp.package.settings, mlp.example.x_test[0])
    assert all(0 <= v < FIELD_MODULUS for v in inst)


def test_edited_output_fails(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    inst = list(mlp_proof.instances)
    inst[1] = (inst[1] + 1) % FIELD_MODULUS
    with pytest.raises(ProofInvalidError):
        verify(mlp.package, mlp_proof.proof.with_instances(inst))


def test_corrupted_proof_byte_fails(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    raw = bytearray(mlp_proof.proof_bytes)
    raw[len(raw) // 2] ^= 0x01
    with pytest.raises(ProofInvalidError):
        verify(mlp.package, mlp_proof.proof.with_proof_bytes(bytes(raw)))


def test_substituted_model_fails(mlp, mlp_substitute) -> None:  # type: ignore[no-untyped-def]
    """A node that runs other weights cannot pass the committed vk (params are fixed in the vk)."""
    assert mlp_substitute.package.commitments()["zk_vk_hash"] != mlp.package.commitments()["zk_vk_hash"]
    fake = prove(mlp_substitute.package, mlp.example.x_test[0])  # valid under its own vk
    with pytest.raises(ProofInvalidError):
        verify(mlp.package, fake.proof)


def test_proof_for_other_input_fails_commitment(mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    committed = input_commitment(mlp.package.settings, mlp.example.x_test[1])
    with pytest.raises(CommitmentMismatchError):
        verify(mlp.package, mlp_proof.proof, expected_commitment=committed)


def test_logreg_prove_verify(logreg) -> None:  # type: ignore[no-untyped-def]
    x = logreg.example.x_test[3]
    r = prove(logreg.package, x)
    assert verify(logreg.package, r.proof, input_commitment(logreg.package.settings, x)) == r.outputs
