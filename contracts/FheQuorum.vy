# pragma version ~=0.4.3
"""
@title FHE re-execution quorum
@notice The JobMarket's arbiter for FHE jobs. FHE evaluation is deterministic given
        (circuit, evaluation keys, input ciphertext), so any validator holding them can
        re-execute a submitted job. A validator whose recomputed output ciphertext hash
        differs from the one the node posted attests that hash here. When validators
        holding `quorum_bps` of the active validator stake attest the *same* recomputed
        hash within the job's challenge window, this contract calls
        `JobMarket.dispute_fhe`: the client is refunded and the node slashed. The
        challenger share of the slash comes here and is split among those attesters
        pro rata to stake, paid by `claim`.
@dev Checked on chain: the job is an FHE job awaiting settlement, inside its window,
     the attested hash differs from the posted one, attesters are staked validators of
     the Rewards contract, and their stake reaches the quorum on one hash. Trust
     assumption: validators with `quorum_bps` of stake re-execute honestly.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable
from lib import jobs

initializes: ownable

# owner() and OwnershipTransferred(previous_owner, new_owner) come from snekmate's ownable (same
# event signature and topic as before); `transfer_ownership` below wraps it to keep this
# contract's reasons ("not owner", "zero address"). ownable's `renounce_ownership` is not exported.
exports: ownable.owner

MAX_ATTESTERS: constant(uint256) = 16
BPS: constant(uint256) = 10000
MODE_FHE: constant(uint8) = 2
SUBMITTED: constant(uint8) = 2

interface Market:
    def job(job_id: uint256) -> jobs.Job: view
    def challenge_window() -> uint256: view
    def dispute_fhe(job_id: uint256): nonpayable

interface Validators:
    def validator_stake(addr: address) -> uint256: view
    def total_active_stake() -> uint256: view

event Attested:
    job_id: indexed(uint256)
    validator: indexed(address)
    recomputed_hash: bytes32
    stake: uint256
    support: uint256

event Disputed:
    job_id: indexed(uint256)
    recomputed_hash: bytes32
    support: uint256
    total_stake: uint256
    reward: uint256

event Claimed:
    account: indexed(address)
    amount: uint256

event ParamSet:
    param: String[32]
    value: uint256

token: public(immutable(IERC20))
market: public(immutable(Market))
validators: public(immutable(Validators))

quorum_bps: public(uint256)

attested: public(HashMap[uint256, HashMap[address, bool]])
support: public(HashMap[uint256, HashMap[bytes32, uint256]])
_attesters: HashMap[uint256, HashMap[bytes32, DynArray[address, MAX_ATTESTERS]]]
_attest_stake: HashMap[uint256, HashMap[address, uint256]]
disputed: public(HashMap[uint256, bool])
pending: public(HashMap[address, uint256])


@deploy
def __init__(_token: IERC20, _market: Market, _validators: Validators, _quorum_bps: uint256):
    """
    @param _token The VEIL token (slash rewards arrive in it).
    @param _market The JobMarket; its owner must `set_arbiter` this contract.
    @param _validators The Rewards contract (validator stakes).
    @param _quorum_bps Share of active validator stake needed, in (5000, 10000].
    """
    assert _quorum_bps > 5000 and _quorum_bps <= BPS, "bad quorum"
    token = _token
    market = _market
    validators = _validators
    ownable.__init__()
    self.quorum_bps = _quorum_bps


@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@external
def attest_mismatch(job_id: uint256, recomputed_hash: bytes32) -> bool:
    """
    @notice Attest that re-executing FHE job `job_id` gave `recomputed_hash`, which differs
            from the node's posted output ciphertext hash. Disputes the job at quorum.
    @param job_id A submitted FHE job inside its challenge window.
    @param recomputed_hash Hash of the output ciphertext the caller recomputed.
    @return True if this attestation reached the quorum and the job was disputed.
    """
    stake: uint256 = staticcall validators.validator_stake(msg.sender)
    assert stake > 0, "not validator"
    assert not self.disputed[job_id], "already disputed"
    assert not self.attested[job_id][msg.sender], "already attested"
    job: jobs.Job = staticcall market.job(job_id)
    assert job.mode == MODE_FHE, "not fhe job"
    assert job.status == SUBMITTED, "not submitted"
    assert block.timestamp < job.submitted_at + staticcall market.challenge_window(), "window closed"
    assert recomputed_hash != empty(bytes32), "empty hash"
    assert recomputed_hash != job.output_ct_hash, "hash matches"
    self.attested[job_id][msg.sender] = True
    self._attest_stake[job_id][msg.sender] = stake
    self._attesters[job_id][recomputed_hash].append(msg.sender)
    backing: uint256 = self.support[job_id][recomputed_hash] + stake
    self.support[job_id][recomputed_hash] = backing
    log Attested(job_id=job_id, validator=msg.sender, recomputed_hash=recomputed_hash, stake=stake, support=backing)
    total: uint256 = staticcall validators.total_active_stake()
    if backing * BPS < self.quorum_bps * total:
        return False
    self.disputed[job_id] = True
    before: uint256 = staticcall token.balanceOf(self)
    extcall market.dispute_fhe(job_id)
    reward: uint256 = staticcall token.balanceOf(self) - before
    paid: uint256 = 0
    attesters: DynArray[address, MAX_ATTESTERS] = self._attesters[job_id][recomputed_hash]
    for i: uint256 in range(MAX_ATTESTERS):
        if i >= len(attesters):
            break
        share: uint256 = reward * self._attest_stake[job_id][attesters[i]] // backing
        if i == len(attesters) - 1:
            share = reward - paid  # rounding dust to the attester who completed the quorum
        self.pending[attesters[i]] += share
        paid += share
    log Disputed(job_id=job_id, recomputed_hash=recomputed_hash, support=backing, total_stake=total, reward=reward)
    return True


@external
def claim():
    """
    @notice Pull the caller's share of slash rewards.
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "nothing to claim"
    self.pending[msg.sender] = 0
    log Claimed(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


@external
def set_quorum(bps: uint256):
    """
    @notice Set the share of active validator stake needed to dispute.
    @param bps Basis points in (5000, 10000].
    """
    self._only_owner()
    assert bps > 5000 and bps <= BPS, "bad quorum"
    self.quorum_bps = bps
    log ParamSet(param="quorum_bps", value=bps)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)


@external
@view
def attesters(job_id: uint256, recomputed_hash: bytes32) -> DynArray[address, MAX_ATTESTERS]:
    """
    @notice Validators who attested `recomputed_hash` for a job.
    @param job_id Job id.
    @param recomputed_hash The attested hash.
    @return Their addresses.
    """
    return self._attesters[job_id][recomputed_hash]
