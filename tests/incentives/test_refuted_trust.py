"""A validator whose attestations the quorum keeps refuting stops trusting its own re-executions
(`FheQuorum.refuted_count`, #12 follow-up), against the real contracts.

The FHE re-execution itself is covered in tests/validator (real ciphertexts, slow); here the verdict
of a re-execution is given, and what the validator does with it is checked on chain.
"""

from __future__ import annotations

from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain.suite import Suite
from veilproof.incentives.onchain import Subnet
from veilproof.validator.disclosure import Reexecutor
from veilproof.validator.references import ReferenceBook

from .conftest import PARAMS, VSTAKE, submitted_fhe_job

SUBMITTED = 2
POSTED = keccak(b"honest output ciphertext")
WRONG = keccak(b"what a broken re-execution computes").hex()


def _reexecutor(s: Subnet, v: LocalAccount, root: Path) -> Reexecutor:
    suite = Suite.attach(s.net, s.deployment)
    return Reexecutor(suite, v, suite.quorum, ReferenceBook(root), max_refuted=3)


def _refuted_attestation(s: Subnet, r: Reexecutor) -> None:
    """One honest job the validator wrongly attests through its own judge; refuted at the window's close."""
    job_id, client, node = submitted_fhe_job(s, POSTED)
    verdict = r.judge(job_id, node.address, SUBMITTED, False, WRONG)
    assert verdict.attested and verdict.trusted
    s.net.time_travel(s.market.challenge_window() + 1)
    s.quorum.settle_refuted(job_id, r.account.address, sender=node)


def test_a_validator_refuted_again_and_again_stops_attesting_and_scoring(net, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Before: a validator with a broken re-execution attested every honest job it sampled, paid 1% of
    its stake each time and zeroed each honest node's score. Now, after 3 refutations (and more than
    half of its attestations refuted), its mismatches are neither attested nor scored."""
    s = Subnet.create(net, 1, [3 * VSTAKE, 3 * VSTAKE, 3 * VSTAKE // 2], PARAMS)
    broken = _reexecutor(s, s.validators[2], tmp_path / "broken")
    for _ in range(3):
        assert broken.trusts_own_reexecution()
        _refuted_attestation(s, broken)
    assert s.quorum.refuted_count(broken.account.address) == 3
    assert not broken.trusts_own_reexecution()
    stake = s.rewards.read_validator(broken.account.address).stake

    job_id, _, node = submitted_fhe_job(s, POSTED)
    verdict = broken.judge(job_id, node.address, SUBMITTED, False, WRONG)
    assert not verdict.attested and not verdict.trusted
    assert not s.quorum.attested(job_id, broken.account.address)  # no attestation: no new penalty
    assert s.rewards.read_validator(broken.account.address).stake == stake
    # a validator with a clean record still attests a mismatch
    fine = _reexecutor(s, s.validators[0], tmp_path / "fine")
    assert fine.trusts_own_reexecution()
    assert fine.judge(job_id, node.address, SUBMITTED, False, WRONG).attested


def test_an_occasional_refutation_does_not_cost_the_trust(net, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """4 attestations upheld (they reached quorum with the majority: real cheats), then 3 refuted: 3 of
    7 is not most, so the validator still attests — the bar is 'most of what it attests is refuted',
    not 'ever refuted'."""
    s = Subnet.create(net, 1, [3 * VSTAKE, 3 * VSTAKE, 3 * VSTAKE // 2], PARAMS)
    cheater = s.node_accts[0]
    s.mint(cheater.address, 10 * VSTAKE)  # stays active through the four slashes below
    s.nodes.stake(10 * VSTAKE, sender=cheater)
    v = _reexecutor(s, s.validators[2], tmp_path / "v")
    majority = [_reexecutor(s, a, tmp_path / f"m{i}") for i, a in enumerate(s.validators[:2])]
    for _ in range(4):  # real cheats: the node posted a hash the circuit does not compute
        job_id, _, node = submitted_fhe_job(s, keccak(b"a cheater's hash"))
        assert v.judge(job_id, node.address, SUBMITTED, False, WRONG).attested
        for m in majority:
            m.judge(job_id, node.address, SUBMITTED, False, WRONG)
        assert s.quorum.disputed(job_id)
    for _ in range(3):
        _refuted_attestation(s, v)
    assert s.quorum.refuted_count(v.account.address) == 3
    assert v.trusts_own_reexecution()
