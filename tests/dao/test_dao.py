"""The DAO end to end on real contracts (embedded py-evm and anvil): the proposal lifecycle through
the timelock, quorum, snapshot voting, the hand-over and the bounds governance cannot cross."""

from __future__ import annotations

import pytest

from tests.dao.conftest import DaoWorld
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.governor import Proposal, ProposalState, Vote, action, admin_contracts, run_proposal
from veilproof.errors import ContractReverted


def _window(w: DaoWorld, seconds: int, tag: str = "") -> Proposal:
    return Proposal(
        (action(w.net, w.d, "JobMarket", "set_challenge_window", seconds),),
        f"challenge window {seconds}{tag}",
    )


def test_full_lifecycle_changes_the_challenge_window(world: DaoWorld) -> None:
    w = world
    before = w.suite.market.challenge_window()
    p = _window(w, 900)
    pid, gas = run_proposal(w.dao, p, proposer=w.small, voters=[w.whale])
    assert w.dao.governor.state(pid) == ProposalState.EXECUTED
    assert (before, w.suite.market.challenge_window()) == (600, 900)
    assert set(gas) == {"propose", "castVote", "queue", "execute"}
    print("gas", gas)


def test_execute_before_timelock_delay_reverts(world: DaoWorld) -> None:
    w = world
    g = w.dao.governor
    p = _window(w, 900)
    w.vote_and_queue(p, w.small)
    with pytest.raises(ContractReverted, match="TimelockUnexpectedOperationState"):
        g.execute(p, sender=w.small)
    assert w.suite.market.challenge_window() == 600


def test_below_quorum_is_defeated(world: DaoWorld) -> None:
    w = world
    g = w.dao.governor
    p = _window(w, 900)
    pid = g.propose(p, sender=w.small)
    w.net.advance_to(g.snapshot(pid) + 1)
    g.vote(pid, Vote.FOR, sender=w.small)  # 3 of 103 wVEIL: quorum is 4%
    assert g.quorum(g.snapshot(pid)) > 3 * ONE_VEIL
    w.net.advance_to(g.deadline(pid) + 1)
    assert g.state(pid) == ProposalState.DEFEATED
    with pytest.raises(ContractReverted, match="GovernorUnexpectedProposalState"):
        g.queue(p, sender=w.small)
    assert w.suite.market.challenge_window() == 600


def test_votes_acquired_after_snapshot_count_zero(world: DaoWorld) -> None:
    """The flash-loan / vote-buying attack: wrap VEIL after the proposal is made, vote with it."""
    w = world
    g = w.dao.governor
    p = _window(w, 900)
    pid = g.propose(p, sender=w.outsider)
    w.net.advance_to(g.snapshot(pid) + 1)
    w.wrap(w.outsider, 1_000 * ONE_VEIL)  # 10x the whale, bought after the snapshot
    assert w.dao.votes.votes(w.outsider.address) == 1_000 * ONE_VEIL
    g.vote(pid, Vote.FOR, sender=w.outsider)
    assert g.votes(pid) == (0, 0, 0)  # counted with weight zero
    w.net.advance_to(g.deadline(pid) + 1)
    assert g.state(pid) == ProposalState.DEFEATED


def test_whale_against_defeats(world: DaoWorld) -> None:
    w = world
    g = w.dao.governor
    p = _window(w, 900)
    pid = g.propose(p, sender=w.small)
    w.net.advance_to(g.snapshot(pid) + 1)
    g.vote(pid, Vote.FOR, sender=w.small)
    g.vote(pid, Vote.AGAINST, sender=w.whale)
    w.net.advance_to(g.deadline(pid) + 1)
    assert g.state(pid) == ProposalState.DEFEATED


def test_old_owner_has_no_admin_power(world: DaoWorld) -> None:
    w = world
    timelock = w.dao.timelock.address
    for c in admin_contracts(w.net, w.d):
        assert c.owner() == timelock, c.name
        with pytest.raises(ContractReverted, match="not owner"):
            c.transfer_ownership(w.owner.address, sender=w.owner)
        if c.has_treasury_setter():
            assert c.treasury() == timelock, c.name
            with pytest.raises(ContractReverted, match="not owner"):
                c.set_treasury(w.owner.address, sender=w.owner)
    with pytest.raises(ContractReverted, match="not owner"):
        w.suite.market.set_challenge_window(60, sender=w.owner)
    with pytest.raises(ContractReverted, match="not owner"):
        w.suite.market.set_slash_amount(0, sender=w.owner)
    with pytest.raises(ContractReverted, match="not owner"):
        w.suite.rewards.set_emission(0, sender=w.owner)
    with pytest.raises(ContractReverted, match="not owner"):
        w.suite.token.set_minter(w.owner.address, sender=w.owner)
    # the deployer kept no role on the timelock either
    for role in ("DEFAULT_ADMIN_ROLE", "PROPOSER_ROLE", "CANCELLER_ROLE"):
        assert not w.dao.timelock.has_role(role, w.owner.address)
    assert w.dao.timelock.has_role("PROPOSER_ROLE", w.dao.governor.address)


@pytest.mark.parametrize(
    ("contract", "fn", "value", "reason"),
    [
        ("JobMarket", "set_challenge_window", 7 * 24 * 3600, "exceeds unbond delay"),
        ("JobMarket", "set_slash_amount", 10_001 * ONE_VEIL, "slash too high"),
        ("JobMarket", "set_fee_bps", 1_001, "fee too high"),
        ("Rewards", "set_emission", 10_001 * ONE_VEIL, "emission too high"),
    ],
)
def test_out_of_bounds_change_reverts_even_when_voted(
    world: DaoWorld, contract: str, fn: str, value: int, reason: str
) -> None:
    w = world
    g = w.dao.governor
    p = Proposal((action(w.net, w.d, contract, fn, value),), f"{fn} {value}")
    pid = w.vote_and_queue(p, w.small)
    w.net.advance_to(g.eta(pid))
    with pytest.raises(ContractReverted, match=reason):
        g.execute(p, sender=w.small)
    assert g.state(pid) == ProposalState.QUEUED
