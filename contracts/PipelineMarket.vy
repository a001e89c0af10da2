# pragma version ~=0.4.3
"""
@title Pipeline market (chained ZK stages, one price, one receipt)
@license Apache-2.0
@notice A pipeline is an ordered list of registered ZK models (e.g. the slices of one model, or
        a feature extractor then a classifier). A client escrows one price for a pipeline job;
        staked nodes serving each stage's model submit that stage's EZKL proof; the job settles
        only when every stage verified under its own model's committed key AND each stage's
        committed input equals the previous stage's committed output. The job then holds one
        record (`receipt`): pipeline, input commitment, final outputs hash, each stage's proof
        hash and node — checkable in one call.
@dev Instances layout per stage (veilproof.models.slicing): every stage has a hashed input, so
     instances[0] = poseidon(stage input). A stage that is not the last has a hashed output:
     instances = [poseidon(input), poseidon(output)]; the last stage's outputs are public:
     instances = [poseidon(input), out_0, out_1, ...]. Link rule: stage 0's instances[0] equals the
     job's input commitment; stage i>0's instances[0] equals stage i-1's instances[1]. The
     intermediate tensors never reach the chain, only their Poseidon hashes.
     A submitted proof that the stage model's verifier rejects (e.g. proven with another model),
     or that verifies but does not link (proven on another input), is rejected and its submitter
     slashed via NodeRegistry (this contract must be authorised there).
     Binding: a node claims a stage (`claim_stage`) BEFORE proving it; only the claimant's
     submission counts, so a proof copied from the mempool is worthless to anyone else. A claim
     lasts `claim_window` seconds; after that (or after the claimant's proof is rejected) another
     node may claim the stage. The claim is one packed slot (node | until << 160).
     A job not complete by its deadline is refunded: each verified stage's node is paid its share
     (price // stages) and the client gets the rest.
     Invariant: token.balanceOf(self) == sum(escrow of open jobs) + sum(pending).
     Admin: `owner` (snekmate ownable, as JobMarket/ReceiptMarket) sets the slash and the claim
     window within bounds even governance cannot cross, and hands the role to the DAO's timelock
     (`veilproof.chain.governor.hand_over`, docs/dao.md).
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

# owner() and the OwnershipTransferred event come from snekmate's ownable; `transfer_ownership`
# below wraps it to keep this contract's reasons and its RoleSet log. ownable's
# `renounce_ownership` is not exported: the market must always have an owner.
exports: ownable.owner

MAX_STAGES: constant(uint256) = 8
MAX_INSTANCES: constant(uint256) = 64
MAX_PROOF: constant(uint256) = 32768

STATUS_NONE: constant(uint8) = 0
STATUS_OPEN: constant(uint8) = 1
STATUS_SETTLED: constant(uint8) = 2
STATUS_REFUNDED: constant(uint8) = 3

ADDRESS_MASK: constant(uint256) = 2**160 - 1
DEFAULT_CLAIM_WINDOW: constant(uint256) = 600
# Bounds even governance cannot pass (docs/dao.md). A claim window under MIN_CLAIM_WINDOW expires
# before a node can prove a stage, so any rival staked node could take over (and void) every honest
# claim; one over MAX_CLAIM_WINDOW (JobMarket's default longest job) lets an idle claimant hold a
# stage, and so the job, until its deadline. MAX_SLASH is JobMarket's and ReceiptMarket's: a slash
# above it would confiscate stake far beyond the 2,000 VEIL production minimum for one fault.
MIN_CLAIM_WINDOW: constant(uint256) = 60
MAX_CLAIM_WINDOW: constant(uint256) = 86400
MAX_SLASH: constant(uint256) = 10_000 * 10**18

struct Pipeline:
    owner: address
    models: DynArray[uint256, MAX_STAGES]

struct Job:
    pipeline_id: uint256
    client: address
    price: uint256
    input_commitment: uint256  # poseidon(input) = stage 0's instances[0]
    deadline: uint256
    status: uint8
    stages_done: uint256
    last_output: uint256  # instances[1] of the latest verified stage (its committed output)
    output_hash: bytes32  # keccak256(abi_encode(final public outputs)) once settled

struct StageResult:
    node: address
    proof_hash: bytes32  # keccak256(proof bytes)
    input_hash: uint256
    output_hash: uint256  # committed output (hashed stage) or keccak of public outputs (last)

struct Receipt:
    pipeline_id: uint256
    client: address
    status: uint8
    input_commitment: uint256
    output_hash: bytes32
    stage_models: DynArray[uint256, MAX_STAGES]
    stage_nodes: DynArray[address, MAX_STAGES]
    stage_proof_hashes: DynArray[bytes32, MAX_STAGES]

interface Nodes:
    def slash(node: address, amount: uint256, challenger: address, reason: String[64]) -> uint256: nonpayable
    def job_terms(addr: address, model_id: uint256) -> (bool, bool, bool, uint256): view

interface Verifier:
    def is_registered(model_id: uint256) -> bool: view
    def verify(model_id: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]) -> bool: view

event PipelineRegistered:
    pipeline_id: indexed(uint256)
    owner: indexed(address)
    stages: uint256

event PipelineJobOpened:
    job_id: indexed(uint256)
    pipeline_id: indexed(uint256)
    client: indexed(address)
    price: uint256
    input_commitment: uint256
    deadline: uint256

event StageVerified:
    job_id: indexed(uint256)
    stage: uint256
    node: indexed(address)
    proof_hash: bytes32
    input_hash: uint256
    output_hash: uint256

event StageClaimed:
    job_id: indexed(uint256)
    stage: uint256
    node: indexed(address)
    until: uint256

event StagePaid:
    job_id: indexed(uint256)
    stage: uint256
    node: indexed(address)
    amount: uint256

event ClaimWindowSet:
    seconds: uint256

event StageRejected:
    job_id: indexed(uint256)
    stage: uint256
    node: indexed(address)
    reason: String[32]

event PipelineSettled:
    job_id: indexed(uint256)
    pipeline_id: indexed(uint256)
    output_hash: bytes32
    outputs: DynArray[uint256, MAX_INSTANCES]

event PipelineRefunded:
    job_id: indexed(uint256)
    client: indexed(address)
    amount: uint256

event Collected:
    account: indexed(address)
    amount: uint256

event SlashAmountSet:
    amount: uint256

event RoleSet:
    role: String[32]
    account: indexed(address)

token: public(immutable(IERC20))
nodes: public(immutable(Nodes))
verifier: public(immutable(Verifier))

slash_amount: public(uint256)
claim_window: public(uint256)
pipeline_count: public(uint256)
job_count: public(uint256)
_pipelines: HashMap[uint256, Pipeline]
jobs: public(HashMap[uint256, Job])
stages: public(HashMap[uint256, HashMap[uint256, StageResult]])
claims: public(HashMap[uint256, HashMap[uint256, uint256]])  # job -> stage -> node | until << 160
pending: public(HashMap[address, uint256])


@deploy
def __init__(_token: IERC20, _nodes: Nodes, _verifier: Verifier):
    """
    @param _token The VEIL token (escrow and payouts).
    @param _nodes The NodeRegistry (stage nodes must be active and serve the stage model; it must
                  authorise this contract to slash).
    @param _verifier The ZkVerifierAdapter every stage proof is verified with (fixed).
    """
    assert _verifier.address != empty(address), "pipeline: zero verifier"
    token = _token
    nodes = _nodes
    verifier = _verifier
    ownable.__init__()
    self.claim_window = DEFAULT_CLAIM_WINDOW


@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "pipeline: not owner"


@external
def set_claim_window(seconds: uint256):
    """
    @notice Set how long a stage claim keeps other nodes out (they may claim it after).
    @param seconds Claim lifetime, 60 s to 1 day: long enough to prove the largest stage, short
                   enough that an idle claimant does not stall a job until its deadline.
    """
    self._only_owner()
    assert seconds >= MIN_CLAIM_WINDOW, "pipeline: claim window too short"
    assert seconds <= MAX_CLAIM_WINDOW, "pipeline: claim window too long"
    self.claim_window = seconds
    log ClaimWindowSet(seconds=seconds)


@external
def set_slash_amount(amount: uint256):
    """
    @notice Set what a node loses for a rejected stage proof (0 disables slashing).
    @param amount VEIL (wei units) taken from the node's stake, at most 10,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_SLASH, "pipeline: slash too high"
    self.slash_amount = amount
    log SlashAmountSet(amount=amount)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role (slash amount, claim window) to `new_owner`, e.g. the DAO's timelock.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "pipeline: zero address"
    ownable._transfer_ownership(new_owner)
    log RoleSet(role="owner", account=new_owner)


