"""Pay-on-proof end to end (ReceiptMarket, docs/settlement.md): real node processes over HTTP, real
EZKL proofs verified by the client, receipts settled in a batch by the node's maintenance loop.

Money is asserted exactly in each test: what left the client's deposit is what the node, the model
owner (and nobody else: fee 0) were credited, or the node was slashed and nothing was paid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from world import PRICE, ZkWorld, make_world

from veilproof.chain.deploy import ONE_VEIL, ReceiptParams
from veilproof.chain.receipt_market import ReceiptMarket
from veilproof.chain.views import read_node
from veilproof.client import InferenceFailed
from veilproof.client.client import PaidOrder
from veilproof.client.errors import ProofRejected
from veilproof.client.node_api import NodeApi
from veilproof.client.selection import NodeOffer
from veilproof.protocol.api import OrderReport, RefusalCode

pytestmark = pytest.mark.slow

ROYALTY = PRICE * 2_000 // 10_000
SURCHARGE = ONE_VEIL // 10
R_SLASH = 50 * ONE_VEIL
BATCH = 2


@pytest.fixture(scope="module")
def rworld(tmp_path_factory: pytest.TempPathFactory, mlp, mlp_substitute) -> Iterator[ZkWorld]:  # type: ignore[no-untyped-def]
    receipts = ReceiptParams(
        max_deadline=1800, claim_window=600, response_window=600, withdraw_delay=4000,
        slash_amount=R_SLASH, claim_surcharge=SURCHARGE, fee_bps=0,
    )  # fmt: skip
    # Receipts are settled two at a time (or after an hour): the happy path sees one batch of two.
    w = make_world(
        tmp_path_factory.mktemp("e2e-receipts"), None, mlp, mlp_substitute,
        receipts=receipts,
        # earnings stay in the market's `pending` (the tests read it); the collect test turns it on
        node_config={"settle_batch": BATCH, "settle_interval_s": 3600.0, "collect_min": 10**30},
    )  # fmt: skip
    try:
        yield w
    finally:
        w.lnet.stop()


def _rm(w: ZkWorld) -> ReceiptMarket:
    rm = w.lnet.suite.receipts
    assert rm is not None
    return rm


def _report(w: ZkWorld, endpoint: str, order_hash: str) -> OrderReport:
    with NodeApi(endpoint) as api:
        return api.order(order_hash)


def _until(what: str, cond: Callable[[], bool], timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _gas(w: ZkWorld, tx: str | None) -> int:
    assert tx is not None
    return int(w.lnet.net.w3.eth.get_transaction_receipt(tx)["gasUsed"])  # type: ignore[arg-type]


def _offer(w: ZkWorld, addr: str) -> NodeOffer:
    (o,) = [o for o in w.client.nodes(w.model_id) if o.address.lower() == addr.lower()]
    return o


def _short_order(w: ZkWorld, node: str, example: int) -> PaidOrder:
    """A verified pay-on-proof order of ``node`` with a 120 s deadline, its receipt not sent."""
    m = w.client.suite.models.read_model(w.model_id)
    w.client.deadline_s = 120
    try:
        return w.client.order_zk(m, _offer(w, node), w.built.example.x_test[example], lambda _m: None)
    finally:
        w.client.deadline_s = 1800


def test_receipts_settle_in_one_batch_with_no_proof_on_chain(rworld: ZkWorld) -> None:
    w, rm = rworld, _rm(rworld)
    node, client = w.honest.account.address, w.client.account.address
    owner = w.lnet.owner.address
    x = w.built.example.x_test[1]
    r1 = w.client.infer(w.model_id, x, node=node, eager=False)
    dep_before = rm.deposit_of(client, node)  # after the first job's deposit (10 prices)
    node_before, owner_before = rm.pending(node), rm.pending(owner)
    assert r1.status == "receipted"
    # one receipt held: below the batch size, nothing settled yet
    time.sleep(3)
    assert _report(w, w.honest.endpoint, r1.tx_hashes["order"]).settled_tx is None
    r2 = w.client.infer(w.model_id, w.built.example.x_test[2], node=node, eager=False)
    from veilproof.models.package import circuit_outputs

    assert r2.output == pytest.approx(circuit_outputs(w.built.package, w.built.example.x_test[2]), abs=1e-6)
    reports: list[OrderReport] = []

    def both_settled() -> bool:
        reports[:] = [_report(w, w.honest.endpoint, r.tx_hashes["order"]) for r in (r1, r2)]
        return all(rep.settled_tx for rep in reports)

    _until("the node's maintenance loop to settle both receipts", both_settled)
    assert reports[0].settled_tx == reports[1].settled_tx  # one transaction for the batch
    assert rm.deposit_of(client, node) == dep_before - 2 * PRICE
    assert rm.pending(node) - node_before == 2 * (PRICE - ROYALTY)
    assert rm.pending(owner) - owner_before == 2 * ROYALTY
    gas = _gas(w, reports[0].settled_tx)
    print(f"\nGAS settle batch of {BATCH}: {gas} total, {gas // BATCH} per job")
    assert gas // BATCH < 150_000


def test_an_order_reports_where_its_time_went(rworld: ZkWorld) -> None:
    """A pay-on-proof order is timed like a JobMarket job (``GET /zk/orders/{hash}`` ``timings``), from
    its arrival to the signed delivery: the checks, the chain read, the prover's witness, prove and
    verify (a delivery that does not verify is slashable, and no pre-sign ``eth_call`` checks it here),
    the signature; no start, no pre-sign check, no submit (the chain sees no proof). It counts in the
    node's per-model median job time on ``/info`` (a node selling only pay-on-proof advertises one)."""
    w = rworld
    node = w.honest
    with NodeApi(node.endpoint) as api:
        before = next(m for m in api.info().models if m.model_id == w.model_id).recent_jobs
        r = w.client.infer(w.model_id, w.built.example.x_test[3], node=node.account.address, eager=False)
        assert r.status == "receipted"
        t = api.order(r.tx_hashes["order"]).timings
        after = next(m for m in api.info().models if m.model_id == w.model_id)
    assert t is not None and t.complete, t
    for name in ("admission", "chain_reads", "decrypt", "commitment", "record", "queue", "witness", "prove",
                 "verify", "sign"):  # fmt: skip
        assert t.phases.get(name, 0.0) > 0, (name, t.phases)
    for name in ("start_job", "check", "submit"):
        assert name not in t.phases, (name, t.phases)
    assert abs(sum(t.phases.values()) - t.total_s) < 1e-3  # disjoint phases + "other"
    assert t.phases["witness"] + t.phases["prove"] > 0.5 * t.total_s  # the engine is most of the order
    assert after.recent_jobs == before + 1 and after.median_job_s is not None


