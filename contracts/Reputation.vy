# pragma version ~=0.4.3
"""
@title Reputation
@notice Feedback on agents and nodes that only a paying counterparty can give:
        the client of a Settled, paid JobMarket job may rate its node, and the node
        may rate its client, once each per job, never themselves. Every feedback
        carries a validation record copied from the job (ZK proof hash and output
        hash, or for FHE the evaluation-keys and output-ciphertext hashes that make
        re-execution possible), so anyone can see what backs a rating.
        What a rating is worth: the price its rater paid for the job. Per subject, each
        counterparty holds one current opinion (its latest score) weighted by everything it
        paid in jobs it rated with that subject (`weighted`); the distinct counterparties are
        counted. Ratings a ring buys from itself (1-wei price, 100% royalty to its own model)
        weigh 1 wei each. What is left: a ring can recycle real tokens through its own jobs;
        each cycle then costs gas plus the protocol fee (`JobMarket.fee_bps`), nothing more.
        A rating is a hint for ranking offers, not a security guarantee (proofs, audits and
        slashing are).
@dev Subjects are addresses: a node's address, or an agent's wallet (the client of
     the jobs it pays for). Summaries are running sums, so reads are O(1); the
     list of a subject's feedback comes from FeedbackGiven events (subject indexed),
     which keeps a rating at about a dozen storage slots.
"""

MAX_TAGS: constant(uint256) = 4
MAX_SCORE: constant(uint8) = 100
SETTLED: constant(uint8) = 3
MODE_ZK: constant(uint8) = 1

# same layout as JobMarket.Job, so its `job` view decodes into it
struct Job:
    client: address
    node: address
    model_id: uint256
    input_commitment: bytes32
    mode: uint8
    price: uint256
    deadline: uint256
    status: uint8
    output_hash: bytes32
    proof_hash: bytes32
    eval_keys_hash: bytes32
    output_ct_hash: bytes32
    submitted_at: uint256

interface Market:
    def job(job_id: uint256) -> Job: view

struct Validation:
    job_id: uint256
    mode: uint8
    model_id: uint256
    input_commitment: bytes32
    output_hash: bytes32
    proof_hash: bytes32
    price: uint256

# what is stored per job; the rest of a Validation is read live from the market
struct Evidence:
    output_hash: bytes32
    proof_hash: bytes32

struct Feedback:
    job_id: uint256
    rater: address
    subject: address
    score: uint8
    tags: DynArray[bytes32, MAX_TAGS]

struct Summary:
    count: uint256
    total: uint256

# price-weighted: sum over counterparties of (paid x latest score), sum of paid, counterparties
struct Weighted:
    weight: uint256
    weighted_total: uint256
    raters: uint256

event FeedbackGiven:
    feedback_id: indexed(uint256)
    subject: indexed(address)
    rater: indexed(address)
    job_id: uint256
    score: uint8
    tags: DynArray[bytes32, MAX_TAGS]

event ValidationRecorded:
    job_id: indexed(uint256)
    mode: uint8
    model_id: uint256
    input_commitment: bytes32
    output_hash: bytes32
    proof_hash: bytes32
    price: uint256

market: public(immutable(Market))

_feedback: HashMap[uint256, Feedback]
feedback_count: public(uint256)
feedback_id_of: public(HashMap[uint256, HashMap[address, uint256]])  # job id -> rater -> feedback id
_evidence: HashMap[uint256, Evidence]
_summaries: HashMap[address, Summary]
_weighted: HashMap[address, Weighted]
paid_by: public(HashMap[address, HashMap[address, uint256]])  # subject -> rater -> price paid in rated jobs
last_score: public(HashMap[address, HashMap[address, uint8]])  # subject -> rater -> its latest score


@deploy
def __init__(_market: Market):
    """
    @param _market The JobMarket whose settled jobs entitle feedback.
    """
    assert _market.address != empty(address), "zero address"
    market = _market


