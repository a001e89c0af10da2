"""The client's payer approves the JobMarket ahead (``DirectPayer.approve_jobs_ahead``): one approval
transaction per ten jobs, not one per job, and never a job lost to an allowance another payer of the
same account spent. Real transactions on the embedded chain; what is counted is the approvals mined."""

from __future__ import annotations

import pytest
from market_world import MODE_FHE, PRICE, World, field_elem, h

from veilproof.chain.deploy import Deployment
from veilproof.chain.suite import Suite
from veilproof.client import payer as payer_mod
from veilproof.client.payer import DirectPayer
from veilproof.errors import ContractReverted, InputError


@pytest.fixture
def suite(w: World) -> Suite:
    d = Deployment(
        w.net.chain_id, w.token.address, w.models.address, w.nodes.address, w.market.address, w.owner.address
    )
    s = Suite.attach(w.net, d)
    s.token.approve(s.market.address, 0, sender=w.client)  # the world approved everything: start from none
    w.mint(w.client, 1000 * PRICE)
    payer_mod._LEDGERS.clear()  # each test's chain starts from no allowance
    return s


def _open(w: World, payer: DirectPayer, n: int) -> int:
    jid, _ = payer.open_job(
        w.model_id, w.node.address, field_elem(f"input {n}"), MODE_FHE, w.net.now() + 1000, PRICE,
        eval_keys_hash=h("keys"),
    )  # fmt: skip
    return jid


def _approvals(suite: Suite) -> int:
    return suite.net.writes_of([suite.token.address.lower()])


def test_ten_jobs_one_approval(w: World, suite: Suite) -> None:
    payer = DirectPayer(suite, w.client)
    before = _approvals(suite)
    jobs = [_open(w, payer, n) for n in range(10)]
    assert len(set(jobs)) == 10
    assert _approvals(suite) - before == 1
    assert suite.token.allowance(w.client.address, suite.market.address) == 0  # all of it spent by the jobs
    _open(w, payer, 10)  # the eleventh approves again
    assert _approvals(suite) - before == 2


def test_exact_approvals_on_request(w: World, suite: Suite) -> None:
    payer = DirectPayer(suite, w.client, approve_jobs_ahead=1)
    before = _approvals(suite)
    for n in range(3):
        _open(w, payer, n)
    assert _approvals(suite) - before == 3
    assert suite.token.allowance(w.client.address, suite.market.address) == 0
    with pytest.raises(InputError, match="approve_jobs_ahead"):
        DirectPayer(suite, w.client, approve_jobs_ahead=0)


def test_payers_of_one_account_share_its_allowance(w: World, suite: Suite) -> None:
    """A client's behaviours and threads each have a payer: they count one allowance, so ten jobs
    from two payers still cost one approval and no refused transfer."""
    a, b = DirectPayer(suite, w.client), DirectPayer(suite, w.client)
    before = _approvals(suite)
    for n in range(10):
        _open(w, (a, b)[n % 2], n)
    assert _approvals(suite) - before == 1


def test_an_allowance_spent_elsewhere_is_read_again(w: World, suite: Suite) -> None:
    """Another process of the same account spends the allowance this payer counted on: the next job
    is refused by the token's transfer, and the payer reads the allowance, approves, and opens it
    (once, no error for the user)."""
    payer = DirectPayer(suite, w.client)
    _open(w, payer, 0)  # approves ten, reserves one
    for _ in range(9):
        w.open_job(max_price=PRICE)  # the other process: the market pulls from the same allowance
    assert suite.token.allowance(w.client.address, suite.market.address) == 0
    before = _approvals(suite)
    _open(w, payer, 10)  # still counts nine: the transfer is refused, it approves and retries
    assert _approvals(suite) - before == 1


def test_a_refusal_for_another_reason_is_not_retried(w: World, suite: Suite) -> None:
    payer = DirectPayer(suite, w.client)
    with pytest.raises(ContractReverted) as e:
        payer.open_job(
            w.model_id,
            w.node.address,
            field_elem("x"),
            MODE_FHE,
            w.net.now() - 1,
            PRICE,
            eval_keys_hash=h("keys"),
        )
    assert "allowance" not in e.value.reason
    _open(w, payer, 1)  # the payer's count was reset: the next job reads the allowance and is fine


def test_a_third_account_cannot_spend_the_allowance_left_over(w: World, suite: Suite) -> None:
    """The allowance approved ahead sits with the market, and the market pulls only from the sender of
    the transaction that pays: another account can neither move it nor have the market charge the
    client for its own job (the attack the ten-jobs-ahead approval must not open)."""
    payer = DirectPayer(suite, w.client)
    _open(w, payer, 0)  # approves ten jobs, spends one
    left = suite.token.allowance(w.client.address, suite.market.address)
    assert left == 9 * PRICE
    held = w.bal(w.client)
    thief = w.other
    with pytest.raises(ContractReverted):  # the token: the allowance is the market's, not the thief's
        w.tx(w.token.functions.transferFrom(w.client.address, thief.address, PRICE), thief)
    with pytest.raises(ContractReverted):  # the market pulls from the thief, who approved nothing
        w.open_job(client=thief, max_price=PRICE)
    assert w.bal(w.client) == held
    assert suite.token.allowance(w.client.address, suite.market.address) == left
    before = _approvals(suite)
    for n in range(1, 10):  # still the client's: its next nine jobs need no approval
        _open(w, payer, n)
    assert _approvals(suite) - before == 0
