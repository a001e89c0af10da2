"""Node offers (#14 "a compute market"): a node sets its own compute price per model on top of the
owner's royalty; JobMarket charges it, splits it exactly, and the client's ``max_price`` bounds it.

Split of an offer job: price = R + O with R = list price x royalty_bps (fixed at open) and O the
node's offer; the owner gets R, the treasury fee_bps of O, the node O minus that fee.
"""

from __future__ import annotations

from market_world import OPEN, PRICE, ROYALTY_BPS, SETTLED, World
from market_world import reverts as revert_with

R = PRICE * ROYALTY_BPS // 10_000
FEE_BPS = 500


def _offer(w: World, price: int | None) -> None:
    f = w.nodes.functions
    w.tx(f.clear_offer(w.model_id) if price is None else f.set_offer(w.model_id, price), w.node)


def _quote(w: World) -> tuple[bool, int]:
    has, price = w.call(w.nodes.functions.offer(w.node.address, w.model_id))
    return bool(has), int(price)


def test_offer_set_changed_cleared(w: World) -> None:
    f = w.nodes.functions
    assert _quote(w) == (False, 0)
    rcpt = w.tx(f.set_offer(w.model_id, 3 * 10**18), w.node)
    assert w.events(w.nodes, "OfferSet", rcpt) == [
        {"node": w.node.address, "model_id": w.model_id, "price": 3 * 10**18, "active": True}
    ]
    assert _quote(w) == (True, 3 * 10**18)
    _offer(w, 0)  # free compute is an offer, distinct from none
    assert _quote(w) == (True, 0)
    rcpt = w.tx(f.clear_offer(w.model_id), w.node)
    assert w.events(w.nodes, "OfferSet", rcpt)[0]["active"] is False
    assert _quote(w) == (False, 0)
    with revert_with("no offer"):
        w.tx(f.clear_offer(w.model_id), w.node)
    with revert_with("not registered"):
        w.tx(f.set_offer(w.model_id, 1), w.other)
    other_model = w.register_model(name="unserved")
    with revert_with("model not served"):
        w.tx(f.set_offer(other_model, 1), w.node)
    with revert_with("price too high"):
        w.tx(f.set_offer(w.model_id, 2**256 - 1), w.node)


def test_no_offer_charges_list_price(w: World) -> None:
    jid = w.open_job()
    assert w.job(jid)["price"] == PRICE
    assert tuple(w.call(w.market.functions.offer_royalty(jid))) == (False, 0)


def test_offer_is_charged_and_split_exactly(w: World) -> None:
    """Cheaper and dearer offers: the client pays R + O, the owner gets R whatever O is, the fee is
    on the node's part, and a later list-price change does not move an open job's split."""
    w.tx(w.market.functions.set_fee_bps(FEE_BPS), w.owner)
    for offer in (PRICE // 4, 3 * PRICE, 7):
        _offer(w, offer)
        before = w.bal(w.client)
        jid = w.open_job()
        assert w.job(jid)["price"] == R + offer == before - w.bal(w.client)
        assert tuple(w.call(w.market.functions.offer_royalty(jid))) == (True, R)
        w.tx(w.models.functions.set_price(w.model_id, 9 * PRICE), w.author)  # after open: no effect
        p_node, p_owner, p_tr = (w.pending(a) for a in (w.node, w.author, w.owner))
        w.submit_fhe(jid)
        w.tx(w.market.functions.accept(jid), w.client)
        fee = offer * FEE_BPS // 10_000
        assert w.job(jid)["status"] == SETTLED
        assert w.pending(w.author) - p_owner == R
        assert w.pending(w.owner) - p_tr == fee
        assert w.pending(w.node) - p_node == offer - fee
        w.tx(w.models.functions.set_price(w.model_id, PRICE), w.author)
    _offer(w, None)  # cleared: list price and today's split again
    jid = w.open_job()
    assert w.job(jid)["price"] == PRICE


def test_node_raises_offer_before_open_is_refused(w: World) -> None:
    """Attack: the node front-runs a client's open_job by raising its offer after the client's
    quote. The open reverts "price above max"; the client loses nothing and no job exists."""
    _offer(w, PRICE // 2)
    quoted = R + PRICE // 2  # what the client read
    _offer(w, 5 * PRICE)  # the node's raise lands first
    before, jobs = w.bal(w.client), int(w.call(w.market.functions.job_count()))
    with revert_with("price above max"):
        w.open_job(max_price=quoted)
    assert w.bal(w.client) == before
    assert int(w.call(w.market.functions.job_count())) == jobs
    _offer(w, PRICE // 4)  # a cut is fine: the job escrows what it costs now
    jid = w.open_job(max_price=quoted)
    assert w.job(jid)["status"] == OPEN
    assert before - w.bal(w.client) == R + PRICE // 4
