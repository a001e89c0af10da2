"""ReceiptMarket with EZKL's real verifier and real proofs (docs/settlement.md): the client verifies
locally and pays by receipt; a client withholding its receipt still pays (the node proves on chain);
a wrong proof gets no receipt, no claim, and a slash; a demand is answered with the proof."""

from __future__ import annotations

import pytest
from zk_market import zk_market

from veilproof.chain.deploy import (
    ONE_VEIL,
    ReceiptParams,
)
from veilproof.chain.receipt_market import Order, output_hash
from veilproof.chain.views import read_node
from veilproof.errors import ContractReverted
from veilproof.models import verify
from veilproof.zk import evm
from veilproof.zk.errors import ProofInvalidError
from veilproof.zk.instances import input_commitment

pytestmark = pytest.mark.slow
PRICE, SLASH, BOND, SURCHARGE = 2 * ONE_VEIL, 50 * ONE_VEIL, ONE_VEIL, ONE_VEIL // 10


@pytest.fixture(scope="module")
def m(mlp):  # type: ignore[no-untyped-def]
    receipts = ReceiptParams(slash_amount=SLASH, demand_bond=BOND, claim_surcharge=SURCHARGE)
    m = zk_market(mlp, PRICE, SLASH, extra_accounts=1, receipts=receipts)
    (m.other,) = m.others
    m.rm = m.s.receipts
    assert m.rm is not None
    m.s.token.approve(m.rm.address, 100 * ONE_VEIL, sender=m.client)
    m.rm.deposit(m.node.address, 50 * ONE_VEIL, sender=m.client)
    m.nonce = [0]
    return m


def _order(m, mlp, i: int = 0, deadline: int = 600) -> Order:  # type: ignore[no-untyped-def]
    m.nonce[0] += 1
    commit = input_commitment(mlp.package.settings, mlp.example.x_test[i]).to_bytes(32, "big")
    return Order(
        m.client.address, m.node.address, m.mid, commit, PRICE, m.net.now() + deadline, m.nonce[0],
        royalty=m.rm.model_royalty(m.mid),
    )  # fmt: skip


def test_client_verifies_locally_and_pays_by_receipt(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    o = _order(m, mlp)
    verify(mlp.package, mlp_proof.proof, int.from_bytes(o.input_commitment, "big"))  # the client's check
    pb, inst = evm.calldata(mlp_proof.proof)
    rc = m.rm.sign_receipt(o, output_hash(inst), PRICE, m.client)
    dep = m.rm.deposit_of(m.client.address, m.node.address)
    res = m.rm.settle([rc], sender=m.node)
    assert res.total == PRICE and m.rm.deposit_of(m.client.address, m.node.address) == dep - PRICE


def test_withheld_receipt_node_is_paid_by_proving_on_chain(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """Attack: the client got a valid result and signs no receipt. The node puts the proof on chain:
    paid the order's price plus the surcharge from the deposit. The client cannot turn the node's
    valid delivery into a slash."""
    o = _order(m, mlp, deadline=30)
    csig = m.rm.sign_order(o, m.client)
    pb, inst = evm.calldata(mlp_proof.proof)
    dsig = m.rm.sign_delivery(o, inst, pb, m.node)
    with pytest.raises(ContractReverted, match="claim too early"):
        m.rm.claim_with_proof(o, csig, inst, pb, sender=m.node, gas=3_000_000)
    m.net.time_travel(60)
    with pytest.raises(ContractReverted, match="claim is valid"):
        m.rm.challenge(o, inst, pb, dsig, sender=m.client, gas=3_000_000)
    dep, pend = m.rm.deposit_of(m.client.address, m.node.address), m.rm.pending(m.node.address)
    rcpt = m.rm.claim_with_proof(o, csig, inst, pb, sender=m.node, gas=3_000_000)
    assert m.rm.deposit_of(m.client.address, m.node.address) == dep - PRICE - SURCHARGE
    assert m.rm.pending(m.node.address) > pend + SURCHARGE  # price less royalty, plus surcharge
    print(f"claim_with_proof gas: {rcpt.gas_used}")
    with pytest.raises(ContractReverted, match="order closed"):
        m.rm.claim_with_proof(o, csig, inst, pb, sender=m.node, gas=3_000_000)


@pytest.mark.parametrize("fraud", ["edited_output", "corrupted_byte", "other_input"])
def test_wrong_proof_gets_no_receipt_no_claim_and_a_slash(m, mlp, mlp_proof, fraud: str) -> None:  # type: ignore[no-untyped-def]
    """Attack: the node delivers a wrong proof. The client's local check refuses it (no receipt); the
    node's claim with it fails on chain; the client's challenge with the signed delivery slashes."""
    o = _order(m, mlp, i=1 if fraud == "other_input" else 0, deadline=5)
    m.net.time_travel(10)
    proof = mlp_proof.proof
    if fraud == "edited_output":
        inst = list(proof.instances)
        inst[1] = (inst[1] + 1024) % (2**254)
        proof = proof.with_instances(inst)
    elif fraud == "corrupted_byte":
        raw = bytearray(proof.proof_bytes)
        raw[100] ^= 0x01
        proof = proof.with_proof_bytes(bytes(raw))
    with pytest.raises(ProofInvalidError):
        verify(mlp.package, proof, int.from_bytes(o.input_commitment, "big"))
    pb, inst = evm.calldata(proof)
    csig = m.rm.sign_order(o, m.client)
    with pytest.raises(
        ContractReverted, match="input mismatch" if fraud == "other_input" else "proof rejected"
    ):
        m.rm.claim_with_proof(o, csig, inst, pb, sender=m.node, gas=3_000_000)
    stake = read_node(m.s, m.node.address).stake
    m.rm.challenge(o, inst, pb, m.rm.sign_delivery(o, inst, pb, m.node), sender=m.client, gas=3_000_000)
    assert read_node(m.s, m.node.address).stake == stake - SLASH


def test_demand_is_answered_with_the_proof(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """The client demands (it says nothing arrived); the node answers on chain with the proof within
    the response window: paid, and it takes the client's bond. No slash."""
    o = _order(m, mlp, deadline=30)
    acc, csig = m.rm.sign_acceptance(o, m.node), m.rm.sign_order(o, m.client)
    m.net.time_travel(60)
    m.rm.demand(o, acc, sender=m.client)
    pb, inst = evm.calldata(mlp_proof.proof)
    stake, pend = read_node(m.s, m.node.address).stake, m.rm.pending(m.node.address)
    m.rm.claim_with_proof(o, csig, inst, pb, sender=m.node, gas=3_000_000)
    assert m.rm.pending(m.node.address) > pend + BOND + SURCHARGE
    assert read_node(m.s, m.node.address).stake == stake
    with pytest.raises(ContractReverted, match="no demand"):
        m.rm.resolve(o, sender=m.client)
