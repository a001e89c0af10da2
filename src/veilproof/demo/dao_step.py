"""The demo's DAO step: the network governs itself (issue #17, docs/dao.md).

On a network that is already up (the demo's, or a test's) it deploys the DAO and hands every admin
power to the timelock, then shows the two things a DAO is for:

* a parameter change (the challenge window) passes propose -> vote -> queue, is refused while the
  timelock delay runs, and lands after it; the old owner key can no longer make it directly;
* the community votes a grant to train an open model; the milestone pays out only when the
  recipient publishes a model on the committed dataset whose ZK verifying key is registered (the
  caller's ``publish`` does that: in the demo a real EZKL package, so its inferences are provable).

Nothing is simulated: real contracts (OpenZeppelin Governor + TimelockController), real votes, real
time passing on the dev chain (``advance_to``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain.deploy import ONE_VEIL, Deployment
from veilproof.chain.governor import (
    Dao,
    DaoParams,
    Proposal,
    ProposalState,
    Vote,
    action,
    deploy_dao,
    grant_proposal,
    hand_over,
)
from veilproof.chain.grants import Check, Milestone
from veilproof.chain.network import Network
from veilproof.chain.suite import Suite
from veilproof.errors import ContractReverted

VOTER_VEIL = 1_000
TREASURY_VEIL = 500
GRANT_VEIL = 200


@dataclass
class DaoStepResult:
    window_before: int = 0
    window_after: int = 0
    refused_before_delay: bool = False
    owner_refused: bool = False
    grant_paid: int = 0
    refused_before_model: bool = False
    gas: dict[str, int] = field(default_factory=dict)


def run_dao_step(
    net: Network,
    d: Deployment,
    owner: LocalAccount,
    publish: Callable[[LocalAccount, int], int],
    say: Callable[[str], None] = print,
    new_window: int = 900,
) -> DaoStepResult:
    """Run the step. ``publish(researcher, dataset_id)`` publishes the researcher's model trained on
    ``dataset_id`` and returns its id. ``owner`` must still hold the suite's admin powers and VEIL
    (it mints the voters' and treasury's VEIL before handing over)."""
    r = DaoStepResult()
    suite = Suite.attach(net, d)
    voter, researcher = net.new_accounts(2)
    suite.token.mint(voter.address, VOTER_VEIL * ONE_VEIL, sender=owner)
    dao: Dao = deploy_dao(net, owner, d, DaoParams.dev())
    hand_over(net, owner, d)
    say(f"DAO deployed; admin powers handed to the timelock {dao.timelock.address}")
    suite.token.transfer(dao.timelock.address, TREASURY_VEIL * ONE_VEIL, sender=voter)
    suite.token.approve(dao.votes.address, (VOTER_VEIL - TREASURY_VEIL) * ONE_VEIL, sender=voter)
    dao.votes.deposit((VOTER_VEIL - TREASURY_VEIL) * ONE_VEIL, sender=voter)
    dao.votes.delegate(voter.address, sender=voter)
    net.time_travel(1)
    g = dao.governor

    # 1. a parameter change through the timelock
    r.window_before = suite.market.challenge_window()
    p = Proposal(
        (action(net, d, "JobMarket", "set_challenge_window", new_window),), f"challenge window {new_window} s"
    )
    pid = g.propose(p, sender=voter)
    assert g.last_receipt is not None
    r.gas["propose"] = g.last_receipt.gas_used
    net.advance_to(g.snapshot(pid) + 1)
    r.gas["castVote"] = g.vote(pid, Vote.FOR, sender=voter).gas_used
    net.advance_to(g.deadline(pid) + 1)
    r.gas["queue"] = g.queue(p, sender=voter).gas_used
    try:
        g.execute(p, sender=voter)
    except ContractReverted:
        r.refused_before_delay = True
    say(
        f"proposal queued; execute before the {dao.timelock.min_delay()} s delay refused: {r.refused_before_delay}"
    )
    net.advance_to(g.eta(pid))
    r.gas["execute"] = g.execute(p, sender=voter).gas_used
    r.window_after = suite.market.challenge_window()
    try:
        suite.market.set_challenge_window(r.window_before, sender=owner)
    except ContractReverted:
        r.owner_refused = True
    say(f"challenge window {r.window_before} -> {r.window_after} s; old owner refused: {r.owner_refused}")
    assert g.state(pid) == ProposalState.EXECUTED

    # 2. a grant paid on a verifiable milestone
    ds = suite.models.registered_dataset_id(
        suite.models.register_dataset(
            keccak(text=f"dao-grant:{researcher.address}"), "dao-grant:open-data", sender=researcher
        )
    )
    gp = grant_proposal(
        dao,
        d,
        researcher.address,
        [Milestone(GRANT_VEIL * ONE_VEIL, Check.MODEL, dataset_id=ds)],
        "grant: open model",
    )
    gpid = g.propose(gp, sender=voter)
    net.advance_to(g.snapshot(gpid) + 1)
    g.vote(gpid, Vote.FOR, sender=voter)
    net.advance_to(g.deadline(gpid) + 1)
    g.queue(gp, sender=voter)
    net.advance_to(g.eta(gpid))
    r.gas["execute grant (escrow)"] = g.execute(gp, sender=voter).gas_used
    gid = dao.grants.grant_count()
    try:
        dao.grants.release(gid, 0, 1, sender=voter)  # a model that predates the grant
    except ContractReverted:
        r.refused_before_model = True
    before = suite.token.balance_of(researcher.address)
    model_id = publish(researcher, ds)
    r.gas["release milestone"] = dao.grants.release(gid, 0, model_id, sender=voter).gas_used
    r.grant_paid = suite.token.balance_of(researcher.address) - before
    say(
        f"grant {gid}: model {model_id} published with its ZK key; milestone paid {r.grant_paid / ONE_VEIL:g} VEIL"
    )
    return r
