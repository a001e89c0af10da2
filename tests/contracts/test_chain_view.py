"""The buyer's chain view (veilproof.chain.view): a read is remembered until an event of a watched
contract says it may have changed; events that do not matter (a deposit) keep it; this process's own
transactions and a reverted chain are seen at once; another process's change after ``sync_s``.

Each "change" is a real transaction on the embedded chain; what is counted is how often the view
went back to the chain for the value."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from market_world import ONE, World
from test_receipt_market import PARAMS

from veilproof.chain import view as view_mod
from veilproof.chain.deploy import Deployment, deploy_receipt_market
from veilproof.chain.suite import Suite
from veilproof.chain.view import ChainView


@dataclass
class Fetches:
    n: int = 0

    def __call__(self) -> int:
        self.n += 1
        return self.n


@pytest.fixture
def suite(w: World) -> Suite:
    d = Deployment(
        w.net.chain_id, w.token.address, w.models.address, w.nodes.address, w.market.address, w.owner.address
    )
    d.extra["zk_adapter"] = w.call(w.market.functions.zk_verifier())
    deploy_receipt_market(w.net, w.owner, d, PARAMS)
    return Suite.attach(w.net, d)


def _view(s: Suite, sync_s: float) -> ChainView:
    assert s.receipts is not None
    return ChainView(s.net, [(s.nodes, None), (s.models, None), (s.receipts, ["ParamSet"])], sync_s=sync_s)


def test_a_read_is_kept_until_a_watched_event(w: World, suite: Suite) -> None:
    rm, v, fetch = suite.receipts, _view(suite, sync_s=0.0), Fetches()
    assert rm is not None
    assert v.read(("k",), fetch) == 1
    assert v.read(("k",), fetch) == 1  # nothing happened
    w.approve(w.client, rm.contract)
    rm.deposit(w.node.address, ONE, sender=w.client)  # ReceiptMarket's Deposited: not watched
    assert v.read(("k",), fetch) == 1
    suite.nodes.set_offer(w.model_id, ONE, sender=w.node)  # NodeRegistry: every event counts
    assert v.read(("k",), fetch) == 2
    rm.set_windows(3600, 3600, 3600, 2 * 86400, sender=w.owner)  # ReceiptMarket's ParamSet
    assert v.read(("k",), fetch) == 3
    suite.models.set_price(w.model_id, 3 * ONE, sender=w.author)  # ModelRegistry
    assert v.read(("k",), fetch) == 4
    assert v.read(("k",), fetch) == 4


def test_own_writes_at_once_others_after_sync_s(
    w: World, suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(view_mod.time, "monotonic", lambda: clock[0])
    v, fetch = _view(suite, sync_s=5.0), Fetches()
    assert v.read(("price",), fetch) == 1
    suite.models.set_price(w.model_id, 3 * ONE, sender=w.author)  # this process's transaction
    assert v.read(("price",), fetch) == 2
    # Another process's change: the same transaction, without this process's write count.
    writes = dict(suite.net.writes_to)
    suite.models.set_price(w.model_id, 4 * ONE, sender=w.author)
    suite.net.writes_to = writes
    clock[0] += 4.0
    assert v.read(("price",), fetch) == 2  # not looked at yet: at most sync_s late
    clock[0] += 1.5
    assert v.read(("price",), fetch) == 3


def test_own_writes_to_unwatched_contracts_do_not_make_it_look(
    w: World, suite: Suite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job's escrow and token approvals are this process's transactions too, one or more per job:
    they are no reason to read the chain's logs again (two requests each time, every job); a write
    to a watched contract still is."""
    clock = [1000.0]
    monkeypatch.setattr(view_mod.time, "monotonic", lambda: clock[0])
    v, fetch = _view(suite, sync_s=60.0), Fetches()
    assert v.read(("k",), fetch) == 1
    looked = v._looked_at
    suite.token.approve(suite.market.address, ONE, sender=w.client)  # Token: not watched
    assert v.read(("k",), fetch) == 1
    assert v._looked_at == looked  # no eth_getLogs for it
    suite.nodes.set_offer(w.model_id, ONE, sender=w.node)  # NodeRegistry, this process: at once
    assert v.read(("k",), fetch) == 2


def test_a_reverted_chain_empties_the_view(w: World, suite: Suite) -> None:
    v, fetch = _view(suite, sync_s=3600.0), Fetches()
    snap = suite.net.snapshot()
    suite.models.set_price(w.model_id, 3 * ONE, sender=w.author)
    assert v.read(("price",), fetch) == 1
    suite.net.revert(snap)  # the price change is gone with its history
    assert v.read(("price",), fetch) == 2


def test_the_terms_view_reads_the_real_values(w: World, suite: Suite) -> None:
    """Through the suite's shared view: a model's record and a node's terms follow their changes."""
    v = suite.terms_view
    m = v.read(("model", w.model_id), lambda: suite.models.read_model(w.model_id))
    suite.models.set_price(w.model_id, m.price + ONE, sender=w.author)
    again = v.read(("model", w.model_id), lambda: suite.models.read_model(w.model_id))
    assert again.price == m.price + ONE
    terms = v.read(("terms",), lambda: suite.nodes.job_terms(w.node.address, w.model_id))
    assert terms[2] is None
    suite.nodes.set_offer(w.model_id, 2 * ONE, sender=w.node)
    assert v.read(("terms",), lambda: suite.nodes.job_terms(w.node.address, w.model_id))[2] == 2 * ONE


def test_a_withdrawal_request_is_seen_by_the_terms_view(w: World, suite: Suite) -> None:
    """A node decides to settle early from a client's pending withdrawal read through the view: the
    request (WithdrawRequested) and the withdrawal (DepositWithdrawn) both make it read again."""
    rm, v = suite.receipts, suite.terms_view
    assert rm is not None
    w.approve(w.client, rm.contract)
    rm.deposit(w.node.address, ONE, sender=w.client)

    def pending() -> tuple[int, int]:
        return v.read(
            ("withdrawal", w.client.address), lambda: rm.withdrawal(w.client.address, w.node.address)
        )

    assert pending() == (0, 0)
    writes = dict(suite.net.writes_to)
    rm.request_withdraw(w.node.address, ONE, sender=w.client)
    suite.net.writes_to = writes  # as if another process (the client) sent it: seen through the event
    v._looked_at = float("-inf")  # a second later
    amount, unlock = pending()
    assert amount == ONE and unlock > 0
