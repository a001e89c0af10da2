"""The client's FHE delivery bond (``claim_not_delivered`` / ``deliver_output``) against a node whose
result is then refuted.

Found by the stateful test (``test_stateful_market.py``, invariant
``a_delivery_bond_goes_to_the_node_only_with_its_pay``): a cheating node posts the sha256 of garbage it
holds, withholds it from the client, and when the client demands the output on chain it delivers the
garbage (delivery proves the bytes are available, not that they are right). The market paid it the
client's bond at delivery; the quorum then refuted the result, and the node, slashed and refunded
against, kept the bond: an honest client lost it to a cheater. The bond is now held in escrow until
the job ends: the node takes it with its pay when the job settles, the client gets it back with its
refund when the node is slashed.
"""

from __future__ import annotations

import hashlib

from market_world import ONE, PRICE, ROYALTY_BPS, SETTLED, SLASHED, WINDOW, World

GARBAGE = b"\x13" * 2000 + b"not the client's answer"


def _demanded_and_delivered(w: World) -> int:
    mk = w.market.functions
    w.tx(mk.set_delivery_bond(ONE), w.owner)
    jid = w.open_job()
    w.submit_fhe(jid, out=hashlib.sha256(GARBAGE).digest())
    before = w.bal(w.client)
    w.tx(mk.claim_not_delivered(jid), w.client)  # the node never served the output off chain
    assert w.bal(w.client) == before - ONE
    w.tx(mk.deliver_output(jid, GARBAGE), w.node)
    return jid


def _market_holds_escrow_plus_pending(w: World) -> None:
    accounts = (w.client, w.node, w.owner, w.author, w.other, w.arbiter)
    assert w.bal(w.market) == w.call(w.market.functions.escrowed()) + sum(w.pending(a) for a in accounts)


def test_a_node_slashed_for_its_result_does_not_keep_the_clients_delivery_bond(w: World) -> None:
    mk = w.market.functions
    jid = _demanded_and_delivered(w)
    assert w.pending(w.node) == 0  # the bond waits in escrow for the verdict
    _market_holds_escrow_plus_pending(w)
    w.tx(mk.dispute_fhe(jid), w.arbiter)  # the validators refute the delivered output
    assert w.job(jid)["status"] == SLASHED
    assert w.pending(w.node) == 0, "the slashed node kept the client's bond"
    assert w.pending(w.client) == PRICE + ONE  # price and bond back
    assert w.call(mk.escrowed()) == 0
    _market_holds_escrow_plus_pending(w)


def test_a_node_that_delivered_takes_the_bond_with_its_pay(w: World) -> None:
    mk = w.market.functions
    jid = _demanded_and_delivered(w)
    w.net.time_travel(WINDOW)
    w.tx(mk.finalize(jid), w.other)
    assert w.job(jid)["status"] == SETTLED
    assert w.pending(w.node) == PRICE * (10_000 - ROYALTY_BPS) // 10_000 + ONE
    assert w.pending(w.client) == 0  # it demanded an output that was there: the bond is the node's
    assert w.call(mk.escrowed()) == 0
    _market_holds_escrow_plus_pending(w)
