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
from veilproof.protocol.api import OrderReport

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
        receipts=receipts, node_config={"settle_batch": BATCH, "settle_interval_s": 3600.0},
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


def test_withheld_receipt_is_claimed_with_the_proof_after_the_deadline(rworld: ZkWorld) -> None:
    w, rm = rworld, _rm(rworld)
    node, client = w.honest.account.address, w.client.account.address
    offer = _offer(w, node)
    m = w.client.suite.models.read_model(w.model_id)
    w.client.deadline_s = 120
    try:
        paid: PaidOrder = w.client.order_zk(m, offer, w.built.example.x_test[3], lambda _m: None)
    finally:
        w.client.deadline_s = 1800
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
    order = Order(client, node, w.model_id, commit, PRICE, w.lnet.net.now() + 600, nonce)
    wire = WireOrder(client=client, node=node, model_id=w.model_id, input_commitment="0x" + commit.hex(),
                     max_price=PRICE, deadline=order.deadline, nonce=nonce)  # fmt: skip
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
