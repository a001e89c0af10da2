"""On-chain: ZkVerifierAdapter + EZKL's reusable verifier accept a real proof, reject tampering."""

from __future__ import annotations

import pytest

from veilproof.errors import ContractReverted
from veilproof.models import prove
from veilproof.zk import evm

pytestmark = pytest.mark.slow

MODEL_ID = 7


@pytest.fixture(scope="module")
def deployed(mlp):  # type: ignore[no-untyped-def]
    from veilproof.chain import connect

    net = connect()
    owner, other = net.new_accounts(2)
    ver = evm.compile_reusable_verifier()
    verifier = net.deploy_bytecode(ver.abi, ver.bytecode, sender=owner, label="Halo2VerifierReusable")
    adapter = net.deploy("ZkVerifierAdapter", sender=owner)
    net.transact(adapter.functions.register_model(MODEL_ID, verifier.address, mlp.package.vka_words), sender=owner)
    return net, adapter, verifier, owner, other


def test_accepts_real_proof(deployed, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    net, adapter, _, owner, _ = deployed
    pb, inst = evm.calldata(mlp_proof.proof)
    assert net.call(adapter.functions.verify(MODEL_ID, pb, inst)) is True
    assert net.call(adapter.functions.vka_of(MODEL_ID)) == mlp.package.vka_words
    m = net.call(adapter.functions.models(MODEL_ID))
    assert "0x" + bytes(m[2]).hex() == mlp.package.commitments()["zk_vka_digest"]


def test_rejects_tampering_without_revert(deployed, mlp, mlp_proof, mlp_substitute) -> None:  # type: ignore[no-untyped-def]
    net, adapter, _, _, _ = deployed
    pb, inst = evm.calldata(mlp_proof.proof)
    edited = list(inst)
    edited[1] += 1
    assert net.call(adapter.functions.verify(MODEL_ID, pb, edited)) is False
    bad = bytearray(pb)
    bad[len(bad) // 2] ^= 1
    assert net.call(adapter.functions.verify(MODEL_ID, bytes(bad), inst)) is False
    assert net.call(adapter.functions.verify(MODEL_ID, pb[:-32], inst)) is False
    assert net.call(adapter.functions.verify(MODEL_ID + 1, pb, inst)) is False  # unknown model
    fake = prove(mlp_substitute.package, mlp.example.x_test[0])
    fpb, finst = evm.calldata(fake.proof)
    assert net.call(adapter.functions.verify(MODEL_ID, fpb, finst)) is False


def test_registration_owner_only_once(deployed, mlp) -> None:  # type: ignore[no-untyped-def]
    net, adapter, verifier, owner, other = deployed
    with pytest.raises(ContractReverted, match="not owner"):
        net.transact(adapter.functions.register_model(99, verifier.address, mlp.package.vka_words), sender=other)
    with pytest.raises(ContractReverted, match="already registered"):
        net.transact(adapter.functions.register_model(MODEL_ID, verifier.address, mlp.package.vka_words),
                     sender=owner)


def test_low_gas_reverts_instead_of_false(deployed, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """Out of gas inside the verifier must not read as 'invalid proof' (an honest node would be slashed)."""
    _, adapter, _, _, _ = deployed
    pb, inst = evm.calldata(mlp_proof.proof)
    with pytest.raises(Exception, match="out of gas"):
        adapter.functions.verify(MODEL_ID, pb, inst).call({"gas": 300_000})