@external
def register_pipeline(models: DynArray[uint256, MAX_STAGES]) -> uint256:
    """
    @notice Register an ordered list of ZK models as a pipeline (stage i's output feeds stage i+1).
            Every stage is settled by a ZK proof, so an FHE-only model (no VKA) is refused: the
            chain cannot link a ciphertext to a Poseidon commitment (docs/pipelines.md, FHE stages).
    @param models Model ids, each with a VKA registered on the verifier adapter; at least one.
    @return The new pipeline id (from 1).
    """
    assert len(models) > 0, "pipeline: no stages"
    for m: uint256 in models:
        assert staticcall verifier.is_registered(m), "pipeline: stage model has no ZK key"
    pid: uint256 = self.pipeline_count + 1
    self.pipeline_count = pid
    self._pipelines[pid] = Pipeline(owner=msg.sender, models=models)
    log PipelineRegistered(pipeline_id=pid, owner=msg.sender, stages=len(models))
    return pid


@view
@external
def pipeline_models(pipeline_id: uint256) -> DynArray[uint256, MAX_STAGES]:
    """
    @notice The ordered stage model ids of a pipeline (empty if unknown).
    @param pipeline_id The pipeline id.
    @return Model ids, stage 0 first.
    """
    return self._pipelines[pipeline_id].models


