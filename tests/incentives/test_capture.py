"""Capture of the subnet (issue #12 item 7), run as the attacker would against the real contracts.

Before: 16 permissionless validator slots with no eviction, and subnet indices handed out in
registration order to anyone (no stake needed, never freed). 16 minimum-stake validators owned
consensus and the FHE quorum for good; 64 gas-only node registrations pushed every later node out of
emissions forever. Now a higher stake replaces the lowest, for validators and for subnet indices.
"""

from __future__ import annotations

import os

import pytest

from veilproof.chain import Network
from veilproof.errors import ContractReverted
from veilproof.incentives.onchain import NODE_STAKE, Subnet

from .conftest import ONE, PARAMS, VSTAKE, reverts

MAX_VALIDATORS, MAX_NODES = 16, 64


def test_sybil_validators_cannot_lock_out_a_higher_stake(net: Network) -> None:
    s = Subnet.create(net, 2, [VSTAKE] * MAX_VALIDATORS, PARAMS)  # 16 minimum-stake sybils
    sybils = list(s.validators)
    try:
        honest = s.add_validator(2 * VSTAKE)
    except ContractReverted as e:  # before the fix: "validator set full"
        raise AssertionError(f"an honest validator with twice the stake was locked out: {e.reason}") from e
    vals = s.rewards.validators()
    assert honest.address in vals and len(vals) == MAX_VALIDATORS
    (evicted,) = [v for v in sybils if v.address not in vals]
    ev = s.rewards.read_validator(evicted.address)
    assert not ev.registered and ev.stake == 0 and ev.unbonding == VSTAKE  # its stake is kept...
    assert (
        s.net.call(s.rewards.contract.functions.validator_stake(evicted.address)) == 0
    )  # ...but votes no more
    with reverts("still unbonding"):
        s.tx(s.rewards.contract.functions.withdraw_unbonded(), evicted)
    s.net.time_travel(s.params.unbond_delay + 1)
    before = s.token.balance_of(evicted.address)
    s.tx(s.rewards.contract.functions.withdraw_unbonded(), evicted)  # ...and withdrawable
    assert s.token.balance_of(evicted.address) - before == VSTAKE
    # the honest validator's weights now count in consensus
    row = [65_535, 0]
    ce = s.run_epoch({honest.address: row, sybils[-1].address: [0, 65_535]})
    assert ce.agrees() and ce.validator_emission.get(honest.address, 0) > 0


def test_eviction_needs_strictly_more_stake(net: Network) -> None:
    s = Subnet.create(net, 1, [VSTAKE] * MAX_VALIDATORS, PARAMS)
    with reverts("stake too low to replace"):
        s.add_validator(VSTAKE)
    s.mint(s.validators[0].address, 5 * VSTAKE)
    s.tx(s.rewards.contract.functions.add_stake(5 * VSTAKE), s.validators[0])  # raising stake is safe
    s.add_validator(VSTAKE + 1)
    assert s.validators[0].address in s.rewards.validators()


def _sybil_nodes(s: Subnet, n: int) -> list[str]:
    """Gas-only registrations: an endpoint and a key, no stake."""
    out: list[str] = []
    for a in s.net.new_accounts(n):
        s.nodes.register(f"http://{a.address[:10]}.sybil", b"\x02" + os.urandom(32), [s.model_id], sender=a)
        out.append(a.address)
    return out


def test_gas_only_node_registrations_take_no_subnet_index(net: Network) -> None:
    s = Subnet.create(net, 0, [2 * VSTAKE], PARAMS)
    _sybil_nodes(s, MAX_NODES)
    (honest,) = s.add_nodes(1)
    assert s.nodes.subnet_index(honest.address) is not None
    ce = s.run_epoch({s.validators[0].address: [65_535] * s.nodes.subnet_size()})
    assert ce.agrees()
    j = s.nodes.subnet_index(honest.address)
    assert j is not None and ce.node_emission[j] > 0, "the honest staked node earned nothing"


@pytest.mark.slow  # 64 staked nodes: ~30 s
def test_a_higher_stake_takes_the_lowest_subnet_index(net: Network) -> None:
    """64 minimum-stake nodes fill the subnet; a node with more stake takes the index of the lowest,
    and an exited node's index goes first."""
    s = Subnet.create(net, MAX_NODES, [2 * VSTAKE], PARAMS)
    assert s.nodes.subnet_size() == MAX_NODES
    exiting = s.node_accts[7]
    s.nodes.request_unbond(NODE_STAKE, sender=exiting)  # exits: stake 0, lowest of all
    (newcomer,) = s.add_nodes(1, stake=NODE_STAKE)  # same stake as the rest: only the exited slot
    assert s.nodes.subnet_index(newcomer.address) == 7 and s.nodes.subnet_index(exiting.address) is None
    (outbid,) = s.add_nodes(1, stake=NODE_STAKE)  # equal to every holder: no index
    assert s.nodes.subnet_index(outbid.address) is None
    (honest,) = s.add_nodes(1, stake=2 * NODE_STAKE)  # more than the lowest: takes an index
    j = s.nodes.subnet_index(honest.address)
    assert j is not None and s.nodes.subnet_size() == MAX_NODES
    row = [0] * MAX_NODES
    row[j] = 65_535
    ce = s.run_epoch({s.validators[0].address: row})
    assert ce.agrees() and ce.node_emission[j] > 0
    # the one that lost its index can still take jobs, and win an index back with more stake
    assert s.nodes.is_active(outbid.address)
    s.mint(outbid.address, 10 * ONE)
    s.nodes.stake(10 * ONE, sender=outbid)
    assert s.nodes.subnet_index(outbid.address) is not None


def test_a_newcomer_that_evicted_a_committer_commits_from_the_next_epoch(net: Network) -> None:
    """An epoch holds 16 commitments; a seat freed by evicting a validator that already committed is
    used from the next epoch on (a clear revert, not an array overflow)."""
    from veilproof.incentives.yuma import commit_hash

    s = Subnet.create(net, 1, [VSTAKE] * MAX_VALIDATORS, PARAMS)
    e = s.goto_commit_window()
    salt = b"\x01" * 32
    for v in s.validators:
        s.rewards.commit_weights(commit_hash(v.address, e, [1], salt), sender=v)
    newcomer = s.add_validator(2 * VSTAKE)
    with reverts("epoch committers full"):
        s.rewards.commit_weights(commit_hash(newcomer.address, e, [1], salt), sender=newcomer)
    e2 = s.goto_commit_window()
    s.rewards.commit_weights(commit_hash(newcomer.address, e2, [1], salt), sender=newcomer)
    assert s.rewards.commit_of(e2, newcomer.address) != bytes(32)
