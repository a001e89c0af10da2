"""Issue #17, attack 1: a captured vote swaps an address-valued power (here: authorises its own
slasher) and slashes a node before the node can unbond and leave. The timelock must hold every
address-valued admin call longer than the NodeRegistry's unbonding delay, so a node that starts
unbonding when the operation is queued gets its whole stake out first."""

from __future__ import annotations

import contextlib

import pytest

from tests.dao.conftest import DaoWorld
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.facade import call_data
from veilproof.chain.governor import Owned, Proposal, ProposalState, action
from veilproof.errors import ContractReverted


def _captured_vote_queues(w: DaoWorld, p: Proposal) -> int:
    """The whale (a captured majority) proposes, votes and queues ``p``; returns the proposal id."""
    return w.vote_and_queue(p, w.whale)


def test_captured_vote_cannot_authorize_a_slasher_before_nodes_can_exit(world: DaoWorld) -> None:
    w = world
    s = w.suite
    node, attacker = w.net.new_accounts(2)
    stake = s.nodes.min_stake()
    s.token.transfer(node.address, stake, sender=w.outsider)
    s.nodes.register("http://node", b"\x02" + b"\x11" * 32, [], sender=node)
    s.token.approve(s.nodes.address, stake, sender=node)
    s.nodes.stake(stake, sender=node)

    p = Proposal((action(w.net, w.d, "NodeRegistry", "authorize", attacker.address, True),), "a new slasher")
    pid = _captured_vote_queues(w, p)
    # the node watches queued operations and starts unbonding at once
    s.nodes.request_unbond(stake, sender=node)
    unbonded_at = w.net.now() + s.nodes.unbond_delay()

    # the attacker executes as early as the timelock's ordinary delay lets it, and would slash
    w.net.advance_to(w.net.now() + w.dao.timelock.min_delay())
    with pytest.raises(ContractReverted, match="TimelockUnexpectedOperationState"):
        w.dao.governor.execute(p, sender=attacker)
    registry = Owned(w.net, "NodeRegistry", s.nodes.address)
    assert not w.net.call(registry.call("authorized", attacker.address))

    # the node leaves with its whole stake before the new slasher can act
    w.net.advance_to(unbonded_at + 1)
    s.nodes.withdraw_unbonded(sender=node)
    assert s.token.balance_of(node.address) == stake
    eta = w.dao.governor.eta(pid)  # the governor reports the timelock's real (longer) readiness
    assert eta > unbonded_at
    w.net.advance_to(eta)
    w.dao.governor.execute(p, sender=attacker)
    assert w.net.call(registry.call("authorized", attacker.address))
    slash = registry.call("slash", node.address, 50 * ONE_VEIL, attacker.address, "captured")
    with contextlib.suppress(ContractReverted):  # nothing left to slash
        w.net.transact(slash, sender=attacker)
    assert s.token.balance_of(node.address) == stake


ADDRESS_POWERS = [
    ("JobMarket", "set_zk_verifier"),
    ("JobMarket", "set_arbiter"),
    ("Token", "set_minter"),
    ("NodeRegistry", "set_treasury"),
    ("Rewards", "transfer_ownership"),
]


@pytest.mark.parametrize(("contract", "fn"), ADDRESS_POWERS)
def test_every_address_power_waits_past_the_unbonding_delay(world: DaoWorld, contract: str, fn: str) -> None:
    w = world
    (attacker,) = w.net.new_accounts(1)
    p = Proposal((action(w.net, w.d, contract, fn, attacker.address),), f"{fn} to an attacker")
    pid = _captured_vote_queues(w, p)
    queued_at = w.net.now()
    tl = w.dao.timelock
    assert tl.address_delay() == w.suite.nodes.unbond_delay() + 300  # DaoParams.dev() margin
    assert w.dao.governor.eta(pid) >= queued_at + tl.address_delay() - 1
    w.net.advance_to(w.dao.governor.eta(pid) - 2)
    with pytest.raises(ContractReverted, match="TimelockUnexpectedOperationState"):
        w.dao.governor.execute(p, sender=attacker)
    w.net.advance_to(w.dao.governor.eta(pid))
    w.dao.governor.execute(p, sender=attacker)
    assert w.dao.governor.state(pid) == ProposalState.EXECUTED


def test_numeric_changes_and_revocations_keep_the_short_delay(world: DaoWorld) -> None:
    """Only granting address power is slowed: bounded numbers and taking a slasher away stay fast."""
    w = world
    tl = w.dao.timelock
    market = Owned(w.net, "JobMarket", w.suite.market.address)
    registry = Owned(w.net, "NodeRegistry", w.suite.nodes.address)
    assert not tl.is_address_power(call_data(market.call("set_challenge_window", 900)))
    assert not tl.is_address_power(call_data(registry.call("authorize", w.outsider.address, False)))
    assert tl.is_address_power(call_data(registry.call("authorize", w.outsider.address, True)))
    assert not tl.is_address_power(b"\x01\x02")
    p = Proposal(
        (
            action(w.net, w.d, "JobMarket", "set_challenge_window", 900),
            action(w.net, w.d, "NodeRegistry", "authorize", w.suite.market.address, False),
        ),
        "short",
    )
    pid = _captured_vote_queues(w, p)
    assert w.dao.governor.eta(pid) <= w.net.now() + tl.min_delay()
    w.net.advance_to(w.dao.governor.eta(pid))
    w.dao.governor.execute(p, sender=w.outsider)
    assert w.suite.market.challenge_window() == 900
