"""JobMarket with EZKL's real verifier: an honest proof settles; every kind of fraud fails on chain
with a clear reason, and the node's signed fraudulent claim gets it slashed through challenge_zk."""

from __future__ import annotations

from pathlib import Path

import pytest
from zk_market import zk_market

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.views import MODE_ZK, OPEN, SETTLED, SLASHED, read_job, read_node
from veilproof.errors import ContractReverted
from veilproof.models import prove
from veilproof.protocol import ClaimSigner
from veilproof.zk import evm
from veilproof.zk.instances import input_commitment

pytestmark = pytest.mark.slow
PRICE, SLASH = 2 * ONE_VEIL, 50 * ONE_VEIL
FIXTURES = Path(__file__).resolve().parents[1] / "contracts" / "fixtures"


@pytest.fixture(scope="module")
def m(mlp):  # type: ignore[no-untyped-def]
    m = zk_market(mlp, PRICE, SLASH)
    m.signer = ClaimSigner(m.node, m.net.chain_id, m.s.market.address)
    return m


def _open(m, mlp, x) -> int:  # type: ignore[no-untyped-def]
    net, s = m.net, m.s
    s.token.approve(s.market.address, PRICE, sender=m.client)
    commit = input_commitment(mlp.package.settings, x).to_bytes(32, "big")
    rcpt = s.market.open_job(
        m.mid, m.node.address, commit, MODE_ZK, net.now() + 3600, max_price=PRICE, sender=m.client
    )
    job_id = s.market.opened_job_id(rcpt)
    s.market.start_job(job_id, sender=m.node)
    return job_id


def _submit(m, job_id, proof) -> None:  # type: ignore[no-untyped-def]
    pb, inst = evm.calldata(proof)
    m.s.market.submit_zk(job_id, inst, pb, sender=m.node, gas=3_000_000)


def _challenge(m, job_id, proof) -> None:  # type: ignore[no-untyped-def]
    """The client takes the node's signed claim on chain: slashed, refunded."""
    pb, inst = evm.calldata(proof)
    sig = bytes.fromhex(m.signer.sign(job_id, inst, pb)[2:])
    before = read_node(m.s, m.node.address).stake
    m.s.market.challenge_zk(job_id, inst, pb, sig, sender=m.client)
    assert read_job(m.s, job_id).status == SLASHED
    assert read_node(m.s, m.node.address).stake == before - SLASH


