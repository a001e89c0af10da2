"""Grants: escrowed by a passed proposal, released only when the on-chain check passes (or by a
vote), cancelled by a vote with the rest returned to the treasury; and fees/slashes reach it."""

from __future__ import annotations

import pytest

from tests.dao.conftest import DaoWorld
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.governor import (
    approve_milestone_proposal,
    cancel_grant_proposal,
    grant_proposal,
    run_proposal,
)
from veilproof.chain.grants import Check, Milestone
from veilproof.errors import ContractReverted

CODE = b"\x11" * 32
ZK = (b"\x01" * 32, b"\x02" * 32, b"\x03" * 32)


def _model(w: DaoWorld, acct, datasets: list[int], code: bytes, zk: bool = True) -> int:  # type: ignore[no-untyped-def]
    m = w.suite.models
    rcpt = m.register_model("open-mlp", ONE_VEIL, 0, b"\x09" * 32, [], datasets, code, sender=acct)
    mid = m.registered_model_id(rcpt)
    if zk:
        m.set_zk_commitment(mid, *ZK, sender=acct)
    return mid


def test_grant_releases_only_on_passing_check_and_cancels_by_vote(world: DaoWorld) -> None:
    w = world
    token, grants, timelock = w.suite.token, w.dao.grants, w.dao.timelock.address
    researcher = w.outsider
    token.transfer(timelock, 500 * ONE_VEIL, sender=researcher)  # the treasury holds VEIL
    ds = w.suite.models.registered_dataset_id(
        w.suite.models.register_dataset(b"\x07" * 32, "ds://open", sender=researcher)
    )
    early = _model(w, researcher, [ds], CODE)  # published before the grant: must not count
    ms = [
        Milestone(200 * ONE_VEIL, Check.MODEL, dataset_id=ds, code_hash=CODE),
        Milestone(100 * ONE_VEIL, Check.VOTE),
        Milestone(50 * ONE_VEIL, Check.VOTE),
    ]
    _, gas = run_proposal(
        w.dao,
        grant_proposal(w.dao, w.d, researcher.address, ms, "grant: open MLP"),
        proposer=w.small,
        voters=[w.whale],
    )
    gid = grants.grant_count()
    assert grants.grant(gid).escrowed == 350 * ONE_VEIL
    assert token.balance_of(timelock) == 150 * ONE_VEIL
    start = token.balance_of(researcher.address)

    with pytest.raises(ContractReverted, match="model predates grant"):
        grants.release(gid, 0, early, sender=w.small)
    wrong_code = _model(w, researcher, [ds], b"\x22" * 32)
    with pytest.raises(ContractReverted, match="wrong training code"):
        grants.release(gid, 0, wrong_code, sender=w.small)
    no_zk = _model(w, researcher, [ds], CODE, zk=False)
    with pytest.raises(ContractReverted, match="no zk commitment"):
        grants.release(gid, 0, no_zk, sender=w.small)
    other_data = _model(w, researcher, [], CODE)
    with pytest.raises(ContractReverted, match="dataset not used"):
        grants.release(gid, 0, other_data, sender=w.small)
    squatter = _model(w, w.small, [ds], CODE)  # someone else's model meeting the spec
    with pytest.raises(ContractReverted, match="not recipient's model"):
        grants.release(gid, 0, squatter, sender=w.small)
    with pytest.raises(ContractReverted, match="milestone needs a vote"):
        grants.release(gid, 1, 0, sender=w.small)
    with pytest.raises(ContractReverted, match="not owner"):
        w.net.transact(grants.approve_call(gid, 1), sender=w.owner)
    assert token.balance_of(researcher.address) == start

    good = _model(w, researcher, [ds], CODE)
    rel = grants.release(gid, 0, good, sender=w.small)  # anyone can trigger it
    assert token.balance_of(researcher.address) == start + 200 * ONE_VEIL
    with pytest.raises(ContractReverted, match="already released"):
        grants.release(gid, 0, good, sender=w.small)

    run_proposal(
        w.dao,
        approve_milestone_proposal(w.dao, gid, 1, "milestone 1 delivered"),
        proposer=w.small,
        voters=[w.whale],
    )
    assert token.balance_of(researcher.address) == start + 300 * ONE_VEIL
    run_proposal(
        w.dao, cancel_grant_proposal(w.dao, gid, "cancel the rest"), proposer=w.small, voters=[w.whale]
    )
    assert grants.grant(gid).cancelled and grants.grant(gid).escrowed == 0
    assert token.balance_of(timelock) == 200 * ONE_VEIL  # 150 + the 50 never earned
    assert token.balance_of(grants.address) == 0
    print("gas grant proposal", gas, "release", rel.gas_used)


def test_slashed_stake_and_fees_reach_the_dao_treasury(world: DaoWorld) -> None:
    """Before the hand-over they went to the deployer's address; now to the timelock (the treasury)."""
    from veilproof.chain.job_market import JobMode

    w = world
    s, timelock = w.suite, w.dao.timelock.address
    node, client = w.net.new_accounts(2)
    for a in (node, client):
        s.token.transfer(a.address, 200 * ONE_VEIL, sender=w.outsider)
    mid = _model(w, w.small, [], CODE, zk=False)
    s.models.set_fhe_commitment(mid, b"\x0a" * 32, b"\x0b" * 32, sender=w.small)
    s.nodes.register("http://node", b"\x02" + b"\x11" * 32, [mid], sender=node)
    s.token.approve(s.nodes.address, 100 * ONE_VEIL, sender=node)
    s.nodes.stake(100 * ONE_VEIL, sender=node)
    s.token.approve(s.market.address, ONE_VEIL, sender=client)
    before = s.token.balance_of(timelock)
    rcpt = s.market.open_job(
        mid, node.address, b"\x05" * 32, JobMode.FHE, w.net.now() + 100,
        max_price=ONE_VEIL, eval_keys_hash=b"\x06" * 32, sender=client,
    )  # fmt: skip
    jid = s.market.opened_job_id(rcpt)
    s.market.start_job(jid, sender=node)
    w.net.time_travel(200)
    s.market.refund(jid, sender=client)  # missed deadline: the node is slashed
    assert s.token.balance_of(timelock) > before
