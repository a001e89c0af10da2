# pragma version ~=0.4.3
"""
@title FHE re-execution quorum
@notice The JobMarket's arbiter for FHE jobs. FHE evaluation of a circuit without programmable
        bootstrapping is deterministic given (circuit, evaluation keys, input ciphertext), so any
        validator holding them can re-execute a submitted job. A validator whose recomputed output
        ciphertext hash differs from the one the node posted attests that hash here. When validators
        holding `quorum_bps` of the validator stake *as of the job's first attestation* attest the
        same recomputed hash within the job's challenge window, this contract calls
        `JobMarket.dispute_fhe`: the client is refunded and the node slashed. The challenger share of
        the slash comes here; each attester of the winning hash `collect`s its pro-rata share (pull,
        so a dispute has no bound on its number of attesters) and `claim`s it.
@dev Against a minority forcing a dispute (issue #12 item 4):
     * the quorum's denominator is snapshotted at the job's first attestation (`total_at`), so
       stake leaving afterwards does not shrink it;
     * every attester's stake is locked in Rewards (no unbond, no withdraw) until the job's window
       closes, so stake counted in `support` is still bonded when the dispute lands;
     * an attestation that the quorum refutes -- the window closed and the job was not disputed -- is
       settled by anyone with `settle_refuted`: its author loses `false_attest_bps` of the stake it
       attested with, paid to the accused node, and `refuted_count` (read by validator scoring)
       grows. An honest majority that re-executes the job cannot be made to pay: it either reaches
       the quorum or never attested. A minority loses stake to the node it accused, and it cannot
       harm that node: before quorum an attestation changes nothing for the job.
     Trust assumption: validators with `quorum_bps` of stake re-execute honestly.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable
from lib import jobs

initializes: ownable

# owner() and OwnershipTransferred(previous_owner, new_owner) come from snekmate's ownable (same
# event signature and topic as before); `transfer_ownership` below wraps it to keep this
# contract's reasons ("not owner", "zero address"). ownable's `renounce_ownership` is not exported.
exports: ownable.owner

BPS: constant(uint256) = 10000

interface Market:
    def job(job_id: uint256) -> jobs.Job: view
    def challenge_window() -> uint256: view
    def dispute_fhe(job_id: uint256): nonpayable

interface Validators:
    def validator_stake(addr: address) -> uint256: view
    def total_active_stake() -> uint256: view
    def lock(validator: address, until: uint256): nonpayable
    def penalize(validator: address, amount: uint256, receiver: address) -> uint256: nonpayable

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

event RewardCollected:
    job_id: indexed(uint256)
    validator: indexed(address)
    amount: uint256

event AttestationRefuted:
    job_id: indexed(uint256)
    validator: indexed(address)
    node: indexed(address)
    penalty: uint256

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
false_attest_bps: public(uint256)

attested: public(HashMap[uint256, HashMap[address, bool]])
attested_hash: public(HashMap[uint256, HashMap[address, bytes32]])
attested_stake: public(HashMap[uint256, HashMap[address, uint256]])
support: public(HashMap[uint256, HashMap[bytes32, uint256]])
total_at: public(HashMap[uint256, uint256])  # validator stake at the job's first attestation
accused: public(HashMap[uint256, address])  # the job's node, recorded at the first attestation
disputed: public(HashMap[uint256, bool])
dispute_hash: public(HashMap[uint256, bytes32])
dispute_reward: public(HashMap[uint256, uint256])
settled: public(HashMap[uint256, HashMap[address, bool]])  # reward collected or refutation settled
refuted_count: public(HashMap[address, uint256])
pending: public(HashMap[address, uint256])


@deploy
def __init__(_token: IERC20, _market: Market, _validators: Validators, _quorum_bps: uint256):
    """
    @param _token The VEIL token (slash rewards arrive in it).
    @param _market The JobMarket; its owner must `set_arbiter` this contract.
    @param _validators The Rewards contract (validator stakes); its owner must `set_locker` this contract.
    @param _quorum_bps Share of validator stake needed, in (5000, 10000].
    """
    assert _quorum_bps > 5000 and _quorum_bps <= BPS, "bad quorum"
    token = _token
    market = _market
    validators = _validators
    ownable.__init__()
    self.quorum_bps = _quorum_bps
    self.false_attest_bps = 100


@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@external
def attest_mismatch(job_id: uint256, recomputed_hash: bytes32) -> bool:
    """
    @notice Attest that re-executing FHE job `job_id` gave `recomputed_hash`, which differs
            from the node's posted output ciphertext hash. Disputes the job at quorum.
            Locks the caller's validator stake until the job's challenge window closes; if the
            window closes without a quorum the attestation is refuted (see `settle_refuted`).
    @param job_id A submitted FHE job inside its challenge window.
    @param recomputed_hash Hash of the output ciphertext the caller recomputed.
    @return True if this attestation reached the quorum and the job was disputed.
    """
    stake: uint256 = staticcall validators.validator_stake(msg.sender)
    assert stake > 0, "not validator"
    assert not self.disputed[job_id], "already disputed"
    assert not self.attested[job_id][msg.sender], "already attested"
    job: jobs.Job = staticcall market.job(job_id)
    assert job.mode == jobs.MODE_FHE, "not fhe job"
    assert job.status == jobs.SUBMITTED, "not submitted"
    window_end: uint256 = job.submitted_at + staticcall market.challenge_window()
    assert block.timestamp < window_end, "window closed"
    assert recomputed_hash != empty(bytes32), "empty hash"
    assert recomputed_hash != job.output_ct_hash, "hash matches"
    total: uint256 = self.total_at[job_id]
    if total == 0:  # first attestation: fix the denominator and who is accused
        total = staticcall validators.total_active_stake()
        self.total_at[job_id] = total
        self.accused[job_id] = job.node
    self.attested[job_id][msg.sender] = True
    self.attested_hash[job_id][msg.sender] = recomputed_hash
    self.attested_stake[job_id][msg.sender] = stake
    backing: uint256 = self.support[job_id][recomputed_hash] + stake
    self.support[job_id][recomputed_hash] = backing
    log Attested(job_id=job_id, validator=msg.sender, recomputed_hash=recomputed_hash, stake=stake, support=backing)
    extcall validators.lock(msg.sender, window_end)
    if backing * BPS < self.quorum_bps * total:
        return False
    self.disputed[job_id] = True
    self.dispute_hash[job_id] = recomputed_hash
    before: uint256 = staticcall token.balanceOf(self)
    extcall market.dispute_fhe(job_id)
    reward: uint256 = staticcall token.balanceOf(self) - before
    self.dispute_reward[job_id] = reward
    log Disputed(job_id=job_id, recomputed_hash=recomputed_hash, support=backing, total_stake=total, reward=reward)
    return True


@external
def collect(job_id: uint256, attester: address) -> uint256:
    """
    @notice Credit an attester of a disputed job's winning hash its share of the slash reward,
            pro rata to the stake it attested with (rounded down; the dust stays here). Anyone may call.
    @param job_id A disputed job.
    @param attester A validator that attested the hash the dispute was decided on.
    @return The amount credited to `pending[attester]`.
    """
    assert self.disputed[job_id], "not disputed"
    h: bytes32 = self.dispute_hash[job_id]
    assert self.attested_hash[job_id][attester] == h, "not a winning attester"
    assert not self.settled[job_id][attester], "already settled"
    self.settled[job_id][attester] = True
    share: uint256 = self.dispute_reward[job_id] * self.attested_stake[job_id][attester] // self.support[job_id][h]
    self.pending[attester] += share
    log RewardCollected(job_id=job_id, validator=attester, amount=share)
    return share


@external
def settle_refuted(job_id: uint256, attester: address) -> uint256:
    """
    @notice After a job's window closed without a dispute, charge one of its attesters for its
            refuted claim: `false_attest_bps` of the stake it attested with goes from its Rewards
            stake to the accused node. Anyone may call (the accused node has the reason to).
    @param job_id A job that was attested and not disputed.
    @param attester A validator that attested it.
    @return The amount taken.
    """
    assert self.attested[job_id][attester], "did not attest"
    assert not self.disputed[job_id], "disputed"
    assert not self.settled[job_id][attester], "already settled"
    job: jobs.Job = staticcall market.job(job_id)
    assert block.timestamp >= job.submitted_at + staticcall market.challenge_window(), "window open"
    self.settled[job_id][attester] = True
    self.refuted_count[attester] += 1
    node: address = self.accused[job_id]
    penalty: uint256 = extcall validators.penalize(
        attester, self.attested_stake[job_id][attester] * self.false_attest_bps // BPS, node
    )
    log AttestationRefuted(job_id=job_id, validator=attester, node=node, penalty=penalty)
    return penalty


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
    @notice Set the share of validator stake needed to dispute.
    @param bps Basis points in (5000, 10000].
    """
    self._only_owner()
    assert bps > 5000 and bps <= BPS, "bad quorum"
    self.quorum_bps = bps
    log ParamSet(param="quorum_bps", value=bps)


@external
def set_false_attest_penalty(bps: uint256):
    """
    @notice Set the share of attested stake a refuted attestation costs (paid to the accused node).
    @param bps Basis points, at most 1000 (10%).
    """
    self._only_owner()
    assert bps <= 1000, "penalty too high"
    self.false_attest_bps = bps
    log ParamSet(param="false_attest_bps", value=bps)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)
