"""Issue #17 for the PipelineMarket (`veilproof deploy --pipelines`): its admin powers (the slash
for a rejected stage proof, the stage claim window) must move to the timelock with the rest of the
suite, or a pipeline-enabled deployment keeps a one-key admin after the DAO takes over.

The attack: after ``hand_over`` the deployer's old key tries to zero the slash (so cheating stage
provers lose nothing) and to stretch the claim window (so one idle claimant stalls every job).
Both failed to be refused on the code before this test (PipelineMarket's admin was the deployer's
immutable address and ``hand_over`` did not list the contract). Then the timelock, through a real
proposal, changes both; and even a passed vote cannot cross the contract's bounds."""

from __future__ import annotations

import pytest

from tests.dao.conftest import PIPELINE_SLASH, DaoWorld
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.governor import (
    Owned,
    Proposal,
    ProposalState,
    action,
    admin_contracts,
    run_proposal,
)
from veilproof.errors import ContractReverted

DAY = 24 * 3600


def test_old_key_has_no_pipeline_admin_after_hand_over(pipeline_world: DaoWorld) -> None:
    w = pipeline_world
    pm = w.suite.pipelines
    assert pm is not None
    window = pm.claim_window()
    with pytest.raises(ContractReverted, match="not owner"):
        pm.set_slash_amount(0, sender=w.owner)
    with pytest.raises(ContractReverted, match="not owner"):
        pm.set_claim_window(30 * DAY, sender=w.owner)
    assert (pm.slash_amount(), pm.claim_window()) == (PIPELINE_SLASH, window)
    owned = Owned(w.net, "PipelineMarket", pm.address)
    assert owned.owner() == w.dao.timelock.address
    with pytest.raises(ContractReverted, match="not owner"):
        owned.transfer_ownership(w.owner.address, sender=w.owner)
    assert "PipelineMarket" in {c.name for c in admin_contracts(w.net, w.d)}


def test_timelock_sets_pipeline_params_through_a_proposal(pipeline_world: DaoWorld) -> None:
    w = pipeline_world
    pm = w.suite.pipelines
    assert pm is not None
    p = Proposal(
        (
            action(
                w.net, w.d, "PipelineMarket", "set_slash_amount", 10_000 * ONE_VEIL
            ),  # the bound, inclusive
            action(w.net, w.d, "PipelineMarket", "set_claim_window", DAY),  # the longest allowed
            action(w.net, w.d, "PipelineMarket", "set_claim_window", 60),  # the shortest allowed
        ),
        "pipeline slash and claim window",
    )
    pid, gas = run_proposal(w.dao, p, proposer=w.small, voters=[w.whale])
    assert w.dao.governor.state(pid) == ProposalState.EXECUTED
    assert (pm.slash_amount(), pm.claim_window()) == (10_000 * ONE_VEIL, 60)
    print("gas", gas)


@pytest.mark.parametrize(
    ("fn", "value", "reason"),
    [
        ("set_claim_window", 0, "claim window too short"),
        ("set_claim_window", 59, "claim window too short"),
        ("set_claim_window", DAY + 1, "claim window too long"),
        ("set_slash_amount", 10_001 * ONE_VEIL, "slash too high"),
    ],
)
def test_out_of_bounds_pipeline_change_reverts_even_when_voted(
    pipeline_world: DaoWorld, fn: str, value: int, reason: str
) -> None:
    w = pipeline_world
    pm = w.suite.pipelines
    assert pm is not None
    before = (pm.slash_amount(), pm.claim_window())
    g = w.dao.governor
    p = Proposal((action(w.net, w.d, "PipelineMarket", fn, value),), f"{fn} {value}")
    pid = w.vote_and_queue(p, w.small)
    w.net.advance_to(g.eta(pid))
    with pytest.raises(ContractReverted, match=reason):
        g.execute(p, sender=w.small)
    assert g.state(pid) == ProposalState.QUEUED
    assert (pm.slash_amount(), pm.claim_window()) == before