@external
def open_job(pipeline_id: uint256, input_commitment: uint256, price: uint256, deadline: uint256) -> uint256:
    """
    @notice Escrow `price` (approve first) for one run of the pipeline on the input committed to.
    @param pipeline_id The pipeline.
    @param input_commitment Poseidon hash of the (salted) input: stage 0's instances[0].
    @param price Paid once, split evenly among the stage nodes when the job settles.
    @param deadline After it, an unfinished job is refunded (`refund`).
    @return The job id (from 1).
    """
    n: uint256 = len(self._pipelines[pipeline_id].models)
    assert n > 0, "pipeline: unknown pipeline"
    assert deadline > block.timestamp, "pipeline: deadline passed"
    assert price > 0, "pipeline: zero price"
    jid: uint256 = self.job_count + 1
    self.job_count = jid
    self.jobs[jid] = Job(
        pipeline_id=pipeline_id,
        client=msg.sender,
        price=price,
        input_commitment=input_commitment,
        deadline=deadline,
        status=STATUS_OPEN,
        stages_done=0,
        last_output=input_commitment,
        output_hash=empty(bytes32),
    )
    log PipelineJobOpened(
        job_id=jid,
        pipeline_id=pipeline_id,
        client=msg.sender,
        price=price,
        input_commitment=input_commitment,
        deadline=deadline,
    )
    assert extcall token.transferFrom(msg.sender, self, price), "pipeline: transfer failed"
    return jid


