# pragma version ~=0.4.3
"""
@title Job market
@notice Escrow and settlement of inference jobs.
        ZK jobs (mode 1) settle when the node submits an EZKL proof the verifier
        accepts; a client holding a node-signed claim that is invalid can get the
        node slashed. FHE jobs (mode 2) settle after the client accepts or a
        challenge window passes; an arbiter (validator quorum) can dispute them, and
        the client can demand the output ciphertext on chain (`claim_not_delivered`).
        A job the node took (`start_job`) without a result by its deadline is refunded
        and the node slashed; a node submits only jobs it took.
        Every job ends Settled, Refunded or Slashed. Payments are pulled with `withdraw`.
@dev Invariant: token.balanceOf(self) == escrowed + sum(pending); escrowed holds the
     prices of open and submitted jobs and the delivery bonds of submitted jobs (a bond
     leaves when its job ends: to the node if it delivered and is paid, else to the client).
     Every way a job can still slash its node ends within `slash_horizon()` of its
     opening, which the setters keep below the NodeRegistry's unbonding delay.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable
from snekmate.utils import message_hash_utils
from lib import jobs
from lib import signatures

initializes: ownable

# owner() and the OwnershipTransferred event come from snekmate's ownable; `transfer_ownership`
# below wraps it to keep this contract's reasons ("not owner", "zero address") and its RoleSet log.
# (ownable's `renounce_ownership` is not exported: the market must always have an owner.)
exports: ownable.owner

MAX_INSTANCES: constant(uint256) = 64
MAX_PROOF: constant(uint256) = 32768
MAX_BPS: constant(uint256) = 10000
MAX_FEE_BPS: constant(uint256) = 1000
# Bounds even governance cannot pass (docs/dao.md): a slash above MAX_SLASH would confiscate
# stake far beyond the 2,000 VEIL production minimum for one fault; a bond above MAX_BOND would
# price clients out of demanding an FHE output (the check that keeps nodes honest).
MAX_SLASH: constant(uint256) = 10_000 * 10**18
MAX_BOND: constant(uint256) = 1_000 * 10**18
# largest output ciphertext `deliver_output` takes (calldata; a Concrete ML output is a few KiB)
MAX_OUTPUT_CT: constant(uint256) = 65536

MODE_ZK: constant(uint8) = jobs.MODE_ZK
MODE_FHE: constant(uint8) = jobs.MODE_FHE

OPEN: constant(uint8) = jobs.OPEN
SUBMITTED: constant(uint8) = jobs.SUBMITTED
SETTLED: constant(uint8) = jobs.SETTLED
REFUNDED: constant(uint8) = jobs.REFUNDED
SLASHED: constant(uint8) = jobs.SLASHED

interface Models:
    def job_terms(model_id: uint256) -> (bool, uint256, bytes32, bytes32): view
    def royalty_info(model_id: uint256) -> (address, uint16): view
    def royalty_split(model_id: uint256) -> (address, uint16, address, uint256, uint16): view

interface Nodes:
    def job_terms(node: address, model_id: uint256) -> (bool, bool, bool, uint256): view
    def slash(node: address, amount: uint256, challenger: address, reason: String[64]) -> uint256: nonpayable
    def unbond_delay() -> uint256: view

interface Verifier:
    def verify(model_id: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]) -> bool: view
    def is_registered(model_id: uint256) -> bool: view

# a client's demand that the node put an FHE job's output ciphertext on chain
struct Delivery:
    bond: uint256  # the client's bond, held in escrow until the demand is resolved
    due: uint256  # the node must `deliver_output` before this time; 0 = never demanded
    delivered: bool  # the node posted the ciphertext (`OutputDelivered`, calldata of that tx)

event DataRoyalty:
    job_id: indexed(uint256)
    registry: indexed(address)
    sale_id: uint256
    amount: uint256

event DataRoyaltyCollected:
    registry: indexed(address)
    sale_id: uint256
    amount: uint256

event JobOpened:
    job_id: indexed(uint256)
    client: indexed(address)
    node: indexed(address)
    model_id: uint256
    mode: uint8
    price: uint256
    deadline: uint256
    input_commitment: bytes32

event ZkResultSubmitted:
    job_id: indexed(uint256)
    output_hash: bytes32
    proof_hash: bytes32
    outputs: DynArray[uint256, MAX_INSTANCES]

event FheResultSubmitted:
    job_id: indexed(uint256)
    eval_keys_hash: bytes32
    input_ct_hash: bytes32
    output_ct_hash: bytes32
    circuit_hash: bytes32

event JobSettled:
    job_id: indexed(uint256)
    node_amount: uint256
    royalty: uint256
    fee: uint256

event JobRefunded:
    job_id: indexed(uint256)
    slashed: bool

event JobStarted:
    job_id: indexed(uint256)
    node: indexed(address)

event JobRejected:
    job_id: indexed(uint256)
    node: indexed(address)
    reason: String[64]

event JobSlashed:
    job_id: indexed(uint256)
    challenger: indexed(address)
    reason: String[64]

event DeliveryDemanded:
    job_id: indexed(uint256)
    bond: uint256
    due: uint256

event OutputDelivered:
    job_id: indexed(uint256)
    output_ct_hash: bytes32
    bond_paid: uint256  # the client's bond, the node's when the job settles (back to the client if slashed)

event Withdrawal:
    account: indexed(address)
    amount: uint256

event ParamSet:
    param: String[32]
    value: uint256

event RoleSet:
    role: String[32]
    account: indexed(address)

token: public(immutable(IERC20))
models: public(immutable(Models))
nodes: public(immutable(Nodes))

treasury: public(address)
zk_verifier: public(address)
arbiter: public(address)
slash_amount: public(uint256)
max_deadline: public(uint256)
challenge_window: public(uint256)
fee_bps: public(uint256)
delivery_bond: public(uint256)

_jobs: HashMap[uint256, jobs.Job]
deliveries: public(HashMap[uint256, Delivery])
job_count: public(uint256)
pending: public(HashMap[address, uint256])
escrowed: public(uint256)
# data registry -> sale -> royalties owed to the contributors of the data a model was trained on
# (issue #15): one aggregate per settle; the registry collects it and splits it by weight
data_owed: public(HashMap[address, HashMap[uint256, uint256]])
# job -> the owner's royalty amount + 1, for jobs priced by the node's offer (0: a list-price job,
# split by royalty_bps at settlement). Fixed at open so a later model price change cannot move it.
_offer_royalty: HashMap[uint256, uint256]


@deploy
def __init__(_token: IERC20, _models: Models, _nodes: Nodes, _treasury: address):
    """
    @param _token The VEIL token.
    @param _models The ModelRegistry.
    @param _nodes The NodeRegistry (must authorise this contract to slash).
    @param _treasury Receives the protocol fee (`fee_bps`, zero by default).
    """
    assert _treasury != empty(address), "zero treasury"
    token = _token
    models = _models
    nodes = _nodes
    ownable.__init__()
    self.treasury = _treasury
    self.max_deadline = 86400
    self.challenge_window = 3600
    self._check_horizon(86400, 3600)


# ------------------------------------------------------------------ internal
@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@internal
@view
def _check_horizon(max_deadline: uint256, window: uint256):
    """
    A job can slash its node until `slash_horizon` after it opened (deadline, then the
    challenge window, then a delivery demand's due time). A node unbonding at the opening
    must still be bonded then, or it could withdraw its stake away from the slash.
    """
    assert max_deadline + 2 * window < staticcall nodes.unbond_delay(), "exceeds unbond delay"


@internal
@view
def _load(job_id: uint256) -> jobs.Job:
    assert job_id >= 1 and job_id <= self.job_count, "unknown job"
    return self._jobs[job_id]


@internal
def _settle(job_id: uint256, job: jobs.Job):
    """Credit node, model owner (royalty) and treasury (fee); the escrow leaves."""
    # two fields, not the whole Model struct (twelve cold slots), plus the data lineage's registry
    # (one more slot when it names none): see ModelRegistry.royalty_split
    owner: address = empty(address)
    royalty_bps: uint16 = 0
    data_reg: address = empty(address)
    sale_id: uint256 = 0
    data_bps: uint16 = 0
    owner, royalty_bps, data_reg, sale_id, data_bps = staticcall models.royalty_split(job.model_id)
    fee: uint256 = 0
    royalty: uint256 = 0
    fixed: uint256 = self._offer_royalty[job_id]
    if fixed == 0:
        # list price: protocol fee first, royalty_bps of the rest to the owner, the rest to the node
        fee = job.price * self.fee_bps // MAX_BPS
        royalty = (job.price - fee) * convert(royalty_bps, uint256) // MAX_BPS
    else:
        # node's offer: the owner gets the royalty amount fixed at open, the fee is on the node's part
        royalty = fixed - 1
        fee = (job.price - royalty) * self.fee_bps // MAX_BPS
    node_amount: uint256 = job.price - fee - royalty
    self._jobs[job_id].status = SETTLED
    self.escrowed -= job.price
    self.pending[job.node] += node_amount
    data_cut: uint256 = royalty * convert(data_bps, uint256) // MAX_BPS
    if data_cut > 0:
        self.data_owed[data_reg][sale_id] += data_cut
        log DataRoyalty(job_id=job_id, registry=data_reg, sale_id=sale_id, amount=data_cut)
    self.pending[owner] += royalty - data_cut
    self.pending[self.treasury] += fee
    self._release_bond(job_id, job.client, job.node)
    log JobSettled(job_id=job_id, node_amount=node_amount, royalty=royalty, fee=fee)


@internal
def _release_bond(job_id: uint256, client: address, earner: address):
    """
    A delivery bond leaves escrow when its job ends: to `earner` (the node, when the job
    settles) if the node delivered, else back to the client. Held until then, so that a node
    that delivered bytes whose result is then refuted (slashed: `earner` is the client) does
    not keep the bond of the client it cheated.
    """
    bond: uint256 = self.deliveries[job_id].bond
    if bond == 0:
        return
    self.deliveries[job_id].bond = 0
    self.escrowed -= bond
    if self.deliveries[job_id].delivered:
        self.pending[earner] += bond
    else:
        self.pending[client] += bond


@internal
def _slash_and_refund(job_id: uint256, job: jobs.Job, challenger: address, reason: String[64]):
    """Refund the client in full and slash the node through the NodeRegistry."""
    self._jobs[job_id].status = SLASHED
    self.escrowed -= job.price
    self.pending[job.client] += job.price
    self._release_bond(job_id, job.client, job.client)
    log JobSlashed(job_id=job_id, challenger=challenger, reason=reason)
    if self.slash_amount > 0:
        extcall nodes.slash(job.node, self.slash_amount, challenger, reason)


@internal
@view
def _verify(
    verifier: address, model_id: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]
) -> bool:
    """
    Ask `verifier` (the one the job was opened under, never the current one: an owner
    swapping verifiers must not turn an honest node's signed claim into a slash).
    A verifier that reverts rejects the proof (EZKL's Halo2 verifier reverts on a
    bad proof). A verifier that ran out of gas says nothing: revert so a caller
    cannot get an honest node slashed by sending too little gas.
    """
    gas_start: uint256 = msg.gas
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(
        verifier,
        abi_encode(model_id, proof, instances, method_id=method_id("verify(uint256,bytes,uint256[])")),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    if not ok:
        assert msg.gas > gas_start // 32, "verifier out of gas"
        return False
    if len(response) != 32:
        return False
    return convert(convert(response, bytes32), uint256) == 1


# ------------------------------------------------------------------ jobs
@external
def open_job(
    model_id: uint256,
    node: address,
    input_commitment: bytes32,
    mode: uint8,
    deadline: uint256,
    eval_keys_hash: bytes32,
    max_price: uint256,
) -> uint256:
    """
    @notice Open a job and escrow its price (approve the market first). The price is the model's
            list price, or, when `node` has set an offer for the model (NodeRegistry.set_offer),
            the owner's royalty amount (list price x royalty_bps) plus the node's offer.
    @dev A ZK job is bound to the current `zk_verifier`, which must have the model's
         verifying key registered: a proof for an unregistered model can never verify,
         so an honest node's claim on it would be slashable.
    @param model_id Active model with a commitment for `mode`.
    @param node Active node that serves the model.
    @param input_commitment ZK: Poseidon hash of the input (EZKL hashed input, instances[0]).
                            FHE: sha256 of the input ciphertext.
    @param mode 1 = ZK, 2 = FHE.
    @param deadline Unix time by which the node must submit; at most now + max_deadline.
    @param eval_keys_hash FHE: sha256 of the evaluation keys the client gives the node (the
                          node's result must be computed under them); ZK: zero.
    @param max_price Most the client pays: reverts if the job's price is higher (a model price or
                     node offer raised between the client's read and this transaction).
    @return The new job id (from 1).
    """
    assert mode == MODE_ZK or mode == MODE_FHE, "bad mode"
    assert input_commitment != empty(bytes32), "empty commitment"
    assert deadline > block.timestamp, "deadline passed"
    assert deadline <= block.timestamp + self.max_deadline, "deadline too far"
    # the four fields checked here, not the whole Model struct (twelve cold slots, ~25k gas)
    active: bool = False
    price: uint256 = 0
    zk_vk_hash: bytes32 = empty(bytes32)
    fhe_server_hash: bytes32 = empty(bytes32)
    active, price, zk_vk_hash, fhe_server_hash = staticcall models.job_terms(model_id)
    assert active, "model retired"
    node_active: bool = False
    serves: bool = False
    has_offer: bool = False
    offer: uint256 = 0
    node_active, serves, has_offer, offer = staticcall nodes.job_terms(node, model_id)
    royalty: uint256 = 0
    if has_offer:
        # the owner's cut is fixed by the owner (list price x royalty_bps), whatever the node asks
        m_owner: address = empty(address)
        royalty_bps: uint16 = 0
        m_owner, royalty_bps = staticcall models.royalty_info(model_id)
        royalty = price * convert(royalty_bps, uint256) // MAX_BPS
        price = royalty + offer
    # the client's bound on what it pays: a raise (model price or node offer) that lands before
    # this transaction reverts it instead of overcharging
    assert price <= max_price, "price above max"
    verifier: address = empty(address)
    if mode == MODE_ZK:
        assert zk_vk_hash != empty(bytes32), "no zk commitment"
        assert eval_keys_hash == empty(bytes32), "eval keys on zk job"
        verifier = self.zk_verifier
        assert verifier != empty(address), "no verifier"
        assert staticcall Verifier(verifier).is_registered(model_id), "model not registered"
    else:
        assert fhe_server_hash != empty(bytes32), "no fhe commitment"
        assert eval_keys_hash != empty(bytes32), "empty eval keys hash"
    assert node_active, "node inactive"  # unstaked nodes have nothing to slash
    assert serves, "model not served"  # the node did not announce this model
    job_id: uint256 = self.job_count + 1
    self.job_count = job_id
    # field by field: writing the whole struct would also store its zero fields (2.2k gas each)
    self._jobs[job_id].client = msg.sender
    self._jobs[job_id].node = node
    self._jobs[job_id].model_id = model_id
    self._jobs[job_id].input_commitment = input_commitment
    self._jobs[job_id].mode = mode
    self._jobs[job_id].deadline = deadline
    self._jobs[job_id].status = OPEN
    if price > 0:
        self._jobs[job_id].price = price
    if has_offer:
        self._offer_royalty[job_id] = royalty + 1
    if mode == MODE_ZK:
        self._jobs[job_id].verifier = verifier
    else:
        self._jobs[job_id].eval_keys_hash = eval_keys_hash
    self.escrowed += price
    log JobOpened(
        job_id=job_id,
        client=msg.sender,
        node=node,
        model_id=model_id,
        mode=mode,
        price=price,
        deadline=deadline,
        input_commitment=input_commitment,
    )
    if price > 0:
        assert extcall token.transferFrom(msg.sender, self, price), "transfer failed"
    return job_id


@internal
@view
def _check_submit(job: jobs.Job, mode: uint8):
    assert msg.sender == job.node, "not job node"
    assert job.status == OPEN, "job not open"
    assert job.mode == mode, "wrong mode"
    assert job.started_at != 0, "job not started"  # else a missed deadline would not be slashable
    assert block.timestamp <= job.deadline, "deadline passed"


@external
def submit_zk_result(job_id: uint256, instances: DynArray[uint256, MAX_INSTANCES], proof: Bytes[MAX_PROOF]):
    """
    @notice Post the EZKL proof of a ZK job taken with `start_job`; settles the job if the
            job's verifier accepts it.
    @param job_id Job assigned to the caller.
    @param instances Public instances: [input hash, outputs...].
    @param proof The proof bytes.
    """
    job: jobs.Job = self._load(job_id)
    self._check_submit(job, MODE_ZK)
    assert len(instances) > 0, "no instances"
    assert instances[0] == convert(job.input_commitment, uint256), "input mismatch"
    assert self._verify(job.verifier, job.model_id, proof, instances), "proof rejected"
    outputs: DynArray[uint256, MAX_INSTANCES] = []
    for i: uint256 in range(1, MAX_INSTANCES):
        if i >= len(instances):
            break
        outputs.append(instances[i])
    output_hash: bytes32 = keccak256(abi_encode(outputs))
    proof_hash: bytes32 = keccak256(proof)
    self._jobs[job_id].output_hash = output_hash
    self._jobs[job_id].proof_hash = proof_hash
    self._jobs[job_id].submitted_at = block.timestamp
    log ZkResultSubmitted(job_id=job_id, output_hash=output_hash, proof_hash=proof_hash, outputs=outputs)
    self._settle(job_id, job)


@external
def challenge_zk(
    job_id: uint256, instances: DynArray[uint256, MAX_INSTANCES], proof: Bytes[MAX_PROOF], node_sig: Bytes[65]
):
    """
    @notice Prove that the node signed an invalid ZK result off-chain: the client
            is refunded and the node slashed. Reverts "claim is valid" otherwise.
    @dev The node signs (EIP-191 personal_sign) keccak256(abi_encode(chain.id, market,
         job_id, keccak256(abi_encode(instances)), keccak256(proof))). Validity is judged
         by the verifier the job was opened under.
    @param job_id Open ZK job of the caller.
    @param instances Instances the node sent.
    @param proof Proof the node sent.
    @param node_sig The node's 65-byte signature (r, s, v).
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.client, "not client"
    assert job.status == OPEN, "job not open"
    assert job.mode == MODE_ZK, "wrong mode"
    claim: bytes32 = keccak256(
        abi_encode(chain.id, self, job_id, keccak256(abi_encode(instances)), keccak256(proof))
    )
    signer: address = signatures._recover(message_hash_utils._to_eth_signed_message_hash(claim), node_sig)
    assert signer != empty(address), "bad signature"  # malformed: length, v, high s (EIP-2), r
    assert signer == job.node, "not node signature"
    valid: bool = len(instances) > 0 and instances[0] == convert(job.input_commitment, uint256)
    if valid:
        valid = self._verify(job.verifier, job.model_id, proof, instances)
    assert not valid, "claim is valid"
    self._slash_and_refund(job_id, job, msg.sender, "invalid zk claim")


@external
def submit_fhe_result(
    job_id: uint256, eval_keys_hash: bytes32, input_ct_hash: bytes32, output_ct_hash: bytes32, circuit_hash: bytes32
):
    """
    @notice Post the hashes of an FHE evaluation of a job taken with `start_job`; opens the
            challenge window.
    @param job_id Job assigned to the caller.
    @param eval_keys_hash Hash of the evaluation keys used (must equal the client's commitment:
                          a result under other keys cannot be re-executed or disputed).
    @param input_ct_hash Hash of the input ciphertext (must equal the job's commitment).
    @param output_ct_hash Hash of the output ciphertext.
    @param circuit_hash Hash of the FHE server circuit (must equal the model's commitment).
    """
    job: jobs.Job = self._load(job_id)
    self._check_submit(job, MODE_FHE)
    assert output_ct_hash != empty(bytes32), "empty hash"
    assert eval_keys_hash == job.eval_keys_hash, "eval keys mismatch"
    assert input_ct_hash == job.input_commitment, "input mismatch"
    server_hash: bytes32 = empty(bytes32)
    _a: bool = False
    _p: uint256 = 0
    _z: bytes32 = empty(bytes32)
    _a, _p, _z, server_hash = staticcall models.job_terms(job.model_id)
    assert circuit_hash == server_hash, "circuit mismatch"
    self._jobs[job_id].status = SUBMITTED
    self._jobs[job_id].output_ct_hash = output_ct_hash
    self._jobs[job_id].submitted_at = block.timestamp
    log FheResultSubmitted(
        job_id=job_id,
        eval_keys_hash=eval_keys_hash,
        input_ct_hash=input_ct_hash,
        output_ct_hash=output_ct_hash,
        circuit_hash=circuit_hash,
    )


@external
def claim_not_delivered(job_id: uint256):
    """
    @notice The client did not get the output ciphertext of a submitted FHE job: demand it
            on chain. Within the challenge window, with a bond of `delivery_bond` (approve
            first). The node must `deliver_output` within `challenge_window`, and takes the
            bond when the job settles (a node slashed for the job returns it); otherwise
            `finalize` refunds the client, returns the bond and slashes.
    @param job_id Submitted FHE job of the caller.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.client, "not client"
    assert job.status == SUBMITTED, "not submitted"
    assert block.timestamp < job.submitted_at + self.challenge_window, "challenge window closed"
    d: Delivery = self.deliveries[job_id]
    assert not d.delivered, "already delivered"
    assert d.due == 0, "already demanded"
    bond: uint256 = self.delivery_bond
    due: uint256 = block.timestamp + self.challenge_window
    self.deliveries[job_id] = Delivery(bond=bond, due=due, delivered=False)
    self.escrowed += bond
    log DeliveryDemanded(job_id=job_id, bond=bond, due=due)
    if bond > 0:
        assert extcall token.transferFrom(msg.sender, self, bond), "transfer failed"


@external
def deliver_output(job_id: uint256, output_ct: Bytes[MAX_OUTPUT_CT]):
    """
    @notice The node puts the output ciphertext of its submitted FHE job on chain (this
            transaction's calldata; `OutputDelivered` marks it). Answers a client's demand
            before its due time; the client's bond is the node's when the job settles.
    @param job_id Submitted FHE job assigned to the caller.
    @param output_ct The output ciphertext; its sha256 must be the posted output_ct_hash.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.node, "not job node"
    assert job.status == SUBMITTED, "not submitted"
    d: Delivery = self.deliveries[job_id]
    assert not d.delivered, "already delivered"
    assert d.due == 0 or block.timestamp < d.due, "delivery too late"
    assert sha256(output_ct) == job.output_ct_hash, "output mismatch"
    self.deliveries[job_id].delivered = True
    log OutputDelivered(job_id=job_id, output_ct_hash=job.output_ct_hash, bond_paid=d.bond)


@external
def accept(job_id: uint256):
    """
    @notice Client accepts a submitted FHE result; settles at once (a delivery demand's bond
            goes to the node if it delivered, else back to the client).
    @param job_id Submitted job of the caller.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.client, "not client"
    assert job.status == SUBMITTED, "not submitted"
    self._settle(job_id, job)


@external
def finalize(job_id: uint256):
    """
    @notice Close a submitted FHE job once its challenge window has passed: settles it, or,
            when the client demanded the output and the node did not deliver it by the due
            time, refunds the client and slashes the node. Anyone may call.
    @param job_id Submitted job.
    """
    job: jobs.Job = self._load(job_id)
    assert job.status == SUBMITTED, "not submitted"
    assert block.timestamp >= job.submitted_at + self.challenge_window, "challenge window open"
    d: Delivery = self.deliveries[job_id]
    if d.due != 0 and not d.delivered:
        assert block.timestamp >= d.due, "delivery pending"
        self._slash_and_refund(job_id, job, job.client, "output not delivered")
        return
    self._settle(job_id, job)


@external
def dispute_fhe(job_id: uint256):
    """
    @notice The arbiter (validator quorum) rejects a submitted FHE result within the
            window: client refunded, node slashed (challenger share to the arbiter).
    @param job_id Submitted job.
    """
    assert msg.sender == self.arbiter, "not arbiter"
    job: jobs.Job = self._load(job_id)
    assert job.status == SUBMITTED, "not submitted"
    assert block.timestamp < job.submitted_at + self.challenge_window, "challenge window closed"
    self._slash_and_refund(job_id, job, msg.sender, "fhe dispute")


@external
def refund(job_id: uint256):
    """
    @notice Client takes back the escrow of a job with no result after its deadline.
            The node is slashed `slash_amount` only if it took the job (`start_job`):
            a node that refused a malformed request never committed to it, so a client
            cannot earn the challenger share by sending garbage to honest nodes.
    @param job_id Open job of the caller.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.client, "not client"
    assert job.status == OPEN, "job not open"
    assert block.timestamp > job.deadline, "deadline not passed"
    self._jobs[job_id].status = REFUNDED
    self.escrowed -= job.price
    self.pending[job.client] += job.price
    slashed: bool = False
    if self.slash_amount > 0 and job.started_at != 0:
        # slashing must never block the refund: ignore any failure, except running out of
        # gas, which a client could use on purpose to spare the node
        gas_start: uint256 = msg.gas
        slashed = raw_call(
            nodes.address,
            abi_encode(
                job.node,
                self.slash_amount,
                msg.sender,
                "missed deadline",
                method_id=method_id("slash(address,uint256,address,string)"),
            ),
            revert_on_failure=False,
        )
        if not slashed:
            assert msg.gas > gas_start // 32, "slash out of gas"
    log JobRefunded(job_id=job_id, slashed=slashed)


@external
def reject_job(job_id: uint256, reason: String[64]):
    """
    @notice The node declines an open job (e.g. its ciphertext turned out not to evaluate): the
            client is refunded at once and nobody is slashed or paid. A node gains nothing by
            rejecting, so this only spares the client the wait until the deadline.
    @param job_id Open job assigned to the caller.
    @param reason Short reason shown to the client.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.node, "not job node"
    assert job.status == OPEN, "job not open"
    self._jobs[job_id].status = REFUNDED
    self.escrowed -= job.price
    self.pending[job.client] += job.price
    log JobRejected(job_id=job_id, node=msg.sender, reason=reason)


@external
def start_job(job_id: uint256):
    """
    @notice The node commits to a job after checking the client's request: from now on a
            missed deadline is slashable. Required before submitting a result.
    @param job_id Open job assigned to the caller.
    """
    job: jobs.Job = self._load(job_id)
    assert msg.sender == job.node, "not job node"
    assert job.status == OPEN, "job not open"
    assert job.started_at == 0, "already started"
    assert block.timestamp <= job.deadline, "deadline passed"
    self._jobs[job_id].started_at = block.timestamp
    log JobStarted(job_id=job_id, node=msg.sender)


@external
def collect_data_royalty(sale_id: uint256) -> uint256:
    """
    @notice Pull, as a data registry, the royalties owed to a sale's contributors (the registry
            splits them by weight; issue #15).
    @param sale_id Sale id in the caller's registry.
    @return The amount transferred to the caller (0 when nothing is owed).
    """
    amount: uint256 = self.data_owed[msg.sender][sale_id]
    if amount == 0:
        return 0
    self.data_owed[msg.sender][sale_id] = 0
    log DataRoyaltyCollected(registry=msg.sender, sale_id=sale_id, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"
    return amount


@external
def withdraw():
    """
    @notice Pull the caller's pending balance (earnings, royalties, refunds, fees).
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "nothing to withdraw"
    self.pending[msg.sender] = 0
    log Withdrawal(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


# ------------------------------------------------------------------ admin
@external
def set_zk_verifier(verifier: address):
    """
    @notice Set the proof verifier adapter for jobs opened from now on (open jobs keep the
            verifier they were opened under).
    @param verifier Contract with verify(model_id, proof, instances) -> bool and
                    is_registered(model_id) -> bool.
    """
    self._only_owner()
    self.zk_verifier = verifier
    log RoleSet(role="zk_verifier", account=verifier)


@external
def set_arbiter(arbiter: address):
    """
    @notice Set who may dispute FHE results (validator quorum contract).
    @param arbiter New arbiter; zero disables disputes.
    """
    self._only_owner()
    self.arbiter = arbiter
    log RoleSet(role="arbiter", account=arbiter)


@external
def set_treasury(treasury: address):
    """
    @notice Set who receives protocol fees.
    @param treasury New treasury, not the zero address.
    """
    self._only_owner()
    assert treasury != empty(address), "zero address"
    self.treasury = treasury
    log RoleSet(role="treasury", account=treasury)


@external
def set_slash_amount(amount: uint256):
    """
    @notice Set how much a node loses for a missed deadline or an invalid result.
    @param amount Amount in VEIL, at most 10,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_SLASH, "slash too high"
    self.slash_amount = amount
    log ParamSet(param="slash_amount", value=amount)


@external
def set_max_deadline(seconds: uint256):
    """
    @notice Set the longest deadline a job may have.
    @param seconds Seconds from opening, nonzero; with the windows below the node unbonding delay.
    """
    self._only_owner()
    assert seconds > 0, "zero value"
    self._check_horizon(seconds, self.challenge_window)
    self.max_deadline = seconds
    log ParamSet(param="max_deadline", value=seconds)


@external
def set_challenge_window(seconds: uint256):
    """
    @notice Set how long a submitted FHE result can be disputed (or its output demanded)
            before it settles; a demanded output is due within the same length.
    @param seconds Window length; with the max deadline below the node unbonding delay.
    """
    self._only_owner()
    assert seconds > 0, "zero value"
    self._check_horizon(self.max_deadline, seconds)
    self.challenge_window = seconds
    log ParamSet(param="challenge_window", value=seconds)


@external
def set_delivery_bond(amount: uint256):
    """
    @notice Set the bond a client puts up to demand an FHE output on chain (paid to the node
            if it delivers: the price of a false demand).
    @param amount Amount in VEIL, at most 1,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_BOND, "bond too high"
    self.delivery_bond = amount
    log ParamSet(param="delivery_bond", value=amount)


@external
def set_fee_bps(bps: uint256):
    """
    @notice Set the protocol fee taken from each settled job for the treasury.
    @param bps Basis points, at most 1000 (10%).
    """
    self._only_owner()
    assert bps <= MAX_FEE_BPS, "fee too high"
    self.fee_bps = bps
    log ParamSet(param="fee_bps", value=bps)


@external
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)
    log RoleSet(role="owner", account=new_owner)


# ------------------------------------------------------------------ views
@external
@view
def job(job_id: uint256) -> jobs.Job:
    """
    @notice Everything stored about a job.
    @param job_id Job id.
    @return The Job struct (contracts/lib/jobs.vy).
    """
    return self._load(job_id)


@external
@view
def slash_horizon() -> uint256:
    """
    @notice How long after opening a job can still slash its node: max deadline, then the
            challenge window, then a demanded output's due time. Kept below the
            NodeRegistry's unbonding delay.
    @return Seconds.
    """
    return self.max_deadline + 2 * self.challenge_window


@external
@view
def offer_royalty(job_id: uint256) -> (bool, uint256):
    """
    @notice Whether a job was priced by its node's offer, and the owner's royalty amount fixed at open.
    @param job_id Job id.
    @return (priced by an offer, royalty amount); (False, 0) for a list-price job.
    """
    r: uint256 = self._offer_royalty[job_id]
    if r == 0:
        return False, 0
    return True, r - 1
