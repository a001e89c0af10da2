"""ReceiptMarket (pay-on-proof, docs/settlement.md): each test is an attack, with the attacker's real
moves against the real contracts on the embedded chain. The verifier here is RejectingVerifier (no
test verifier ever accepts a proof): paths that need a valid proof are in tests/zk/test_receipt_market_proofs.py
with EZKL's real verifier and real proofs."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from market_world import ONE, ROYALTY_BPS, SLASH, World, field_elem, reverts
from market_world import PRICE as LIST_PRICE

from veilproof.chain.deploy import ReceiptParams, deploy_receipt_market
from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.receipt_market import (
    RECEIPT_FIELDS,
    Order,
    OrderRefused,
    ReceiptMarket,
    SignedReceipt,
)
from veilproof.errors import InputError

PRICE = 2 * ONE
BOND = ONE
SURCHARGE = ONE // 10
WINDOW = 3600
PARAMS = ReceiptParams(
    max_deadline=86400,
    claim_window=WINDOW,
    response_window=WINDOW,
    withdraw_delay=2 * 86400,
    slash_amount=SLASH,
    demand_bond=BOND,
    claim_surcharge=SURCHARGE,
    fee_bps=500,
)
OUT = field_elem("outputs")


@dataclass
class R:
    w: World
    rm: ReceiptMarket
    nonce: int = 0

    def order(
        self,
        node: str | None = None,
        price: int = PRICE,
        deadline: int | None = None,
        client: str | None = None,
    ) -> Order:
        self.nonce += 1
        return Order(
            client=client or self.w.client.address,
            node=node or self.w.node.address,
            model_id=self.w.model_id,
            input_commitment=field_elem(f"input{self.nonce}"),
            max_price=price,
            deadline=deadline if deadline is not None else self.w.net.now() + 600,
            nonce=self.nonce,
            royalty=self.rm.model_royalty(self.w.model_id),
        )

    def receipt(self, o: Order, price: int | None = None) -> SignedReceipt:
        signer = self.w.client if o.client == self.w.client.address else self.w.other
        return self.rm.sign_receipt(o, OUT, o.max_price if price is None else price, signer)

    def stake(self, acct: object | None = None) -> int:
        return int(self.w.node_info(acct or self.w.node)["stake"])  # type: ignore[arg-type]


@pytest.fixture
def r(w: World) -> R:
    """The contract world plus a ReceiptMarket (bound to RejectingVerifier) and a 20 VEIL deposit."""
    from veilproof.chain.deploy import Deployment

    d = Deployment(
        w.net.chain_id, w.token.address, w.models.address, w.nodes.address, w.market.address, w.owner.address
    )
    d.extra["zk_adapter"] = w.call(w.market.functions.zk_verifier())  # RejectingVerifier (fixture `w`)
    deploy_receipt_market(w.net, w.owner, d, PARAMS)
    rm = ReceiptMarket(w.net, d.extra["receipt_market"])
    w.approve(w.client, rm.contract)
    rm.deposit(w.node.address, 20 * ONE, sender=w.client)
    return R(w, rm)


def test_happy_path_pays_node_royalty_and_fee_once(r: R) -> None:
    w, rm = r.w, r.rm
    o = r.order()
    res = rm.settle([r.receipt(o)], sender=w.node)
    assert res.settled == [rm.order_hash(o)] and res.skipped == []
    royalty = LIST_PRICE * ROYALTY_BPS // 10_000  # the owner's amount, whatever the receipt's price
    fee = (PRICE - royalty) * 500 // 10_000
    assert rm.pending(w.node.address) == PRICE - fee - royalty
    assert rm.pending(w.author.address) == royalty
    assert rm.pending(w.owner.address) == fee
    assert rm.deposit_of(w.client.address, w.node.address) == 20 * ONE - PRICE
    assert rm.nonce_used(w.client.address, w.node.address, o.nonce)
    before = w.bal(w.node)
    rm.collect(sender=w.node)
    assert w.bal(w.node) == before + PRICE - fee - royalty


def test_replayed_receipt_pays_once(r: R) -> None:
    """Attack: the node settles the same receipt again, in a later batch and twice in one batch."""
    w, rm = r.w, r.rm
    o = r.order()
    rc = r.receipt(o)
    rm.settle([rc], sender=w.node)
    again = rm.settle([rc, rc], sender=w.node)
    assert again.settled == [] and [why for _, why in again.skipped] == ["order closed", "order closed"]
    o2 = r.order()
    rc2 = r.receipt(o2)
    same_batch = rm.settle([rc2, rc2], sender=w.node)
    assert len(same_batch.settled) == 1 and [why for _, why in same_batch.skipped] == ["order closed"]
    assert rm.deposit_of(w.client.address, w.node.address) == 20 * ONE - 2 * PRICE


def test_batch_of_several_clients_debits_and_closes_each(r: R) -> None:
    """One batch, two clients: each client's deposit and nonce word is kept in memory while its
    receipts run and written when the batch moves on; none of them can be replayed afterwards."""
    w, rm = r.w, r.rm
    w.mint(w.other, 20 * ONE)
    w.approve(w.other, rm.contract)
    rm.deposit(w.node.address, 20 * ONE, sender=w.other)
    orders = [r.order(), r.order(client=w.other.address), r.order(), r.order(client=w.other.address)]
    batch = [r.receipt(o) for o in orders]
    assert len(rm.settle(batch, sender=w.node).settled) == 4
    left = [rm.deposit_of(who.address, w.node.address) for who in (w.client, w.other)]
    assert left == [20 * ONE - 2 * PRICE] * 2
    assert all(rm.nonce_used(o.client, w.node.address, o.nonce) for o in orders)
    assert [why for _, why in rm.settle(batch, sender=w.node).skipped] == ["order closed"] * 4


def test_receipt_for_another_node_pays_nobody(r: R) -> None:
    """Attack: `other` (a node too) settles a receipt the client signed for `node`'s order."""
    w, rm = r.w, r.rm
    w.add_node(w.other, [w.model_id])
    rc = r.receipt(r.order())
    res = rm.settle([rc], sender=w.other)
    assert [why for _, why in res.skipped] == ["not order node"]
    assert rm.pending(w.other.address) == 0
    assert rm.deposit_of(w.client.address, w.node.address) == 20 * ONE
    # and an order naming `other` spends only the deposit made for `other` (none)
    rc_other = r.receipt(r.order(node=w.other.address))
    assert [why for _, why in rm.settle([rc_other], sender=w.other).skipped] == ["deposit short"]
    assert rm.settle([rc], sender=w.node).settled  # the right node is still paid