@external
def claim_stage(job_id: uint256, stage: uint256) -> uint256:
    """
    @notice Reserve a stage of an open job before proving it, as a staked node serving that
            stage's model: only the claimant may submit the stage's proof, so a proof copied
            from the mempool pays no one else. Any stage not yet verified may be claimed (stages
            prove in parallel; they are submitted in order). A live claim of another node blocks
            the call; an expired one (after `claim_window`) is taken over.
    @param job_id The open job.
    @param stage A stage index not yet verified.
    @return The time until which the claim keeps other nodes out.
    """
    assert self.jobs[job_id].status == STATUS_OPEN, "pipeline: job not open"
    assert block.timestamp <= self.jobs[job_id].deadline, "pipeline: deadline passed"
    assert stage >= self.jobs[job_id].stages_done, "pipeline: stage already verified"
    pid: uint256 = self.jobs[job_id].pipeline_id
    assert stage < len(self._pipelines[pid].models), "pipeline: no such stage"
    held: uint256 = self.claims[job_id][stage]
    assert held == 0 or block.timestamp > held >> 160, "pipeline: stage claimed by a node"
    active: bool = False
    serves: bool = False
    has_offer: bool = False
    offer: uint256 = 0
    active, serves, has_offer, offer = staticcall nodes.job_terms(msg.sender, self._pipelines[pid].models[stage])
    assert active and serves, "pipeline: caller does not serve stage model"
    until: uint256 = block.timestamp + self.claim_window
    self.claims[job_id][stage] = convert(msg.sender, uint256) | (until << 160)
    log StageClaimed(job_id=job_id, stage=stage, node=msg.sender, until=until)
    return until


@internal
def _reject(job_id: uint256, stage: uint256, reason: String[32]):
    log StageRejected(job_id=job_id, stage=stage, node=msg.sender, reason=reason)
    self.claims[job_id][stage] = 0  # free the stage for another node at once
    if self.slash_amount > 0:
        extcall nodes.slash(msg.sender, self.slash_amount, empty(address), reason)


@external
def submit_stage(
    job_id: uint256, stage: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]
) -> bool:
    """
    @notice Submit the proof of the job's next stage, as the node that claimed it
            (`claim_stage`) and still serves that stage's model.
            A proof the stage model's verifier rejects (e.g. proven with another model), or one
            whose committed input is not the previous stage's committed output, is rejected and
            the caller slashed (returns False, no revert, so the slash stands). The last stage's
            verified proof settles the job.
    @param job_id The open job.
    @param stage Must equal the number of stages already verified (stages go in order).
    @param proof Raw EZKL proof bytes.
    @param instances The proof's public instances ([in_hash, out_hash] or [in_hash, outputs...]).
    @return True if the stage was verified and linked.
    """
    job: Job = self.jobs[job_id]
    assert job.status == STATUS_OPEN, "pipeline: job not open"
    assert block.timestamp <= job.deadline, "pipeline: deadline passed"
    assert stage == job.stages_done, "pipeline: not the next stage"
    claimant: address = convert(self.claims[job_id][stage] & ADDRESS_MASK, address)
    assert claimant == msg.sender, "pipeline: caller has not claimed stage"
    models: DynArray[uint256, MAX_STAGES] = self._pipelines[job.pipeline_id].models
    model_id: uint256 = models[stage]
    active: bool = False
    serves: bool = False
    has_offer: bool = False
    offer: uint256 = 0
    active, serves, has_offer, offer = staticcall nodes.job_terms(msg.sender, model_id)
    assert active and serves, "pipeline: caller does not serve stage model"
    last: bool = stage + 1 == len(models)
    assert len(instances) >= 2, "pipeline: too few instances"

    if not staticcall verifier.verify(model_id, proof, instances):
        self._reject(job_id, stage, "proof rejected")
        return False
    if instances[0] != job.last_output:
        self._reject(job_id, stage, "input does not link")
        return False

    out: uint256 = instances[1]
    outputs: DynArray[uint256, MAX_INSTANCES] = []
    if last:
        for i: uint256 in range(1, MAX_INSTANCES):
            if i >= len(instances):
                break
            outputs.append(instances[i])
        out = convert(keccak256(abi_encode(outputs)), uint256)
    ph: bytes32 = keccak256(proof)
    self.claims[job_id][stage] = 0  # done: the stage result records the node
    self.stages[job_id][stage] = StageResult(node=msg.sender, proof_hash=ph, input_hash=instances[0], output_hash=out)
    log StageVerified(job_id=job_id, stage=stage, node=msg.sender, proof_hash=ph, input_hash=instances[0], output_hash=out)
    job.stages_done = stage + 1
    job.last_output = out
    if last:
        job.status = STATUS_SETTLED
        job.output_hash = convert(out, bytes32)
        n: uint256 = len(models)
        share: uint256 = job.price // n
        for s: uint256 in range(MAX_STAGES):
            if s >= n:
                break
            amount: uint256 = share
            if s == n - 1:
                amount = job.price - share * (n - 1)
            self.pending[self.stages[job_id][s].node] += amount
        log PipelineSettled(job_id=job_id, pipeline_id=job.pipeline_id, output_hash=job.output_hash, outputs=outputs)
    self.jobs[job_id] = job
    return True


