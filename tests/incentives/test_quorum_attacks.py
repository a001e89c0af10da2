"""Attacks on FheQuorum (issue #12 item 4), each run as the attacker would, against the real contracts.

A minority of validator stake must never dispute (refund + slash) an honest node's FHE result, and a
false attestation must cost its author, not the node it accused.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.errors import ContractReverted
from veilproof.incentives.onchain import Subnet

from .conftest import PARAMS, VSTAKE, reverts, submitted_fhe_job

SUBMITTED, SETTLED = 2, 3
POSTED = keccak(b"honest output ciphertext")
FALSE = keccak(b"a hash the attacker claims it recomputed")


def _honest_fhe_job(s: Subnet) -> tuple[int, LocalAccount, LocalAccount]:
    """An honest node's FHE job, submitted and inside its challenge window."""
    return submitted_fhe_job(s, POSTED)


def _status(s: Subnet, job_id: int) -> int:
    return int(s.net.call(s.market.contract.functions.job(job_id))[7])


def test_minority_cannot_dispute_by_unbonding_after_attesting(net: Network) -> None:
    """40% of stake attests a false hash, unbonds, and a minimum-stake newcomer completes the 'quorum'.

    Before the fix: the attesters' stake counted as of their attestation but the total was read live, so
    after the unbond 4k + 1k of a 7k live total passed 2/3 and the honest node was slashed."""
    s = Subnet.create(net, 2, [2 * VSTAKE, 2 * VSTAKE, 2 * VSTAKE, 4 * VSTAKE], PARAMS)
    attacker = s.validators[3]  # 4k of 10k = 40%
    job_id, client, node = _honest_fhe_job(s)
    node_stake = s.nodes.read_node(node.address).stake
    q = s.quorum.contract.functions

    s.tx(q.attest_mismatch(job_id, FALSE), attacker)
    try:  # the attacker's move; the fix refuses it ("stake locked")
        s.tx(s.rewards.contract.functions.request_unbond(4 * VSTAKE), attacker)
    except ContractReverted as e:
        assert e.reason == "stake locked"
    sybil = s.add_validator(VSTAKE)  # minimum stake
    s.tx(q.attest_mismatch(job_id, FALSE), sybil)

    assert _status(s, job_id) == SUBMITTED  # not disputed
    assert s.nodes.read_node(node.address).stake == node_stake  # the honest node lost nothing
    # the window closes without a quorum: the node is paid as usual
    s.net.time_travel(int(s.net.call(s.market.contract.functions.challenge_window())) + 1)
    s.tx(s.market.contract.functions.finalize(job_id), client)
    assert _status(s, job_id) == SETTLED


def test_total_is_snapshotted_per_dispute(net: Network) -> None:
    """Honest validators leaving after the first attestation does not shrink the quorum's denominator."""
    s = Subnet.create(net, 2, [3 * VSTAKE, 3 * VSTAKE, 4 * VSTAKE], PARAMS)
    honest_a, honest_b, attacker = s.validators
    job_id, _, _ = _honest_fhe_job(s)
    q = s.quorum.contract.functions
    s.tx(q.attest_mismatch(job_id, FALSE), attacker)  # 4k of 10k
    s.tx(s.rewards.contract.functions.request_unbond(3 * VSTAKE), honest_a)  # live total: 7k
    sybil = s.add_validator(VSTAKE)
    s.tx(q.attest_mismatch(job_id, FALSE), sybil)  # 5k of a live 8k would be 62.5%; of 10k it is 50%
    assert _status(s, job_id) == SUBMITTED
    assert int(s.net.call(q.total_at(job_id))) == 10 * VSTAKE


def test_attesters_are_locked_until_the_window_closes(net: Network) -> None:
    s = Subnet.create(net, 2, [2 * VSTAKE, 2 * VSTAKE], PARAMS)
    v = s.validators[0]
    job_id, _, _ = _honest_fhe_job(s)
    s.tx(s.quorum.contract.functions.attest_mismatch(job_id, FALSE), v)
    with reverts("stake locked"):
        s.tx(s.rewards.contract.functions.request_unbond(VSTAKE), v)
    s.net.time_travel(int(s.net.call(s.market.contract.functions.challenge_window())) + 1)
    s.tx(s.rewards.contract.functions.request_unbond(VSTAKE), v)  # free again once the window closed
    # a validator that never attested was never locked
    s.tx(s.rewards.contract.functions.request_unbond(VSTAKE), s.validators[1])


def test_a_refuted_attestation_costs_its_author_and_pays_the_accused_node(net: Network) -> None:
    """No quorum by the window's close = the other validators' stake refuted the claim: each attester
    of that job loses ``false_attest_bps`` of the stake it attested with, paid to the accused node."""
    s = Subnet.create(net, 2, [2 * VSTAKE, 2 * VSTAKE, 2 * VSTAKE, 4 * VSTAKE], PARAMS)
    attacker = s.validators[3]
    job_id, client, node = _honest_fhe_job(s)
    q = s.quorum.contract.functions
    s.tx(q.attest_mismatch(job_id, FALSE), attacker)
    with reverts("window open"):
        s.tx(q.settle_refuted(job_id, attacker.address), client)
    s.net.time_travel(int(s.net.call(s.market.contract.functions.challenge_window())) + 1)
    node_tokens = int(s.net.call(s.token.contract.functions.balanceOf(node.address)))
    bps = int(s.net.call(q.false_attest_bps()))
    assert bps > 0
    held = int(s.net.call(s.token.contract.functions.balanceOf(s.rewards.address)))
    bonded = int(s.net.call(s.rewards.contract.functions.total_bonded()))
    s.tx(q.settle_refuted(job_id, attacker.address), client)  # anyone may settle it
    penalty = 4 * VSTAKE * bps // 10_000
    # Rewards' invariant (balance == total_bonded + pending) holds: both fell by the penalty
    assert int(s.net.call(s.token.contract.functions.balanceOf(s.rewards.address))) == held - penalty
    assert int(s.net.call(s.rewards.contract.functions.total_bonded())) == bonded - penalty
    assert s.stake_of(attacker.address) == 4 * VSTAKE - 4 * VSTAKE * bps // 10_000
    assert int(s.net.call(s.token.contract.functions.balanceOf(node.address))) - node_tokens == (
        4 * VSTAKE * bps // 10_000
    )
    assert int(s.net.call(q.refuted_count(attacker.address))) == 1
    with reverts("already settled"):
        s.tx(q.settle_refuted(job_id, attacker.address), client)
    with reverts("did not attest"):
        s.tx(q.settle_refuted(job_id, s.validators[0].address), client)
