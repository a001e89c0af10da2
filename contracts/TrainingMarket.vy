# pragma version ~=0.4.3
"""
@title Training market (federated learning bounties, issue #16)
@notice A sponsor escrows a bounty for a federated training task (model architecture hash, public
        validation-set hash, number of rounds, minimum participants, coordinator share). Participants
        join with a stake; the named coordinator (the Flower ServerApp's operator) stakes to start it.
        After every round the coordinator posts the round number, the aggregated model's hash, the
        participant set, the Merkle root of leaf(participant, update_hash) over the updates it received
        and each participant's contribution score; a participant proves inclusion with
        `verify_inclusion`. After the last round the bounty is split: the coordinator's share, and the
        rest pro rata to the summed scores (a participant with score 0 gets its stake back, nothing more).
@dev Trust (docs/federated.md): the chain does not re-aggregate. Everything posted is re-computable
     off chain from the committed updates and the public validation set (veilproof.fl.commit.check_round);
     a coordinator that stops posting for `round_timeout` loses its stake to the sponsor (`abandon`).
     Invariant: token.balanceOf(self) == sum over live jobs of escrow not yet claimed.
"""

from ethereum.ercs import IERC20

MAX_PARTICIPANTS: constant(uint256) = 32
MAX_PROOF: constant(uint256) = 16  # Merkle depth: 2**16 leaves, far above MAX_PARTICIPANTS
MAX_BPS: constant(uint256) = 10000
MAX_LEVELS: constant(uint256) = 6  # ceil(log2(MAX_PARTICIPANTS)) + 1
DOMAIN_TYPEHASH: constant(bytes32) = keccak256(
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
# what each client signs for its update (veilproof.fl.sign): the job, the round and arrays_hash(update)
UPDATE_TYPEHASH: constant(bytes32) = keccak256("FlUpdate(uint256 jobId,uint256 round,bytes32 updateHash)")

OPEN: constant(uint8) = 1  # taking participants
RUNNING: constant(uint8) = 2  # coordinator staked, rounds being posted
FINISHED: constant(uint8) = 3  # all rounds posted: claims open
CANCELLED: constant(uint8) = 4  # refunds: stakes back, bounty (and a defaulting coordinator's stake) to sponsor

struct Job:
    sponsor: address
    coordinator: address
    arch_hash: bytes32
    val_hash: bytes32
    rounds: uint256
    min_participants: uint256
    coordinator_bps: uint256
    bounty: uint256
    participant_stake: uint256
    coordinator_stake: uint256
    join_deadline: uint256
    round_timeout: uint256
    last_post: uint256  # when the coordinator staked or last posted a round
    rounds_posted: uint256
    participants: uint256
    total_score: uint256
    model_hash: bytes32  # the last posted aggregated model
    state: uint8

event JobOpened:
    job_id: indexed(uint256)
    sponsor: indexed(address)
    coordinator: indexed(address)
    bounty: uint256
    rounds: uint256
    arch_hash: bytes32
    val_hash: bytes32

event Joined:
    job_id: indexed(uint256)
    participant: indexed(address)
    stake: uint256

event CoordinatorStaked:
    job_id: indexed(uint256)
    coordinator: indexed(address)
    stake: uint256

event RoundPosted:
    job_id: indexed(uint256)
    round: indexed(uint256)
    model_hash: bytes32
    updates_root: bytes32
    participants: DynArray[address, MAX_PARTICIPANTS]
    scores: DynArray[uint256, MAX_PARTICIPANTS]

event Claimed:
    job_id: indexed(uint256)
    account: indexed(address)
    amount: uint256

event JobCancelled:
    job_id: indexed(uint256)
    reason: String[32]

token: public(immutable(IERC20))
DOMAIN_SEPARATOR: public(immutable(bytes32))
job_count: public(uint256)
jobs: public(HashMap[uint256, Job])
joined: public(HashMap[uint256, HashMap[address, bool]])
score: public(HashMap[uint256, HashMap[address, uint256]])
claimed: public(HashMap[uint256, HashMap[address, bool]])
round_root: public(HashMap[uint256, HashMap[uint256, bytes32]])
round_model: public(HashMap[uint256, HashMap[uint256, bytes32]])


@deploy
def __init__(token_: address):
    """
    @notice Bind the market to the ERC-20 its bounties and stakes are paid in.
    @param token_ The token (VEIL).
    """
    assert token_ != empty(address), "token is zero"
    token = IERC20(token_)
    DOMAIN_SEPARATOR = keccak256(
        abi_encode(
            DOMAIN_TYPEHASH, keccak256("veilproof TrainingMarket"), keccak256("1"), chain.id, self
        )
    )


@external
def open_job(
    coordinator: address,
    arch_hash: bytes32,
    val_hash: bytes32,
    rounds: uint256,
    min_participants: uint256,
    coordinator_bps: uint256,
    bounty: uint256,
    participant_stake: uint256,
    coordinator_stake: uint256,
    join_window: uint256,
    round_timeout: uint256,
) -> uint256:
    """
    @notice Escrow `bounty` (approved beforehand) for a training task and open it to participants.
    @param coordinator Who runs the rounds (must stake `coordinator_stake` to start).
    @param arch_hash keccak256 of the model architecture description.
    @param val_hash keccak256 of the public validation set contributions are measured on.
    @param rounds How many rounds the coordinator posts.
    @param min_participants Fewest joined participants to start, and fewest in a posted round.
    @param coordinator_bps The coordinator's share of the bounty, in basis points.
    @param bounty What the sponsor pays in total.
    @param participant_stake What each participant locks to join (returned at the end).
    @param coordinator_stake What the coordinator locks (lost to the sponsor if it stops posting).
    @param join_window Seconds from now during which participants may join.
    @param round_timeout Seconds the coordinator may take per round before anyone can abandon the job.
    @return The job id.
    """
    assert coordinator != empty(address), "coordinator is zero"
    assert rounds > 0, "rounds must be > 0"
    assert min_participants > 0 and min_participants <= MAX_PARTICIPANTS, "min_participants out of range"
    assert coordinator_bps <= MAX_BPS, "coordinator_bps above 10000"
    assert bounty > 0, "bounty must be > 0"
    assert join_window > 0 and round_timeout > 0, "windows must be > 0"
    job_id: uint256 = self.job_count + 1
    self.job_count = job_id
    self.jobs[job_id] = Job(
        sponsor=msg.sender,
        coordinator=coordinator,
        arch_hash=arch_hash,
        val_hash=val_hash,
        rounds=rounds,
        min_participants=min_participants,
        coordinator_bps=coordinator_bps,
        bounty=bounty,
        participant_stake=participant_stake,
        coordinator_stake=coordinator_stake,
        join_deadline=block.timestamp + join_window,
        round_timeout=round_timeout,
        last_post=0,
        rounds_posted=0,
        participants=0,
        total_score=0,
        model_hash=empty(bytes32),
        state=OPEN,
    )
    assert extcall token.transferFrom(msg.sender, self, bounty), "bounty transfer failed"
    log JobOpened(
        job_id=job_id,
        sponsor=msg.sender,
        coordinator=coordinator,
        bounty=bounty,
        rounds=rounds,
        arch_hash=arch_hash,
        val_hash=val_hash,
    )
    return job_id


@external
def join(job_id: uint256):
    """
    @notice Join an open job with its participant stake (approved beforehand).
    @param job_id The job.
    """
    j: Job = self.jobs[job_id]
    assert j.state == OPEN, "job not open"
    assert block.timestamp <= j.join_deadline, "join window closed"
    assert not self.joined[job_id][msg.sender], "already joined"
    assert msg.sender != j.coordinator, "coordinator cannot participate"
    assert j.participants < MAX_PARTICIPANTS, "job is full"
    self.joined[job_id][msg.sender] = True
    self.jobs[job_id].participants = j.participants + 1
    if j.participant_stake > 0:
        assert extcall token.transferFrom(msg.sender, self, j.participant_stake), "stake transfer failed"
    log Joined(job_id=job_id, participant=msg.sender, stake=j.participant_stake)


@external
def start(job_id: uint256):
    """
    @notice The coordinator stakes and starts the rounds; needs `min_participants` joined.
    @param job_id The job.
    """
    j: Job = self.jobs[job_id]
    assert j.state == OPEN, "job not open"
    assert msg.sender == j.coordinator, "only the coordinator"
    assert j.participants >= j.min_participants, "too few participants"
    self.jobs[job_id].state = RUNNING
    self.jobs[job_id].last_post = block.timestamp
    if j.coordinator_stake > 0:
        assert extcall token.transferFrom(msg.sender, self, j.coordinator_stake), "stake transfer failed"
    log CoordinatorStaked(job_id=job_id, coordinator=msg.sender, stake=j.coordinator_stake)


@external
def post_round(
    job_id: uint256,
    round: uint256,
    model_hash: bytes32,
    updates_root: bytes32,
    participants: DynArray[address, MAX_PARTICIPANTS],
    scores: DynArray[uint256, MAX_PARTICIPANTS],
    update_hashes: DynArray[bytes32, MAX_PARTICIPANTS],
    signatures: DynArray[Bytes[65], MAX_PARTICIPANTS],
):
    """
    @notice Commit one round: the aggregated model, the updates received and each sender's score.
            Every update must carry its sender's EIP-712 signature over (job, round, update hash), so
            the coordinator cannot credit anyone with an update that participant did not send.
    @param job_id The job.
    @param round The round number: exactly one more than the rounds posted so far.
    @param model_hash veilproof.fl.commit.arrays_hash of the aggregated model.
    @param updates_root Merkle root over leaf(participant, update_hash), in `participants` order
           (recomputed here from `update_hashes`; must match).
    @param participants Who sent an update this round, in strictly increasing address order.
    @param scores Each participant's contribution score this round (same order).
    @param update_hashes arrays_hash of each participant's update (same order).
    @param signatures Each participant's 65-byte (r, s, v) signature of FlUpdate(job, round, hash).
    """
    j: Job = self.jobs[job_id]
    assert j.state == RUNNING, "job not running"
    assert msg.sender == j.coordinator, "only the coordinator"
    assert round == j.rounds_posted + 1, "wrong round number"
    assert len(participants) == len(scores), "participants and scores differ in length"
    assert len(participants) == len(update_hashes), "participants and update_hashes differ in length"
    assert len(participants) == len(signatures), "participants and signatures differ in length"
    assert len(participants) >= j.min_participants, "too few participants in round"
    assert model_hash != empty(bytes32) and updates_root != empty(bytes32), "empty commitment"
    prev: uint256 = 0
    total: uint256 = j.total_score
    leaves: DynArray[bytes32, MAX_PARTICIPANTS] = []
    for i: uint256 in range(MAX_PARTICIPANTS):
        if i >= len(participants):
            break
        p: address = participants[i]
        assert convert(p, uint256) > prev, "participants not strictly increasing"
        assert self.joined[job_id][p], "participant did not join"
        assert self._signer(job_id, round, update_hashes[i], signatures[i]) == p, "update signature is not the participant's"
        leaves.append(keccak256(keccak256(abi_encode(p, update_hashes[i]))))
        prev = convert(p, uint256)
        self.score[job_id][p] += scores[i]
        total += scores[i]
    assert self._root(leaves) == updates_root, "updates_root is not the root of the signed updates"
    self.round_root[job_id][round] = updates_root
    self.round_model[job_id][round] = model_hash
    self.jobs[job_id].total_score = total
    self.jobs[job_id].rounds_posted = round
    self.jobs[job_id].model_hash = model_hash
    self.jobs[job_id].last_post = block.timestamp
    if round == j.rounds:
        self.jobs[job_id].state = FINISHED
    log RoundPosted(
        job_id=job_id,
        round=round,
        model_hash=model_hash,
        updates_root=updates_root,
        participants=participants,
        scores=scores,
    )


@internal
@pure
def _pair(a: bytes32, b: bytes32) -> bytes32:
    if convert(a, uint256) < convert(b, uint256):
        return keccak256(concat(a, b))
    return keccak256(concat(b, a))


@internal
@view
def _signer(job_id: uint256, round: uint256, update_hash: bytes32, sig: Bytes[65]) -> address:
    """Who signed FlUpdate(job_id, round, update_hash) under this market's EIP-712 domain."""
    assert len(sig) == 65, "update signature is not 65 bytes"
    digest: bytes32 = keccak256(
        concat(
            x"1901",
            DOMAIN_SEPARATOR,
            keccak256(abi_encode(UPDATE_TYPEHASH, job_id, round, update_hash)),
        )
    )
    v: uint256 = convert(slice(sig, 64, 1), uint256)
    return ecrecover(digest, v, extract32(sig, 0), extract32(sig, 32))


@internal
@pure
def _root(leaves: DynArray[bytes32, MAX_PARTICIPANTS]) -> bytes32:
    """veilproof.fl.commit.merkle_root: sorted-pair hashing, an odd node carried up unchanged."""
    level: DynArray[bytes32, MAX_PARTICIPANTS] = leaves
    for _: uint256 in range(MAX_LEVELS):
        n: uint256 = len(level)
        if n <= 1:
            break
        nxt: DynArray[bytes32, MAX_PARTICIPANTS] = []
        for i: uint256 in range(MAX_PARTICIPANTS // 2):
            if 2 * i + 1 >= n:
                break
            nxt.append(self._pair(level[2 * i], level[2 * i + 1]))
        if n % 2 == 1:
            nxt.append(level[n - 1])
        level = nxt
    if len(level) == 0:
        return empty(bytes32)
    return level[0]


@external
@view
def verify_inclusion(
    job_id: uint256, round: uint256, participant: address, update_hash: bytes32, proof: DynArray[bytes32, MAX_PROOF]
) -> bool:
    """
    @notice Whether `participant`'s update `update_hash` is in the round's committed Merkle root.
    @param job_id The job.
    @param round The round.
    @param participant The update's sender.
    @param update_hash veilproof.fl.commit.arrays_hash of the update it sent.
    @param proof Sibling hashes from its leaf to the root (veilproof.fl.commit.merkle_proof).
    @return True when the proof leads to the posted root.
    """
    h: bytes32 = keccak256(keccak256(abi_encode(participant, update_hash)))
    for p: bytes32 in proof:
        h = self._pair(h, p)
    root: bytes32 = self.round_root[job_id][round]
    return root != empty(bytes32) and h == root


@internal
@view
def _share(j: Job, job_id: uint256, account: address) -> uint256:
    """What `account` is owed by a finished or cancelled job (0 when nothing)."""
    amount: uint256 = 0
    if j.state == FINISHED:
        fee: uint256 = j.bounty * j.coordinator_bps // MAX_BPS
        pool: uint256 = j.bounty - fee
        if account == j.coordinator:
            amount += fee + j.coordinator_stake
        if self.joined[job_id][account]:
            amount += j.participant_stake
            if j.total_score > 0:
                amount += pool * self.score[job_id][account] // j.total_score
        if account == j.sponsor and j.total_score == 0:
            amount += pool  # nobody contributed: the participants' pool goes back
    elif j.state == CANCELLED:
        if self.joined[job_id][account]:
            amount += j.participant_stake
        if account == j.sponsor:
            amount += j.bounty
            if j.last_post > 0:
                amount += j.coordinator_stake  # the coordinator had staked and defaulted
    return amount


@external
@view
def contribution(job_id: uint256, account: address) -> (uint256, uint256):
    """
    @notice A finished job's contribution of `account` and the total, the split TrainingRoyalties uses.
    @param job_id The job (must be finished: scores are final).
    @param account A participant (0 for any non-participant).
    @return (account's summed score, all participants' summed score).
    """
    j: Job = self.jobs[job_id]
    assert j.state == FINISHED, "job not finished"
    return self.score[job_id][account], j.total_score


@external
@view
def owed(job_id: uint256, account: address) -> uint256:
    """
    @notice What `account` can claim from job `job_id` now (0 before it finishes or after claiming).
    @param job_id The job.
    @param account Sponsor, coordinator or participant.
    @return The amount in token units.
    """
    if self.claimed[job_id][account]:
        return 0
    return self._share(self.jobs[job_id], job_id, account)


@external
def claim(job_id: uint256) -> uint256:
    """
    @notice Collect what the caller is owed by a finished or cancelled job (stake, share, refund).
    @param job_id The job.
    @return The amount paid.
    """
    j: Job = self.jobs[job_id]
    assert j.state == FINISHED or j.state == CANCELLED, "job not finished"
    assert not self.claimed[job_id][msg.sender], "already claimed"
    amount: uint256 = self._share(j, job_id, msg.sender)
    assert amount > 0, "nothing owed"
    self.claimed[job_id][msg.sender] = True
    assert extcall token.transfer(msg.sender, amount), "payout failed"
    log Claimed(job_id=job_id, account=msg.sender, amount=amount)
    return amount


@external
def cancel(job_id: uint256):
    """
    @notice Cancel a job that cannot run: too few joined by the join deadline (anyone), or the sponsor
            before the coordinator started it. Stakes and bounty become claimable.
    @param job_id The job.
    """
    j: Job = self.jobs[job_id]
    assert j.state == OPEN, "job not open"
    late: bool = block.timestamp > j.join_deadline and j.participants < j.min_participants
    assert late or msg.sender == j.sponsor, "only the sponsor, or anyone once the job failed to fill"
    self.jobs[job_id].state = CANCELLED
    log JobCancelled(job_id=job_id, reason="not started")


@external
def abandon(job_id: uint256):
    """
    @notice Anyone ends a running job whose coordinator missed `round_timeout`: stakes go back, the
            bounty and the coordinator's stake to the sponsor. Scores posted so far are void.
    @param job_id The job.
    """
    j: Job = self.jobs[job_id]
    assert j.state == RUNNING, "job not running"
    assert block.timestamp > j.last_post + j.round_timeout, "coordinator not late"
    self.jobs[job_id].state = CANCELLED
    log JobCancelled(job_id=job_id, reason="coordinator timed out")