@external
def refund(job_id: uint256) -> uint256:
    """
    @notice Close a job that did not complete every stage by its deadline: each verified stage's
            node is owed its share (price // stages, as at settlement; `collect`), the client
            gets the rest of the escrow back.
    @param job_id The job; anyone may call.
    @return The amount refunded to the client.
    """
    job: Job = self.jobs[job_id]
    assert job.status == STATUS_OPEN, "pipeline: job not open"
    assert block.timestamp > job.deadline, "pipeline: before deadline"
    self.jobs[job_id].status = STATUS_REFUNDED
    share: uint256 = job.price // len(self._pipelines[job.pipeline_id].models)
    for s: uint256 in range(MAX_STAGES):
        if s >= job.stages_done:
            break
        node: address = self.stages[job_id][s].node
        self.pending[node] += share
        log StagePaid(job_id=job_id, stage=s, node=node, amount=share)
    amount: uint256 = job.price - share * job.stages_done
    log PipelineRefunded(job_id=job_id, client=job.client, amount=amount)
    if amount > 0:
        assert extcall token.transfer(job.client, amount), "pipeline: transfer failed"
    return amount


@external
def collect() -> uint256:
    """
    @notice Withdraw what settled (or refunded, for verified stages) pipeline jobs owe the caller.
    @return The amount sent.
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "pipeline: nothing to collect"
    self.pending[msg.sender] = 0
    log Collected(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "pipeline: transfer failed"
    return amount


@view
@external
def receipt(job_id: uint256) -> Receipt:
    """
    @notice The job's one record: pipeline, client, status (1 open, 2 settled, 3 refunded), input
            commitment, final outputs hash, and per stage its model, node and proof hash.
            A settled receipt means every stage verified and every link held.
    @param job_id The job.
    @return The receipt (stage lists cover the stages verified so far).
    """
    job: Job = self.jobs[job_id]
    models: DynArray[uint256, MAX_STAGES] = self._pipelines[job.pipeline_id].models
    stage_nodes: DynArray[address, MAX_STAGES] = []
    hashes: DynArray[bytes32, MAX_STAGES] = []
    for s: uint256 in range(MAX_STAGES):
        if s >= job.stages_done:
            break
        r: StageResult = self.stages[job_id][s]
        stage_nodes.append(r.node)
        hashes.append(r.proof_hash)
    return Receipt(
        pipeline_id=job.pipeline_id,
        client=job.client,
        status=job.status,
        input_commitment=job.input_commitment,
        output_hash=job.output_hash,
        stage_models=models,
        stage_nodes=stage_nodes,
        stage_proof_hashes=hashes,
    )