def test_withheld_receipt_is_claimed_with_the_proof_after_the_deadline(rworld: ZkWorld) -> None:
    w, rm = rworld, _rm(rworld)
    node, client = w.honest.account.address, w.client.account.address
    paid = _short_order(w, node, 3)
    assert paid.outputs  # verified locally; the client withholds its receipt
    dep_before, node_before = rm.deposit_of(client, node), rm.pending(node)
    w.lnet.net.advance_to(paid.order.deadline + 1)

    def claimed() -> bool:
        return _report(w, w.honest.endpoint, paid.order_hash).settled_tx is not None

    _until("the node to claim with its proof", claimed)
    tx = _report(w, w.honest.endpoint, paid.order_hash).settled_tx
    print(f"\nGAS claim_with_proof (withheld receipt): {_gas(w, tx)}")
    assert rm.nonce_used(client, node, paid.order.nonce)
    assert rm.deposit_of(client, node) == dep_before - PRICE - SURCHARGE
    assert rm.pending(node) - node_before == PRICE - ROYALTY + SURCHARGE


def test_a_receipt_the_market_would_refuse_is_refused_and_the_order_still_claimed(rworld: ZkWorld) -> None:
    """Attack: the client hands the node the malleable twin of its receipt's signature (s -> n - s, v
    flipped). It recovers to the client in lax libraries; the market refuses it (EIP-2). A node that
    kept it would hold a receipt it can never settle and, holding one, never claim with the proof. The
    node checks key-signed receipts offline (no eth_call): it must refuse this one, and the withheld
    order is then claimed with the proof after the deadline, paid in full."""
    from veilproof.chain.receipt_market import SECP256K1_N, output_hash
    from veilproof.client.errors import Unauthorized
    from veilproof.protocol.api import ReceiptPost

    w, rm = rworld, _rm(rworld)
    node, client = w.honest.account.address, w.client.account.address
    paid = _short_order(w, node, 5)
    assert paid.delivery is not None and paid.outputs
    out = output_hash([int(v, 16) for v in paid.delivery.instances])
    sig = rm.sign_receipt(paid.order, out, paid.order.max_price, w.client.account).client_sig
    twin = (
        sig[:32]
        + (SECP256K1_N - int.from_bytes(sig[32:64], "big")).to_bytes(32, "big")
        + bytes([55 - sig[64]])
    )
    post = ReceiptPost(
        output_hash="0x" + out.hex(), price=paid.order.max_price, client_signature="0x" + twin.hex()
    )
    with NodeApi(w.honest.endpoint) as api, pytest.raises(Unauthorized, match="would not pay"):
        api.post_receipt(paid.order_hash, post)
    assert not _report(w, w.honest.endpoint, paid.order_hash).receipt
    dep_before, node_before = rm.deposit_of(client, node), rm.pending(node)
    w.lnet.net.advance_to(paid.order.deadline + 1)
    _until(
        "the node to claim with its proof",
        lambda: _report(w, w.honest.endpoint, paid.order_hash).settled_tx is not None,
    )
    assert rm.nonce_used(client, node, paid.order.nonce)
    assert rm.deposit_of(client, node) == dep_before - PRICE - SURCHARGE
    assert rm.pending(node) - node_before == PRICE - ROYALTY + SURCHARGE


