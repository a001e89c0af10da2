"""Rewards.vy: commit–reveal windows and penalties, emissions accounting, access control."""

from __future__ import annotations

from veilproof.incentives.onchain import Subnet
from veilproof.incentives.yuma import commit_hash

from .conftest import ONE, VSTAKE, reverts

SALT = b"\x11" * 32
W = [100, 200, 300, 400, 500]


def _commit(s: Subnet, i: int, epoch: int, weights: list[int] = W, salt: bytes = SALT) -> None:
    v = s.validators[i]
    s.tx(s.rewards.contract.functions.commit_weights(commit_hash(v.address, epoch, weights, salt)), v)


def _reveal(s: Subnet, i: int, weights: list[int] = W, salt: bytes = SALT) -> None:
    s.tx(s.rewards.contract.functions.reveal_weights(weights, salt), s.validators[i])


def test_happy_commit_reveal_finalize(subnet: Subnet) -> None:
    s = subnet
    e = s.goto_commit_window()
    for i in range(4):
        _commit(s, i, e)
    s.goto_reveal_window(e)
    for i in range(4):
        _reveal(s, i)
    assert s.net.call(s.rewards.contract.functions.weights_of(e, s.validators[0].address))[:5] == W
    s.goto_epoch_end(e)
    rcpt = s.tx(s.rewards.contract.functions.finalize_epoch(), s.owner)
    fin = s.rewards.finalized_epoch(rcpt)
    assert fin.revealed == 4 and fin.epoch == e
    # identical weights: consensus = everyone's weights, emission ∝ weights
    em = [int(s.net.call(s.rewards.contract.functions.pending(n.address))) for n in s.node_accts]
    assert em[4] > em[0] > 0 and abs(em[4] - 5 * em[0]) <= em[0] // 10**12  # floor rounding only
    assert bool(s.net.call(s.rewards.contract.functions.finalized(e)))
    with reverts("nothing to finalize"):
        s.tx(s.rewards.contract.functions.finalize_epoch(), s.owner)


def test_windows_are_enforced(subnet: Subnet) -> None:
    s = subnet
    e = s.goto_commit_window()
    with reverts("not reveal window"):
        _reveal(s, 0)
    _commit(s, 0, e)
    with reverts("epoch not over"):
        s.tx(s.rewards.contract.functions.finalize_epoch(), s.owner)
    s.goto_reveal_window(e)
    with reverts("not commit window"):  # late commit
        _commit(s, 1, e)
    with reverts("no commit"):
        _reveal(s, 1)
    s.goto_epoch_end(e)
    with reverts("not reveal window"):  # late reveal: the next epoch's commit window
        _reveal(s, 0)
    s.goto_reveal_window(e + 1)
    with reverts("no commit"):  # and no carry-over into the next epoch's reveal window
        _reveal(s, 0)


