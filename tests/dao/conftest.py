"""A DAO world on each backend: the default network (core + Rewards + FheQuorum; with
``pipelines`` also EZKL's verifier and a PipelineMarket), the DAO, voters holding wVEIL, and the
hand-over done. Function-scoped: each test gets fresh contracts on the
session's chain (deploying is ~1 s on the embedded chain)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from veilproof.chain import Network
from veilproof.chain.deploy import (
    ONE_VEIL,
    Deployment,
    SuiteParams,
    deploy_pipeline_market,
    deploy_zk_verifier,
)
from veilproof.chain.governor import Dao, DaoParams, Proposal, ProposalState, Vote, deploy_dao, hand_over
from veilproof.chain.suite import Suite
from veilproof.incentives.deploy import deploy_network

SUPPLY = 1_000_000 * ONE_VEIL  # VEIL held outside wVEIL by the deployer (quorum counts wVEIL only)
WHALE = 100 * ONE_VEIL
SMALL = 3 * ONE_VEIL  # one voter with 3 of 106 wVEIL: below the 4% quorum alone
PIPELINE_SLASH = 50 * ONE_VEIL


@dataclass
class DaoWorld:
    net: Network
    owner: LocalAccount
    d: Deployment
    suite: Suite
    dao: Dao
    whale: LocalAccount
    small: LocalAccount
    outsider: LocalAccount

    def wrap(self, acct: LocalAccount, amount: int, delegate: bool = True) -> None:
        self.suite.token.approve(self.dao.votes.address, amount, sender=acct)
        self.dao.votes.deposit(amount, sender=acct)
        if delegate:
            self.dao.votes.delegate(acct.address, sender=acct)

    def vote_and_queue(self, p: Proposal, proposer: LocalAccount) -> int:
        """``proposer`` proposes ``p``, the whale votes for it, ``proposer`` queues it once voting ends;
        returns the proposal id (state QUEUED, before the timelock's eta)."""
        g = self.dao.governor
        pid = g.propose(p, sender=proposer)
        self.net.advance_to(g.snapshot(pid) + 1)
        g.vote(pid, Vote.FOR, sender=self.whale)
        self.net.advance_to(g.deadline(pid) + 1)
        g.queue(p, sender=proposer)
        assert g.state(pid) == ProposalState.QUEUED
        return pid


def make_world(net: Network, *, pipelines: bool = False) -> DaoWorld:
    owner, whale, small, outsider = net.new_accounts(4)
    d = deploy_network(net, owner, SuiteParams.dev())
    if pipelines:  # what `veilproof deploy --pipelines` adds before `dao deploy` hands over
        from veilproof.zk import evm

        v = evm.compile_reusable_verifier()
        deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
        deploy_pipeline_market(net, owner, d, slash_amount=PIPELINE_SLASH)
    suite = Suite.attach(net, d)
    for acct, amount in ((whale, WHALE), (small, SMALL), (outsider, 1_000 * ONE_VEIL)):
        suite.token.mint(acct.address, amount, sender=owner)
    dao = deploy_dao(net, owner, d, DaoParams.dev())
    hand_over(net, owner, d)
    w = DaoWorld(net, owner, d, suite, dao, whale, small, outsider)
    w.wrap(whale, WHALE)
    w.wrap(small, SMALL)
    net.time_travel(1)  # the delegations are checkpointed before any proposal's snapshot
    return w


@pytest.fixture
def world(net: Network) -> DaoWorld:
    return make_world(net)


@pytest.fixture
def pipeline_world(net: Network) -> DaoWorld:
    """``world`` whose deployment also has a PipelineMarket (deployed by the same key) when the DAO
    takes over."""
    return make_world(net, pipelines=True)