def test_wrong_proof_gets_no_receipt_and_the_challenge_slashes(rworld: ZkWorld) -> None:
    w, rm = rworld, _rm(rworld)
    cheater, client = w.cheater.account.address, w.client.account.address
    stake_before = read_node(w.lnet.suite, cheater).stake
    with pytest.raises(InferenceFailed) as ei:
        w.client.infer(w.model_id, w.built.example.x_test[4], node=cheater, eager=False)
    (cause,) = ei.value.causes
    assert isinstance(cause, ProofRejected)
    assert cause.details["outcome"] == "slashed", cause.details
    assert read_node(w.lnet.suite, cheater).stake == stake_before - R_SLASH
    print(f"\nGAS challenge (wrong proof, slash): {_gas(w, cause.details['challenge_tx'])}")
    # nothing was paid from the deposit, and the node's maintenance loop cannot claim it later
    dep = rm.deposit_of(client, cheater)
    assert dep == (PRICE + SURCHARGE) * w.client.deposit_jobs
    report = _report(w, w.cheater.endpoint, cause.details["order"])
    assert report.delivery is not None and not report.receipt


def test_a_garbled_proof_file_with_a_valid_signed_proof_is_paid_not_challenged(
    rworld: ZkWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injected in transit: the EZKL proof file no longer matches the signed proof. The signed
    (instances, proof) verify on chain, so the node could claim them (with a surcharge): the client asks
    the chain (eth_call of challenge: "claim is valid") and pays by receipt instead of a failed challenge."""
    import json

    w = rworld
    real = NodeApi.wait_order

    def garbled(self: NodeApi, order_hash: str, timeout: float, interval: float = 0.5) -> OrderReport:
        rep = real(self, order_hash, timeout, interval)
        assert rep.delivery is not None
        pj = json.loads(rep.delivery.proof_json)
        pj["proof"][0] ^= 1
        rep.delivery.proof_json = json.dumps(pj)
        return rep

    monkeypatch.setattr(NodeApi, "wait_order", garbled)
    r = w.client.infer(w.model_id, w.built.example.x_test[6], node=w.honest.account.address, eager=False)
    assert r.status == "receipted"
    assert _report(w, w.honest.endpoint, r.tx_hashes["order"]).receipt


def _signed_order(w: ZkWorld, signer, client: str, nonce: int, x):  # type: ignore[no-untyped-def]
    """A ZkOrderRequest for the honest node, as a client would build it (input encrypted to the node)."""
    import json

    from veilproof.chain.receipt_market import Order
    from veilproof.protocol import encrypt_for_node
    from veilproof.protocol.api import WireOrder, ZkOrderRequest
    from veilproof.zk.instances import input_commitment

    rm, node = _rm(w), w.honest.account.address
    commit = input_commitment(w.built.package.settings, x).to_bytes(32, "big")
    royalty = rm.model_royalty(w.model_id)
    order = Order(client, node, w.model_id, commit, PRICE, w.lnet.net.now() + 600, nonce, royalty=royalty)
    wire = WireOrder(client=client, node=node, model_id=w.model_id, input_commitment="0x" + commit.hex(),
                     max_price=PRICE, deadline=order.deadline, nonce=nonce, royalty=royalty)  # fmt: skip
    sig = rm.order_typed(order).sign(signer)
    env = encrypt_for_node(read_node(w.lnet.suite, node).pubkey, json.dumps(x.ravel().tolist()).encode())
    return ZkOrderRequest(order=wire, client_signature="0x" + sig.hex(), encrypted_input="0x" + env.hex())


def test_node_refuses_orders_it_would_not_be_paid_for(rworld: ZkWorld) -> None:
    """No acceptance is signed for an order not covered by a deposit, signed by someone else, or
    sent twice (a second acceptance of one nonce would be a second slashable promise)."""
    from veilproof.client.errors import Conflict, Unauthorized

    w = rworld
    x = w.built.example.x_test[5]
    poor = w.lnet.new_funded(10)  # no deposit with the node
    with NodeApi(w.honest.endpoint) as api:
        with pytest.raises(Conflict, match="deposit"):
            api.submit_order(_signed_order(w, poor, poor.address, 0, x))
        with pytest.raises(Unauthorized):
            api.submit_order(_signed_order(w, poor, w.client.account.address, 10_000, x))
        ok = _signed_order(w, w.client.account, w.client.account.address, 10_001, x)
        accepted = api.submit_order(ok)
        with pytest.raises(Conflict, match="replay"):
            api.submit_order(ok)
        assert api.wait_order(accepted.order_hash, 120, 0.5).delivery is not None


def test_held_receipts_survive_a_node_crash_and_settle_after_restart(rworld: ZkWorld) -> None:
    """The node's book is in SQLite: a receipt held when the node is killed is settled in the first
    batch after it restarts (the client is never asked again, the node is still paid)."""
    w, rm = rworld, _rm(rworld)
    node = w.honest.account.address
    held: list[str] = []
    for i in (7, 9):  # an earlier test may have left one receipt held: then this one completes its batch
        r = w.client.infer(w.model_id, w.built.example.x_test[i], node=node, eager=False)
        time.sleep(3)  # a maintenance tick (2 s)
        if _report(w, w.honest.endpoint, r.tx_hashes["order"]).settled_tx is None:
            held.append(r.tx_hashes["order"])
            break
    assert len(held) == 1
    node_before = rm.pending(node)
    w.honest.kill()
    w.lnet.spawn(w.honest)
    w.lnet.wait_ready(w.honest)
    assert _report(w, w.honest.endpoint, held[0]).receipt
    r2 = w.client.infer(w.model_id, w.built.example.x_test[8], node=node, eager=False)

    def settled() -> bool:
        return all(_report(w, w.honest.endpoint, h).settled_tx for h in (*held, r2.tx_hashes["order"]))

    _until("both receipts (one from before the crash) to settle", settled)
    assert rm.pending(node) - node_before >= 2 * (PRICE - ROYALTY)


def test_a_demand_made_while_the_node_was_down_is_answered_with_the_proof(rworld: ZkWorld) -> None:
    """The client demands on chain (the node is down at the deadline); the restarted node answers the
    demand with ``claim_with_proof`` within the response window: paid, takes the bond, not slashed."""
    w, rm = rworld, _rm(rworld)
    node, client = w.honest.account.address, w.client.account.address
    m = w.client.suite.models.read_model(w.model_id)
    w.client.deadline_s = 120
    try:
        paid = w.client.order_zk(m, _offer(w, node), w.built.example.x_test[10], lambda _m: None)
    finally:
        w.client.deadline_s = 1800
    w.honest.kill()
    bond = rm.param("demand_bond")
    stake_before, node_before = read_node(w.lnet.suite, node).stake, rm.pending(node)
    dep_before = rm.deposit_of(client, node)
    w.lnet.net.advance_to(paid.order.deadline + 1)
    w.lnet.suite.token.approve(rm.address, bond, sender=w.client.account)
    rm.demand(paid.order, paid.acceptance_sig, sender=w.client.account)
    assert rm.demand_of(paid.order).due > 0
    w.lnet.spawn(w.honest)
    w.lnet.wait_ready(w.honest)
    _until("the node to answer the demand", lambda: rm.demand_of(paid.order).due == 0)
    assert rm.nonce_used(client, node, paid.order.nonce)
    assert read_node(w.lnet.suite, node).stake == stake_before
    assert rm.deposit_of(client, node) == dep_before - PRICE - SURCHARGE
    assert rm.pending(node) - node_before == PRICE - ROYALTY + SURCHARGE + bond


def test_a_client_with_unsettled_orders_tops_up_and_is_served(rworld: ZkWorld, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The node counts every order it has not settled (it settles in batches) at max price + claim
    surcharge. A client whose deposit covers two such orders sends a third while both are
    unsettled: the node refuses it ("deposit"), the client tops up once and sends the same signed
    order again, and it is served. Before, the client checked only its on-chain deposit (which a
    batch not yet settled does not lower) and the third order failed."""
    from veilproof.client import Client

    w, rm = rworld, _rm(rworld)
    node = w.honest.account.address
    c = Client(w.lnet.suite, w.lnet.new_funded(100), tmp_path / "client",
               deadline_s=1800, poll_interval=0.2, deposit_jobs=2)  # fmt: skip
    m = c.suite.models.read_model(w.model_id)
    offer = _offer(w, node)
    reserve = PRICE + SURCHARGE
    paid = [c.order_zk(m, offer, w.built.example.x_test[20 + i], lambda _m: None) for i in range(3)]
    assert all(p.outputs for p in paid)  # all three served and verified locally
    assert rm.deposit_of(c.account.address, node) == 4 * reserve  # the first deposit + one top-up


def test_a_client_with_veil_for_one_order_deposits_what_it_holds_and_is_served(
    rworld: ZkWorld, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A client deposits ``deposit_jobs`` orders' worth at a time; one holding less than that but enough
    for this order deposits all it holds and is served. Before, its deposit of deposit_jobs orders
    reverted ("insufficient balance") and a user with VEIL for a few jobs could buy none."""
    from veilproof.client import Client

    w, rm = rworld, _rm(rworld)
    node = w.honest.account.address
    acct = w.lnet.new_funded(0)
    held = 3 * (PRICE + SURCHARGE) // 2  # one order's worth and a half; deposit_jobs=10 would need ten
    w.lnet.suite.token.mint(acct.address, held, sender=w.lnet.owner)
    c = Client(w.lnet.suite, acct, tmp_path / "client", deadline_s=1800, poll_interval=0.2)
    m = c.suite.models.read_model(w.model_id)
    paid = c.order_zk(m, _offer(w, node), w.built.example.x_test[30], lambda _m: None)
    assert paid.outputs
    assert rm.deposit_of(acct.address, node) == held and c.suite.token.balance_of(acct.address) == 0


def _client(w: ZkWorld, home, deadline_s: int = 1800, **kw):  # type: ignore[no-untyped-def]
    from veilproof.client import Client

    return Client(w.lnet.suite, w.lnet.new_funded(100), home, deadline_s=deadline_s, poll_interval=0.2, **kw)


def test_a_nodes_offer_prices_its_orders_and_an_order_below_it_is_refused(rworld: ZkWorld, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """#14 compute market on the pay-on-proof path: the node's offer (NodeRegistry.set_offer) applies to
    its orders as to its JobMarket jobs (royalty + offer). An order below it is refused with a typed
    error and nothing moves; the client's own orders are at the quote and that is what it pays.
    Before: the node took any order at the model's list price (its offer applied only in JobMarket)."""
    from veilproof.client.errors import BadRequest

    w, rm = rworld, _rm(rworld)
    node = w.honest.account
    offer = 3 * ONE_VEIL  # above the list price: royalty 0.4 + 3 = 3.4 VEIL per job
    quote = ROYALTY + offer
    c = _client(w, tmp_path / "client", deposit_jobs=4)
    w.lnet.suite.nodes.set_offer(w.model_id, offer, sender=node)
    try:
        assert _offer(w, node.address).price == quote
        c.suite.token.approve(rm.address, 10 * quote, sender=c.account)
        rm.deposit(node.address, 10 * quote, sender=c.account)  # covered: only the price can refuse it
        dep, node_pending = rm.deposit_of(c.account.address, node.address), rm.pending(node.address)
        with (
            NodeApi(w.honest.endpoint) as api,
            pytest.raises(BadRequest, match="below this node's price") as e,
        ):
            api.submit_order(_signed_order(w, c.account, c.account.address, 0, w.built.example.x_test[30]))
        assert e.value.code is RefusalCode.PRICE_BELOW_OFFER
        assert (
            rm.deposit_of(c.account.address, node.address) == dep and rm.pending(node.address) == node_pending
        )
        assert not rm.nonce_used(c.account.address, node.address, 0)
        rs = [
            c.infer(w.model_id, w.built.example.x_test[i], node=node.address, eager=False) for i in (31, 32)
        ]

        def settled() -> bool:
            return all(_report(w, w.honest.endpoint, r.tx_hashes["order"]).settled_tx for r in rs)

        _until("the batch with both orders at the node's price", settled)
        assert rm.deposit_of(c.account.address, node.address) == dep - 2 * quote
    finally:
        w.lnet.suite.nodes.clear_offer(w.model_id, sender=node)


def test_a_client_that_read_an_old_price_chooses_again_and_pays_the_new_one(
    rworld: ZkWorld, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """#14 leftover: a client whose view of a node's offer was stale (the node raised it a moment
    before; a live view follows registry events within a watch interval) signed below the new price, was
    refused, and gave the node up as failed. The refusal now says what it is in its code
    (``price_below_offer``): the client reads the offers again, chooses again at the fresh prices, and
    pays the new quote; the refused order cost nothing (no nonce spent, nothing settled at the old
    price). The deposit made at the old price falls short of the new one: the node's
    ``deposit_too_low`` has the client top up and send the same order again."""
    w, rm = rworld, _rm(rworld)
    node = w.honest.account
    c = _client(w, tmp_path / "client", deposit_jobs=1)
    stale = c.nodes(w.model_id)  # read before the raise
    assert [o.price for o in stale if o.address == node.address] == [PRICE]
    offer = 3 * ONE_VEIL  # the new quote: ROYALTY + offer
    owner = w.lnet.owner.address
    pending_before, owner_before = rm.pending(node.address), rm.pending(owner)
    w.lnet.suite.nodes.set_offer(w.model_id, offer, sender=node)
    try:
        # The fault injected: this client's first read of the offers is the stale one.
        fresh_reads: list[int] = []
        real = c.nodes

        def stale_first(model_id, model=None):  # type: ignore[no-untyped-def]
            fresh_reads.append(model_id)
            return stale if len(fresh_reads) == 1 else real(model_id, model)

        monkeypatch.setattr(c, "nodes", stale_first)
        said: list[str] = []
        r1 = c.infer(
            w.model_id, w.built.example.x_test[33], node=node.address, eager=False, progress=said.append
        )
        assert r1.status == "receipted" and r1.attempts == [], r1.attempts
        assert len(fresh_reads) == 2 and any("choosing again" in m for m in said), said
        # the refused order (nonce 0) is not spent; the one signed at the new price is the next nonce
        assert r1.job_id == 1 and not rm.nonce_used(c.account.address, node.address, 0)
        r2 = c.infer(w.model_id, w.built.example.x_test[34], node=node.address, eager=False)

        def settled() -> bool:
            return all(_report(w, w.honest.endpoint, r.tx_hashes["order"]).settled_tx for r in (r1, r2))

        _until("the batch with both orders at the new price", settled)
        # the node was paid its new offer twice (fee 0; the owner got the royalty): nothing at the old price
        assert rm.pending(node.address) - pending_before == 2 * offer
        assert rm.pending(owner) - owner_before == 2 * ROYALTY
    finally:
        w.lnet.suite.nodes.clear_offer(w.model_id, sender=node)


def test_the_node_takes_the_bond_of_a_demand_on_a_receipted_order_and_collects(
    rworld: ZkWorld, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A client signs a receipt (the node holds it for its batch) and, after the deadline, demands the
    result on chain anyway, with a bond. The node's maintenance loop settles the receipt, ``resolve``s
    the demand (the order is paid: the bond goes to the node) and ``collect``s its earnings. Before,
    the bond sat in the market until someone resolved it, and earnings stayed in ``pending``."""
    import json

    w, rm = rworld, _rm(rworld)
    node = w.honest.account.address
    conf = w.honest.home / "node.json"
    original = conf.read_text()
    # collect on; receipts wait for the deadline (a batch of 100) so the demand can come first
    conf.write_text(json.dumps(json.loads(original) | {"collect_min": 0, "settle_batch": 100}))
    w.honest.stop()
    w.lnet.spawn(w.honest)
    w.lnet.wait_ready(w.honest)
    try:
        c = _client(w, tmp_path / "client", deadline_s=120)
        m = c.suite.models.read_model(w.model_id)
        offer = _offer(w, node)
        paid = c.order_zk(m, offer, w.built.example.x_test[33], lambda _m: None)
        c.pay_receipt(paid, offer)
        assert _report(w, w.honest.endpoint, paid.order_hash).receipt
        token = w.lnet.suite.token
        bond = rm.param("demand_bond")
        assert bond > 0
        stake, balance, pending = (
            read_node(w.lnet.suite, node).stake,
            token.balance_of(node),
            rm.pending(node),
        )
        w.lnet.net.advance_to(paid.order.deadline + 1)
        token.approve(rm.address, bond, sender=c.account)
        rm.demand(paid.order, paid.acceptance_sig, sender=c.account)
        _until(
            "the node to settle, resolve the demand and collect",
            lambda: rm.demand_of(paid.order).due == 0 and rm.pending(node) == 0,
        )
        assert _report(w, w.honest.endpoint, paid.order_hash).settled_tx
        assert read_node(w.lnet.suite, node).stake == stake
        assert rm.pending(c.account.address) == 0  # the bond did not go back to the client
        # this order's pay and the bond (plus whatever earlier tests left pending or held) were collected
        assert token.balance_of(node) - balance >= pending + (PRICE - ROYALTY) + bond
    finally:
        conf.write_text(original)  # the next restart (below) runs the fixture's configuration


def test_the_client_demands_an_order_the_node_never_delivered_and_resolves_it(
    rworld: ZkWorld, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The node accepts an order and dies before delivering. The client kept the acceptance: once the
    deadline passed its next ``pursue_orders`` (run by every pay-on-proof ``infer``) demands the result
    on chain; once the response window passed unanswered, the next one resolves it: the node is
    slashed, the bond comes back, nothing was paid. Before, the client only raised NoResult."""
    import threading

    from veilproof.client import InferenceFailed

    w, rm = rworld, _rm(rworld)
    node = w.honest.account.address
    c = _client(w, tmp_path / "client", deadline_s=120, job_timeout=5.0)
    orders = c.home / "orders"

    def kill_after_acceptance() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not (orders.exists() and any(orders.iterdir())):
            time.sleep(0.02)
        w.honest.kill()

    killer = threading.Thread(target=kill_after_acceptance, daemon=True)
    killer.start()
    try:
        with pytest.raises(InferenceFailed):
            c.infer(w.model_id, w.built.example.x_test[34], node=node, eager=False)
        killer.join()
        ((order, _),) = c.undelivered_orders()
        dep, stake = rm.deposit_of(c.account.address, node), read_node(w.lnet.suite, node).stake
        assert c.pursue_orders() == []  # before the deadline there is nothing to demand
        w.lnet.net.advance_to(order.deadline + 1)
        assert [a.split()[0] for a in c.pursue_orders()] == ["demanded"]
        w.lnet.net.advance_to(rm.demand_of(order).due)
        assert [a.split()[0] for a in c.pursue_orders()] == ["resolved"]
        assert c.undelivered_orders() == []
        assert rm.nonce_used(c.account.address, node, order.nonce)
        assert read_node(w.lnet.suite, node).stake == stake - R_SLASH
        assert rm.pending(c.account.address) == rm.param("demand_bond")  # the bond is back
        assert rm.deposit_of(c.account.address, node) == dep  # nothing paid
    finally:
        killer.join()
        w.lnet.spawn(w.honest)
        w.lnet.wait_ready(w.honest)
