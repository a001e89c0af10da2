"""On-chain: ZkVerifierAdapter + EZKL's reusable verifier accept a real proof, reject tampering."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from veilproof.errors import ContractReverted
from veilproof.models import prove
from veilproof.zk import evm

pytestmark = pytest.mark.slow


def _register(net, models, owner, vka_digest: str) -> int:  # type: ignore[no-untyped-def]
    """A model in ModelRegistry whose zk_vk_hash commits to ``vka_digest``."""
    z = b"\x00" * 32
    rcpt = net.transact(models.functions.register_model("m", 1, 0, b"\x01" * 32, [], [], z), sender=owner)
    (ev,) = models.events.ModelRegistered().process_receipt(rcpt.raw)
    mid = int(ev["args"]["model_id"])
    digest = bytes.fromhex(vka_digest.removeprefix("0x"))
    net.transact(models.functions.set_zk_commitment(mid, b"\x02" * 32, digest, b"\x03" * 32), sender=owner)
    return mid


@pytest.fixture(scope="module")
def d(mlp):  # type: ignore[no-untyped-def]
    from veilproof.chain import connect

    net = connect()
    owner, other = net.new_accounts(2)
    models = net.deploy("ModelRegistry", sender=owner)
    ver = evm.compile_reusable_verifier()
    verifier = net.deploy_bytecode(ver.abi, ver.bytecode, sender=owner, label="Halo2VerifierReusable")
    adapter = net.deploy("ZkVerifierAdapter", models.address, verifier.address, sender=owner)
    mid = _register(net, models, owner, mlp.package.commitments()["zk_vka_digest"])
    net.transact(adapter.functions.register_model(mid, mlp.package.vka_words), sender=owner)
    return SimpleNamespace(
        net=net, adapter=adapter, verifier=verifier, owner=owner, other=other, models=models, mid=mid
    )


def test_accepts_real_proof(d, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    pb, inst = evm.calldata(mlp_proof.proof)
    assert d.net.call(d.adapter.functions.verify(d.mid, pb, inst)) is True
    assert d.net.call(d.adapter.functions.vka_of(d.mid)) == mlp.package.vka_words
    m = d.net.call(d.adapter.functions.models(d.mid))
    assert "0x" + bytes(m[2]).hex() == mlp.package.commitments()["zk_vka_digest"]


def test_rejects_tampering_without_revert(d, mlp, mlp_proof, mlp_substitute) -> None:  # type: ignore[no-untyped-def]
    net, adapter, mid = d.net, d.adapter, d.mid
    pb, inst = evm.calldata(mlp_proof.proof)
    edited = list(inst)
    edited[1] += 1
    assert net.call(adapter.functions.verify(mid, pb, edited)) is False
    bad = bytearray(pb)
    bad[len(bad) // 2] ^= 1
    assert net.call(adapter.functions.verify(mid, bytes(bad), inst)) is False
    assert net.call(adapter.functions.verify(mid, pb[:-32], inst)) is False
    assert net.call(adapter.functions.verify(mid + 1000, pb, inst)) is False  # unknown model
    fake = prove(mlp_substitute.package, mlp.example.x_test[0])
    fpb, finst = evm.calldata(fake.proof)
    assert net.call(adapter.functions.verify(mid, fpb, finst)) is False


def test_registration_bound_to_model_owner_and_commitment(d, mlp, mlp_substitute) -> None:  # type: ignore[no-untyped-def]
    words = mlp.package.vka_words
    mid = _register(d.net, d.models, d.owner, mlp.package.commitments()["zk_vka_digest"])
    with pytest.raises(ContractReverted, match="not model owner"):
        d.net.transact(d.adapter.functions.register_model(mid, words), sender=d.other)
    with pytest.raises(ContractReverted, match="unknown model"):
        d.net.transact(d.adapter.functions.register_model(10_000, words), sender=d.owner)
    # A VKA other than the committed one (e.g. a substitute model's) is refused.
    with pytest.raises(ContractReverted, match="does not match committed vk"):
        d.net.transact(
            d.adapter.functions.register_model(mid, mlp_substitute.package.vka_words), sender=d.owner
        )
    with pytest.raises(ContractReverted, match="already registered"):
        d.net.transact(d.adapter.functions.register_model(d.mid, words), sender=d.owner)


def test_low_gas_reverts_instead_of_false(d, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """Out of gas inside the verifier must not read as 'invalid proof' (an honest node would be slashed)."""
    pb, inst = evm.calldata(mlp_proof.proof)
    with pytest.raises(Exception, match="out of gas"):
        d.adapter.functions.verify(d.mid, pb, inst).call({"gas": 300_000})