@external
def give_feedback(job_id: uint256, score: uint8, tags: DynArray[bytes32, MAX_TAGS]) -> uint256:
    """
    @notice Rate the other side of a settled, paid job you took part in.
    @dev The client rates the node; the node rates the client. Once per job per side.
    @param job_id A Settled JobMarket job.
    @param score 0 to 100.
    @param tags Up to 4 short labels (e.g. "fast", "accurate"), bytes32 each.
    @return The feedback id (from 1).
    """
    assert score <= MAX_SCORE, "score over 100"
    job: Job = staticcall market.job(job_id)
    assert job.status == SETTLED, "job not settled"
    assert job.price > 0, "unpaid job"
    assert job.client != job.node, "self rating"
    subject: address = empty(address)
    if msg.sender == job.client:
        subject = job.node
    elif msg.sender == job.node:
        subject = job.client
    else:
        raise "not counterparty"
    assert self.feedback_id_of[job_id][msg.sender] == 0, "already rated"

    if self._evidence[job_id].output_hash == empty(bytes32):
        e: Evidence = Evidence(output_hash=job.output_ct_hash, proof_hash=job.eval_keys_hash)
        if job.mode == MODE_ZK:
            e = Evidence(output_hash=job.output_hash, proof_hash=job.proof_hash)
        self._evidence[job_id] = e
        log ValidationRecorded(
            job_id=job_id, mode=job.mode, model_id=job.model_id, input_commitment=job.input_commitment,
            output_hash=e.output_hash, proof_hash=e.proof_hash, price=job.price,
        )

    feedback_id: uint256 = self.feedback_count + 1
    self.feedback_count = feedback_id
    self._feedback[feedback_id] = Feedback(
        job_id=job_id, rater=msg.sender, subject=subject, score=score, tags=tags
    )
    self.feedback_id_of[job_id][msg.sender] = feedback_id
    self._summaries[subject].count += 1
    self._summaries[subject].total += convert(score, uint256)
    # the rater's opinion of `subject` becomes `score`, weighted by all it paid in rated jobs
    paid: uint256 = self.paid_by[subject][msg.sender]
    w: Weighted = self._weighted[subject]
    if paid == 0:
        w.raters += 1
    w.weighted_total = w.weighted_total - paid * convert(self.last_score[subject][msg.sender], uint256)
    paid += job.price
    w.weight += job.price
    w.weighted_total += paid * convert(score, uint256)
    self._weighted[subject] = w
    self.paid_by[subject][msg.sender] = paid
    self.last_score[subject][msg.sender] = score
    log FeedbackGiven(
        feedback_id=feedback_id, subject=subject, rater=msg.sender, job_id=job_id, score=score, tags=tags
    )
    return feedback_id


@external
@view
def feedback(feedback_id: uint256) -> Feedback:
    """
    @notice One feedback entry.
    @param feedback_id Feedback id.
    @return The Feedback struct.
    """
    assert feedback_id >= 1 and feedback_id <= self.feedback_count, "unknown feedback"
    return self._feedback[feedback_id]


@external
@view
def validation(job_id: uint256) -> Validation:
    """
    @notice What backs the feedback on a job: ZK proof and output hashes, or for FHE the
            evaluation-keys and output-ciphertext hashes (what re-execution needs).
    @dev The hashes are frozen when the first feedback is given; mode, model, input
         and price are read from the market. All zero if nobody rated the job.
    @param job_id Job id.
    @return The Validation struct.
    """
    e: Evidence = self._evidence[job_id]
    if e.output_hash == empty(bytes32):
        return empty(Validation)
    job: Job = staticcall market.job(job_id)
    return Validation(
        job_id=job_id, mode=job.mode, model_id=job.model_id, input_commitment=job.input_commitment,
        output_hash=e.output_hash, proof_hash=e.proof_hash, price=job.price,
    )


@external
@view
def summary(subject: address) -> Summary:
    """
    @notice Count and sum of scores received by `subject`.
    @param subject Node or agent wallet.
    @return The Summary struct.
    """
    return self._summaries[subject]


@external
@view
def weighted(subject: address) -> Weighted:
    """
    @notice Price-weighted ratings of `subject`: each counterparty's latest score weighted by
            the price it paid in the jobs it rated; `weighted_total / weight` is the mean.
    @param subject Node or agent wallet.
    @return The Weighted struct (weight in token units, weighted_total, distinct raters).
    """
    return self._weighted[subject]


@external
@view
def average(subject: address) -> uint256:
    """
    @notice Mean score received, times 100 (two decimals); 0 with no feedback.
    @param subject Node or agent wallet.
    @return Mean score x 100.
    """
    s: Summary = self._summaries[subject]
    if s.count == 0:
        return 0
    return s.total * 100 // s.count