def test_honest_proof_settles(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    jid = _open(m, mlp, mlp.example.x_test[0])
    # A valid claim cannot be used to slash an honest node.
    pb, inst = evm.calldata(mlp_proof.proof)
    sig = bytes.fromhex(m.signer.sign(jid, inst, pb)[2:])
    with pytest.raises(ContractReverted, match="claim is valid"):
        m.s.market.challenge_zk(jid, inst, pb, sig, sender=m.client)
    _submit(m, jid, mlp_proof.proof)
    assert read_job(m.s, jid).status == SETTLED


@pytest.mark.parametrize("fraud", ["substituted_model", "edited_output", "corrupted_byte"])
def test_fraud_is_rejected_then_slashed(m, mlp, mlp_proof, mlp_substitute, fraud: str) -> None:  # type: ignore[no-untyped-def]
    x = mlp.example.x_test[0]
    jid = _open(m, mlp, x)
    if fraud == "substituted_model":
        proof = prove(mlp_substitute.package, x).proof  # same shape, other weights, same input commitment
    elif fraud == "edited_output":
        inst = list(mlp_proof.proof.instances)
        inst[1] = (inst[1] + 1024) % (2**254)
        proof = mlp_proof.proof.with_instances(inst)
    else:
        raw = bytearray(mlp_proof.proof.proof_bytes)
        raw[100] ^= 0x01
        proof = mlp_proof.proof.with_proof_bytes(bytes(raw))
    with pytest.raises(ContractReverted, match="proof rejected"):
        _submit(m, jid, proof)
    assert read_job(m.s, jid).status == OPEN
    _challenge(m, jid, proof)


def test_proof_for_another_input_and_replayed_proof_are_rejected(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """The job's input commitment binds the proof: a proof of another input — including a valid proof
    replayed from an earlier job — fails `instances[0] == input_commitment` on chain."""
    jid = _open(m, mlp, mlp.example.x_test[1])
    with pytest.raises(ContractReverted, match="input mismatch"):
        _submit(m, jid, mlp_proof.proof)  # the earlier job's proof, for x_test[0]
    _challenge(m, jid, mlp_proof.proof)


def test_owner_swapping_the_verifier_cannot_slash_an_honest_claim(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """Attack (#12 item 2): the node signed a valid claim; the market owner swaps `zk_verifier` for
    one that rejects everything and the client challenges the claim. The job is judged by the
    verifier it was opened under, so the challenge fails and the node's submit still settles."""
    from veilproof.chain import compile_contract

    s, adapter = m.s, m.s.zk_adapter
    jid = _open(m, mlp, mlp.example.x_test[0])
    assert read_job(s, jid).verifier == adapter.address
    pb, inst = evm.calldata(mlp_proof.proof)
    sig = bytes.fromhex(m.signer.sign(jid, inst, pb)[2:])
    rej = compile_contract(FIXTURES / "RejectingVerifier.vy")
    rejecting = m.net.deploy_bytecode(rej.abi, rej.bytecode, sender=m.owner, label="RejectingVerifier")
    stake = read_node(s, m.node.address).stake
    s.market.set_zk_verifier(rejecting.address, sender=m.owner)
    try:
        with pytest.raises(ContractReverted, match="claim is valid"):
            s.market.challenge_zk(jid, inst, pb, sig, sender=m.client)
        _submit(m, jid, mlp_proof.proof)
    finally:
        s.market.set_zk_verifier(adapter.address, sender=m.owner)
    assert read_job(s, jid).status == SETTLED
    assert read_node(s, m.node.address).stake == stake


def test_zk_job_for_a_model_without_its_vka_registered_cannot_open(m, mlp) -> None:  # type: ignore[no-untyped-def]
    """Attack (#12 item 2): a model whose VKA was never registered with the adapter verifies no
    proof, so every honest claim on it is slashable. Such a model cannot take ZK jobs."""
    s = m.s
    c = mlp.package.commitments()
    rcpt = s.models.register_model("no vka", PRICE, 0, b"\x01" * 32, [], [], b"\x02" * 32, sender=m.owner)
    mid = s.models.registered_model_id(rcpt)
    b32 = {
        k: bytes.fromhex(str(c[k]).removeprefix("0x"))
        for k in ("zk_settings_hash", "zk_vka_digest", "zk_srs_hash")
    }
    s.models.set_zk_commitment(
        mid, b32["zk_settings_hash"], b32["zk_vka_digest"], b32["zk_srs_hash"], sender=m.owner
    )
    s.nodes.set_models([m.mid, mid], sender=m.node)
    assert not s.zk_adapter.is_registered(mid)
    commit = input_commitment(mlp.package.settings, mlp.example.x_test[0]).to_bytes(32, "big")
    s.token.approve(s.market.address, PRICE, sender=m.client)
    with pytest.raises(ContractReverted, match="model not registered"):
        s.market.open_job(
            mid, m.node.address, commit, MODE_ZK, m.net.now() + 3600, max_price=PRICE, sender=m.client
        )


def test_a_proof_over_the_market_limit_is_caught_before_signing_and_costs_nobody(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """#12 (low): a circuit whose proofs exceed JobMarket's MAX_PROOF (32 KiB) used to be found only at
    the submit, after ``start_job``. The node's pre-sign check (``check_submit_zk``, an eth_call of the
    submit) refuses it, so the node signs nothing and declines the job on chain: the client is refunded
    at once and nobody is slashed."""
    job_id = _open(m, mlp, mlp.example.x_test[0])
    pb, inst = evm.calldata(mlp_proof)
    oversize = pb + b"\x00" * (32768 + 1 - len(pb))
    with pytest.raises(ContractReverted):
        m.s.market.check_submit_zk(job_id, inst, oversize, node=m.node.address)
    stake = read_node(m.s, m.node.address).stake
    escrow = m.s.market.pending(m.client.address)
    m.s.market.reject(job_id, "proof exceeds the market's limit", sender=m.node)
    assert read_node(m.s, m.node.address).stake == stake
    assert m.s.market.pending(m.client.address) == escrow + PRICE