def test_receipt_signed_for_another_chain_or_contract_is_rejected(r: R) -> None:
    """Attack: replay a receipt signed under another EIP-712 domain (chain id, market address)."""
    w, rm = r.w, r.rm
    o = r.order()
    msg = {"orderHash": rm.order_hash(o), "outputHash": OUT, "price": PRICE}
    for domain in (
        Eip712Domain("VeilproofReceiptMarket", "1", w.net.chain_id + 1, rm.address),
        Eip712Domain("VeilproofReceiptMarket", "1", w.net.chain_id, w.market.address),
    ):
        sig = TypedData(domain, "Receipt", RECEIPT_FIELDS, msg).sign(w.client)
        res = rm.settle([SignedReceipt(o, OUT, PRICE, sig)], sender=w.node)
        assert [why for _, why in res.skipped] == ["bad signature"]
    assert not rm.nonce_used(w.client.address, w.node.address, o.nonce)


def test_node_cannot_raise_the_price_or_exceed_the_order(r: R) -> None:
    """Attack: the node edits the price of a signed receipt; or the client's receipt names more than
    the order's max price (a node cannot get the client to overpay by asking for such a receipt)."""
    w, rm = r.w, r.rm
    o = r.order()
    rc = r.receipt(o, price=PRICE - ONE // 4)  # a discount, still above the royalty the order binds
    res = rm.settle([replace(rc, price=PRICE)], sender=w.node)
    assert [why for _, why in res.skipped] == ["bad signature"]
    with pytest.raises(InputError, match="price"):
        rm.sign_receipt(o, OUT, PRICE + 1, w.client)
    forged = replace(rc, price=PRICE + 1)
    assert [why for _, why in rm.settle([forged], sender=w.node).skipped] == ["price above max"]
    assert rm.settle([rc], sender=w.node).total == PRICE - ONE // 4


def test_client_cannot_withdraw_before_the_node_settles(r: R) -> None:
    """Attack: the client gets its result, then pulls its deposit at once. The withdrawal waits
    `withdraw_delay`, during which the node settles; the client gets back only the rest."""
    w, rm = r.w, r.rm
    rc = r.receipt(r.order())
    rm.request_withdraw(w.node.address, 20 * ONE, sender=w.client)
    with reverts("withdraw delay"):
        rm.withdraw(w.node.address, sender=w.client)
    w.net.time_travel(PARAMS.withdraw_delay - 60)
    rm.settle([rc], sender=w.node)
    w.net.time_travel(120)
    before = w.bal(w.client)
    rm.withdraw(w.node.address, sender=w.client)
    assert w.bal(w.client) == before + 20 * ONE - PRICE
    assert rm.deposit_of(w.client.address, w.node.address) == 0
    with reverts("no request"):
        rm.withdraw(w.node.address, sender=w.client)


def test_reads_take_addresses_in_any_case(r: R) -> None:
    """A node keeps its clients' addresses lowercased (node/store.py) and asks the market, every
    maintenance pass, whether one of them requested a withdrawal (then it settles at once). Found by the
    network benchmark: that read raised web3's InvalidAddress on a lowercase address, so every pass with
    receipts held failed before settling or claiming anything."""
    w, rm = r.w, r.rm
    rm.request_withdraw(w.node.address, 5 * ONE, sender=w.client)
    client, node = w.client.address.lower(), w.node.address.lower()
    assert rm.withdrawal(client, node) == rm.withdrawal(w.client.address, w.node.address)
    assert rm.withdrawal(client, node)[0] == 5 * ONE
    assert rm.deposit_of(client, node) == 20 * ONE
    assert rm.pending(node) == 0
    assert not rm.nonce_used(client, node, 1)


def test_overdrawn_deposit_pays_in_nonce_order_and_skips_the_rest(r: R) -> None:
    """The client signs more orders than its deposit covers: the batch pays in (client, nonce) order
    until the deposit runs out; the rest stay unpaid and unspent, payable after a top-up."""
    w, rm = r.w, r.rm
    orders = [r.order(price=8 * ONE) for _ in range(3)]  # 24 VEIL against a 20 VEIL deposit
    res = rm.settle([r.receipt(o) for o in reversed(orders)], sender=w.node)
    assert res.settled == [rm.order_hash(o) for o in orders[:2]]
    assert res.skipped == [(rm.order_hash(orders[2]), "deposit short")]
    assert not rm.nonce_used(w.client.address, w.node.address, orders[2].nonce)
    assert rm.deposit_of(w.client.address, w.node.address) == 4 * ONE
    rm.deposit(w.node.address, 4 * ONE, sender=w.client)
    assert rm.settle([r.receipt(orders[2])], sender=w.node).settled


def test_node_checks_the_deposit_before_accepting(r: R) -> None:
    """The node's acceptance check (what keeps it from row 7 of the attack table): it refuses an
    order the deposit does not cover on top of its unsettled ones, a taken nonce, a client with a
    pending withdrawal, a far deadline, another node's order."""
    w, rm = r.w, r.rm
    node = w.node.address
    deposit = rm.deposit_of(w.client.address, node)
    first = r.order()
    # an order reserves its max price plus the claim surcharge (a withheld receipt's claim)
    assert rm.reserve(first) == first.max_price + SURCHARGE
    rm.check_order(first, node=node, outstanding=deposit - rm.reserve(first), nonces_taken=set())
    with pytest.raises(OrderRefused, match="deposit"):
        rm.check_order(first, node=node, outstanding=deposit - rm.reserve(first) + 1, nonces_taken=set())
    with pytest.raises(OrderRefused, match="deposit"):  # max prices alone covered: not enough
        rm.check_order(first, node=node, outstanding=deposit - first.max_price, nonces_taken=set())
    o = r.order()
    with pytest.raises(OrderRefused, match="order.nonce"):
        rm.check_order(o, node=node, outstanding=0, nonces_taken={o.nonce})
    with pytest.raises(OrderRefused, match="order.deadline"):
        rm.check_order(
            r.order(deadline=w.net.now() + 2 * 86400), node=node, outstanding=0, nonces_taken=set()
        )
    with pytest.raises(OrderRefused, match="order.node"):
        rm.check_order(r.order(node=w.other.address), node=node, outstanding=0, nonces_taken=set())
    rm.request_withdraw(node, ONE, sender=w.client)
    with pytest.raises(OrderRefused, match="withdrawal"):
        rm.check_order(r.order(), node=node, outstanding=0, nonces_taken=set())


def test_order_state_reads_what_an_order_depends_on_in_one_call(r: R) -> None:
    """``order_state`` is the one read behind the node's acceptance check and the client's order: it
    must agree with the separate reads it replaces (deposit, withdrawal, nonce, clock) as they change."""
    w, rm = r.w, r.rm
    client, node = w.client.address, w.node.address
    o = r.order()
    s = rm.order_state(client.lower(), node, o.nonce)
    assert s.deposit == rm.deposit_of(client, node) > 0
    assert s.withdraw_unlock_at == 0 and not s.nonce_used
    assert s.now == w.net.now()
    assert rm.settle([r.receipt(o)], sender=w.node).settled
    after = rm.order_state(client, node, o.nonce)
    assert after.nonce_used and after.deposit == s.deposit - o.max_price
    assert not rm.order_state(client, node, o.nonce + 1).nonce_used  # its neighbour in the word
    assert not rm.order_state(client, node, o.nonce + 256).nonce_used  # the next word
    rm.request_withdraw(node, ONE, sender=w.client)
    assert rm.order_state(client, node, o.nonce).withdraw_unlock_at == rm.withdrawal(client, node)[1] > 0
    assert rm.order_state(w.other.address, node, o.nonce) == type(s)(0, 0, False, w.net.now())


def test_the_offline_receipt_check_agrees_with_the_market(r: R) -> None:
    """A node keeps a key-signed receipt on ``receipt_signed_by_key`` alone (no eth_call): it must say
    yes exactly when ``settle`` would pay it, or a client could hand over a receipt the market refuses
    and so keep the node from its proof claim (a stored receipt stops the claim). The malleable twin
    (high s, flipped v) recovers to the client in lax libraries; EIP-2 and the contract refuse it."""
    from veilproof.chain.receipt_market import SECP256K1_N

    w, rm = r.w, r.rm
    o = r.order()
    good = r.receipt(o)
    sig = good.client_sig
    rr, ss, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    variants = {
        "as signed": sig,
        "v as 0/1": rr + sig[32:64] + bytes([v - 27]),
        "high-s twin": rr + (SECP256K1_N - ss).to_bytes(32, "big") + bytes([55 - v]),
        "other v": rr + sig[32:64] + bytes([55 - v]),
        "v = 29": rr + sig[32:64] + bytes([29]),
        "r = 0": bytes(32) + sig[32:],
        "64 bytes": sig[:64],
        "another key": r.rm.sign_receipt(
            replace(o, client=w.other.address), OUT, o.max_price, w.other
        ).client_sig,
        "another price": rm.sign_receipt(o, OUT, o.max_price - 1, w.client).client_sig,
    }
    verdicts = {}
    for name, s in variants.items():
        cand = replace(good, client_sig=s)
        offline = rm.receipt_signed_by_key(cand)
        verdicts[name] = offline
        assert offline == (rm.check_settle([cand], w.node.address) == 1), name
    assert verdicts == {**{k: False for k in variants}, "as signed": True, "v as 0/1": True}


def test_batch_with_one_bad_receipt_pays_the_good_ones(r: R) -> None:
    """Decision (docs/settlement.md): a bad receipt is skipped, not fatal. A client that could make
    a node's whole batch revert (e.g. by a receipt the node could not check) would grief it."""
    w, rm = r.w, r.rm
    good = [r.receipt(r.order()) for _ in range(4)]
    bad = replace(good[1], client_sig=good[1].client_sig[:-1] + b"\x1f")
    res = rm.settle([good[0], bad, good[2], good[3]], sender=w.node)
    assert len(res.settled) == 3 and [why for _, why in res.skipped] == ["bad signature"]
    assert rm.check_settle([good[1]], w.node.address) == 1


def test_node_that_delivers_nothing_is_slashed_on_demand(r: R) -> None:
    """Attack: the node accepts, delivers nothing. The client demands after the deadline; the node
    does not answer within the response window; resolve slashes it and returns the bond."""
    w, rm = r.w, r.rm
    o = r.order(deadline=w.net.now() + 100)
    acc = rm.sign_acceptance(o, w.node)
    with reverts("deadline not passed"):
        rm.demand(o, acc, sender=w.client)
    w.net.time_travel(200)
    with reverts("bad node signature"):
        rm.demand(o, rm.sign_acceptance(replace(o, nonce=999), w.node), sender=w.client)
    with reverts("not order client"):
        rm.demand(o, acc, sender=w.other)
    bal = w.bal(w.client)
    rm.demand(o, acc, sender=w.client)
    assert w.bal(w.client) == bal - BOND
    with reverts("response pending"):
        rm.resolve(o, sender=w.other)
    stake = r.stake()
    w.net.time_travel(WINDOW + 1)
    rm.resolve(o, sender=w.other)
    assert r.stake() == stake - SLASH
    assert rm.pending(w.client.address) == BOND
    assert rm.deposit_of(w.client.address, w.node.address) == 20 * ONE  # nothing paid
    assert rm.nonce_used(w.client.address, w.node.address, o.nonce)  # order closed: no late claim


def test_node_that_never_accepted_cannot_be_slashed(r: R) -> None:
    """Attack: a client demands on an order the node never countersigned (its own signature instead)."""
    w, rm = r.w, r.rm
    o = r.order(deadline=w.net.now() + 10)
    w.net.time_travel(20)
    forged = rm._typed("Acceptance", (("orderHash", "bytes32"),), {"orderHash": rm.order_hash(o)}).sign(
        w.client
    )
    with reverts("bad node signature"):
        rm.demand(o, forged, sender=w.client)


def test_griefing_client_who_got_the_result_loses_its_bond(r: R) -> None:
    """Attack: the client signed a receipt (it got the result), then demands anyway hoping the node
    misses the window. The node answers by settling the receipt; resolve gives it the bond."""
    w, rm = r.w, r.rm
    o = r.order(deadline=w.net.now() + 10)
    rc, acc = r.receipt(o), rm.sign_acceptance(o, w.node)
    w.net.time_travel(20)
    rm.demand(o, acc, sender=w.client)
    rm.settle([rc], sender=w.node)
    with reverts("order closed"):
        rm.demand(o, acc, sender=w.client)
    stake = r.stake()
    rm.resolve(o, sender=w.node)
    assert r.stake() == stake
    royalty = LIST_PRICE * ROYALTY_BPS // 10_000
    assert rm.pending(w.node.address) == (PRICE - royalty) * (10_000 - 500) // 10_000 + BOND
    assert rm.pending(w.client.address) == 0
    with reverts("no demand"):
        rm.resolve(o, sender=w.node)


def test_late_demand_is_refused(r: R) -> None:
    """A demand long after the deadline could outlive the node's bond: refused after the claim window."""
    w, rm = r.w, r.rm
    o = r.order(deadline=w.net.now() + 10)
    acc = rm.sign_acceptance(o, w.node)
    w.net.time_travel(10 + WINDOW + 5)
    with reverts("demand window closed"):
        rm.demand(o, acc, sender=w.client)


def test_invalid_delivery_is_challenged_and_slashed_once(r: R) -> None:
    """Attack: the node signs a Delivery whose proof fails. Anyone holding it challenges: the node
    is slashed, the order closes unpaid; the same evidence cannot slash twice."""
    w, rm = r.w, r.rm
    o = r.order()
    inst = [int.from_bytes(o.input_commitment, "big"), 7]
    proof = bytes(range(256)) * 4
    sig = rm.sign_delivery(o, inst, proof, w.node)
    with reverts("bad node signature"):
        rm.challenge(
            o,
            inst,
            proof,
            rm.sign_delivery(replace(o, node=w.other.address), inst, proof, w.other),
            sender=w.other,
        )
    with reverts("bad node signature"):
        rm.challenge(o, inst, proof + b"\x00", sig, sender=w.other)
    stake, bal = r.stake(), w.bal(w.other)
    rm.challenge(o, inst, proof, sig, sender=w.other)
    assert r.stake() == stake - SLASH
    assert w.bal(w.other) == bal + SLASH // 2  # challenger share (challenger_bps = 50%)
    assert rm.nonce_used(w.client.address, w.node.address, o.nonce)
    with reverts("order closed"):
        rm.challenge(o, inst, proof, sig, sender=w.other)
    assert [why for _, why in rm.settle([r.receipt(o)], sender=w.node).skipped] == ["order closed"]


def test_paid_order_cannot_be_challenged(r: R) -> None:
    """The client signed a receipt (it verified the result): the node's delivery cannot be turned
    into a slash afterwards, even with a bad proof blob signed alongside."""
    w, rm = r.w, r.rm
    o = r.order()
    inst = [int.from_bytes(o.input_commitment, "big"), 7]
    sig = rm.sign_delivery(o, inst, b"\x01" * 64, w.node)
    rm.settle([r.receipt(o)], sender=w.node)
    with reverts("order closed"):
        rm.challenge(o, inst, b"\x01" * 64, sig, sender=w.client)


def test_claim_with_a_bad_proof_pays_nothing(r: R) -> None:
    """The node tries to get paid without a receipt with a proof the verifier rejects, or a proof
    of another input."""
    w, rm = r.w, r.rm
    o = r.order(deadline=w.net.now() + 10)
    csig = rm.sign_order(o, w.client)
    inst = [int.from_bytes(o.input_commitment, "big"), 7]
    with reverts("claim too early"):  # the client's receipt is due first: no racing it for the surcharge
        rm.claim_with_proof(o, csig, inst, b"\x01" * 64, sender=w.node)
    w.net.time_travel(20)
    with reverts("proof rejected"):
        rm.claim_with_proof(o, csig, inst, b"\x01" * 64, sender=w.node)
    with reverts("input mismatch"):
        rm.claim_with_proof(o, csig, [inst[0] + 1, 7], b"\x01" * 64, sender=w.node)
    with reverts("bad client signature"):
        rm.claim_with_proof(replace(o, max_price=10 * ONE), csig, inst, b"\x01" * 64, sender=w.node)
    with reverts("not order node"):
        rm.claim_with_proof(o, csig, inst, b"\x01" * 64, sender=w.other)
    assert rm.deposit_of(w.client.address, w.node.address) == 20 * ONE


def test_windows_must_fit_the_unbonding_delay_and_the_withdraw_delay(r: R) -> None:
    w, rm = r.w, r.rm
    with reverts("withdraw delay too short"):
        rm.set_windows(86400, WINDOW, WINDOW, 86400, sender=w.owner)
    with reverts("exceeds unbond delay"):
        rm.set_windows(7 * 86400, WINDOW, WINDOW, 8 * 86400, sender=w.owner)
    with reverts("not owner"):
        rm.set_windows(86400, WINDOW, WINDOW, 3 * 86400, sender=w.client)


def test_node_offer_above_list_price_pays_the_owner_only_its_royalty(r: R) -> None:
    """Attack (by the split itself, on an honest node): the node offers 20 VEIL on top of the owner's
    royalty (list price x royalty_bps, as JobMarket.open_job fixes it). Before #14's fix the receipt path
    paid the owner royalty_bps of the whole price, taking part of the node's offer. Now the owner gets
    exactly the royalty the order binds, the treasury its fee on the node's part, the node the rest;
    every token is accounted for."""
    w, rm = r.w, r.rm
    royalty = LIST_PRICE * ROYALTY_BPS // 10_000
    offer = 20 * ONE
    w.mint(w.client, 30 * ONE)
    rm.deposit(w.node.address, 30 * ONE, sender=w.client)
    o = r.order(price=royalty + offer)
    held = w.bal(rm.contract)
    res = rm.settle([r.receipt(o)], sender=w.node)
    assert res.settled == [rm.order_hash(o)]
    fee = offer * 500 // 10_000
    assert rm.pending(w.author.address) == royalty
    assert rm.pending(w.owner.address) == fee
    assert rm.pending(w.node.address) == offer - fee
    assert rm.deposit_of(w.client.address, w.node.address) == 50 * ONE - royalty - offer
    assert w.bal(rm.contract) == held  # moved from the deposit to pending, nothing created or lost


def test_client_and_node_cannot_cut_the_owners_royalty(r: R) -> None:
    """Attack: client and node collude on an order that binds less than the model's royalty (or a
    receipt priced below the royalty it binds): the market skips it, the owner's royalty is not theirs
    to move; and the node refuses such an order before accepting it."""
    w, rm = r.w, r.rm
    low = replace(r.order(), royalty=0)
    res = rm.settle([rm.sign_receipt(low, OUT, PRICE, w.client)], sender=w.node)
    assert [why for _, why in res.skipped] == ["royalty below model's"]
    with pytest.raises(OrderRefused, match="royalty"):
        rm.check_order(low, node=w.node.address, outstanding=0, nonces_taken=set())
    o = r.order()
    with pytest.raises(InputError, match="royalty"):
        rm.sign_receipt(o, OUT, o.royalty - 1, w.client)
    assert rm.pending(w.author.address) == 0 and not rm.nonce_used(
        w.client.address, w.node.address, low.nonce
    )