def test_mismatched_and_unrevealed_are_penalised(subnet: Subnet) -> None:
    s = subnet
    treasury = s.owner.address
    t0 = int(s.net.call(s.token.contract.functions.balanceOf(treasury)))
    e = s.goto_commit_window()
    for i in range(4):
        _commit(s, i, e)
    s.goto_reveal_window(e)
    _reveal(s, 0)
    _reveal(s, 1)
    with reverts("commit mismatch"):  # different weights than committed
        _reveal(s, 2, weights=[1, 2, 3, 4, 5])
    with reverts("commit mismatch"):  # right weights, wrong salt
        _reveal(s, 2, salt=b"\x22" * 32)
    with reverts("already revealed"):
        _reveal(s, 0)
    # validator 3 simply never reveals
    s.goto_epoch_end(e)
    rcpt = s.tx(s.rewards.contract.functions.finalize_epoch(), s.owner)
    missed = s.rewards.finalized_epoch(rcpt).missed
    v2, v3 = s.validators[2].address, s.validators[3].address
    assert missed == {v2: 4 * VSTAKE // 100, v3: 5 * VSTAKE // 100}  # 1% of committed stake
    assert s.stake_of(v2) == 4 * VSTAKE * 99 // 100
    assert s.bond(v2) == 0 and s.bond(v3) == 0
    assert int(s.net.call(s.rewards.contract.functions.pending(v2))) == 0  # no dividend share
    assert int(s.net.call(s.rewards.contract.functions.pending(s.validators[0].address))) > 0
    assert int(s.net.call(s.token.contract.functions.balanceOf(treasury))) - t0 == sum(missed.values())


def test_copied_commitment_cannot_be_revealed(subnet: Subnet) -> None:
    """The commitment binds validator and epoch: a copier re-submitting it cannot open it."""
    s = subnet
    e = s.goto_commit_window()
    h = commit_hash(s.validators[0].address, e, W, SALT)
    s.tx(s.rewards.contract.functions.commit_weights(h), s.validators[0])
    s.tx(s.rewards.contract.functions.commit_weights(h), s.validators[1])  # copier
    s.goto_reveal_window(e)
    _reveal(s, 0)
    with reverts("commit mismatch"):
        _reveal(s, 1)


def test_emissions_accounting(subnet: Subnet) -> None:
    """minted == claimed + pending, supply grows by exactly what was minted, and the contract
    holds bonded stake plus everything owed."""
    s = subnet
    f = s.rewards.contract.functions
    supply0 = int(s.net.call(s.token.contract.functions.totalSupply()))
    vals = [v.address for v in s.validators]
    for k in range(3):
        ce = s.run_epoch(
            {v: [(k + 1) * (i + 1) * 1000 % 65536 for i in range(5)] for v in vals}, set(vals[:3])
        )
        assert ce.agrees()
    accounts = [n.address for n in s.node_accts] + vals + [s.owner.address]
    minted = int(s.net.call(f.total_minted()))
    assert minted > 0
    assert int(s.net.call(s.token.contract.functions.totalSupply())) - supply0 == minted
    # claim half of them
    claimers = [a for a in s.node_accts[:3] + s.validators[:2]]
    for a in claimers:
        s.tx(f.claim(), a)
    with reverts("nothing to claim"):
        s.tx(f.claim(), claimers[0])
    pending = sum(int(s.net.call(f.pending(a))) for a in accounts)
    claimed = int(s.net.call(f.total_claimed()))
    assert minted == claimed + pending
    held = int(s.net.call(s.token.contract.functions.balanceOf(s.rewards.address)))
    assert held == int(s.net.call(f.total_bonded())) + pending


def test_validator_staking_lifecycle(subnet: Subnet) -> None:
    s = subnet
    f = s.rewards.contract.functions
    v = s.validators[0]
    assert int(s.net.call(f.total_active_stake())) == 14 * VSTAKE
    assert int(s.net.call(f.validator_stake(v.address))) == 2 * VSTAKE
    s.tx(f.request_unbond(2 * VSTAKE), v)
    assert int(s.net.call(f.validator_stake(v.address))) == 0  # below min: no votes
    with reverts("still unbonding"):
        s.tx(f.withdraw_unbonded(), v)
    s.net.time_travel(7 * 86400 + 1)
    before = int(s.net.call(s.token.contract.functions.balanceOf(v.address)))
    s.tx(f.withdraw_unbonded(), v)
    assert int(s.net.call(s.token.contract.functions.balanceOf(v.address))) - before == 2 * VSTAKE
    assert v.address not in s.net.call(f.validators())
    with reverts("not validator"):
        s.tx(f.commit_weights(b"\x01" * 32), v)


def test_access_control_and_input_checks(subnet: Subnet) -> None:
    s = subnet
    f = s.rewards.contract.functions
    stranger = s.node_accts[0]
    for fn in (
        f.set_emission(1),
        f.set_split(5000, 5000),
        f.set_kappa(6000),
        f.set_alpha(500),
        f.set_miss_penalty(10),
        f.set_subnet_owner(stranger.address),
        f.set_treasury(stranger.address),
        f.transfer_ownership(stranger.address),
    ):
        with reverts("not owner"):
            s.tx(fn, stranger)
    with reverts("split over 100%"):
        s.tx(f.set_split(6000, 5000), s.owner)
    with reverts("bad kappa"):
        s.tx(f.set_kappa(4999), s.owner)
    with reverts("bad alpha"):
        s.tx(f.set_alpha(0), s.owner)
    with reverts("penalty too high"):
        s.tx(f.set_miss_penalty(1001), s.owner)
    with reverts("already registered"):
        s.tx(f.register_validator(VSTAKE), s.validators[0])
    s.mint(stranger.address, VSTAKE)
    s.tx(s.token.contract.functions.approve(s.rewards.address, 2**256 - 1), stranger)
    with reverts("stake below minimum"):
        s.tx(f.register_validator(VSTAKE - 1), stranger)
    with reverts("not validator"):
        s.tx(f.commit_weights(b"\x01" * 32), stranger)
    with reverts("empty commit"):
        s.tx(f.commit_weights(b"\x00" * 32), s.validators[0])
    with reverts("not minter"):  # only Rewards mints now (owner bootstrap aside)
        s.tx(s.token.contract.functions.mint(stranger.address, ONE), stranger)
    assert s.net.call(s.token.contract.functions.minter()) == s.rewards.address
