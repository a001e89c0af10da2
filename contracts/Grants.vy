# pragma version ~=0.4.3
"""
@title DAO grants paid on verifiable milestones
@notice The DAO (its timelock, `owner`) escrows VEIL for a recipient in milestones. A milestone is
        released either by an on-chain check anyone can trigger (CHECK_MODEL: the recipient published
        a model, after the grant was made, trained on the committed dataset with the committed
        training code, whose ZK verifying key is registered on the verifier, so its inferences are
        provable) or by a vote (CHECK_VOTE: only the owner, i.e. an executed proposal, releases it).
        The owner can cancel a grant by vote; what is not released goes back to the owner.
        Optimistic track: a small grant (total <= `optimistic_max`) paid from a budget the owner
        funded passes after `objection_window` unless wVEIL holders with at least `objection_bps` of
        the wVEIL supply object; weights are read at the block before the proposal (snapshot), so
        VEIL wrapped or borrowed afterwards neither objects nor shields. A rejected grant returns
        its reservation to the budget; it can still be made by a full vote.
"""

from ethereum.ercs import IERC20

MAX_MILESTONES: constant(uint256) = 8
MAX_DATASETS: constant(uint256) = 8
CHECK_VOTE: constant(uint8) = 0
CHECK_MODEL: constant(uint8) = 1

struct Model:
    owner: address
    name: String[64]
    price: uint256
    royalty_bps: uint16
    onnx_hash: bytes32
    zk_settings_hash: bytes32
    zk_vk_hash: bytes32
    zk_srs_hash: bytes32
    fhe_client_hash: bytes32
    fhe_server_hash: bytes32
    training_code_hash: bytes32
    active: bool

interface Models:
    def model(model_id: uint256) -> Model: view
    def datasets(model_id: uint256) -> DynArray[uint256, MAX_DATASETS]: view
    def model_count() -> uint256: view

interface Votes:
    def getPastVotes(account: address, timepoint: uint256) -> uint256: view
    def getPastTotalSupply(timepoint: uint256) -> uint256: view

interface Verifier:
    def is_registered(model_id: uint256) -> bool: view

struct Milestone:
    amount: uint256
    check: uint8  # CHECK_VOTE or CHECK_MODEL
    dataset_id: uint256  # CHECK_MODEL: the model must be trained on this dataset (0: any)
    code_hash: bytes32  # CHECK_MODEL: the model's training_code_hash (zero: any)
    released: bool

struct Grant:
    recipient: address
    escrowed: uint256  # what is still held for unreleased milestones
    first_model: uint256  # models with an id below this existed before the grant: they do not count
    cancelled: bool

event GrantCreated:
    grant_id: indexed(uint256)
    recipient: indexed(address)
    total: uint256
    milestones: uint256

event MilestoneReleased:
    grant_id: indexed(uint256)
    index: uint256
    amount: uint256
    model_id: uint256

struct Optimistic:
    recipient: address
    total: uint256
    snapshot: uint256  # wVEIL timepoint objections are weighed at (the second before proposing)
    deadline: uint256  # objections accepted while block.timestamp <= deadline
    objections: uint256  # wVEIL (at snapshot) that objected
    state: uint8  # OPT_PENDING, OPT_PASSED or OPT_REJECTED (0: unknown)
    grant_id: uint256  # the grant made when it passed

event OptimisticProposed:
    proposal_id: indexed(uint256)
    recipient: indexed(address)
    total: uint256
    deadline: uint256

event OptimisticObjected:
    proposal_id: indexed(uint256)
    objector: indexed(address)
    weight: uint256

event OptimisticFinalized:
    proposal_id: indexed(uint256)
    passed: bool
    grant_id: uint256
    objections: uint256

event BudgetChanged:
    budget: uint256

event GrantCancelled:
    grant_id: indexed(uint256)
    refunded: uint256

token: public(immutable(IERC20))
models: public(immutable(Models))
verifier: public(immutable(Verifier))
owner: public(immutable(address))
votes: public(immutable(Votes))
optimistic_max: public(immutable(uint256))
objection_window: public(immutable(uint256))
objection_bps: public(immutable(uint256))

OPT_PENDING: constant(uint8) = 1
OPT_PASSED: constant(uint8) = 2
OPT_REJECTED: constant(uint8) = 3
MAX_OPT_GRANT: constant(uint256) = 100_000 * 10**18  # the bound on optimistic_max itself

budget: public(uint256)  # VEIL held for the optimistic track and not reserved by a pending proposal
optimistic_count: public(uint256)
_optimistic: HashMap[uint256, Optimistic]
_opt_milestones: HashMap[uint256, DynArray[Milestone, MAX_MILESTONES]]
objected: public(HashMap[uint256, HashMap[address, bool]])

grant_count: public(uint256)
_grants: HashMap[uint256, Grant]
_milestones: HashMap[uint256, DynArray[Milestone, MAX_MILESTONES]]


@deploy
def __init__(
    _token: IERC20,
    _models: Models,
    _verifier: Verifier,
    _owner: address,
    _votes: Votes,
    _optimistic_max: uint256,
    _objection_window: uint256,
    _objection_bps: uint256,
):
    """
    @param _token VEIL.
    @param _models The ModelRegistry CHECK_MODEL milestones read.
    @param _verifier The ZK verifier adapter (is_registered); zero skips the proof check.
    @param _owner The DAO timelock: creates, votes and cancels grants.
    @param _votes wVEIL (ERC20Votes, timestamp clock): objections are weighed by its past votes.
    @param _optimistic_max Largest total of an optimistic grant (0 < max <= 100,000 VEIL).
    @param _objection_window Seconds objections are accepted after an optimistic proposal (> 0).
    @param _objection_bps Share of wVEIL supply (at snapshot) whose objection rejects (1..10000).
    """
    assert _owner != empty(address), "zero address"
    assert _votes.address != empty(address), "zero votes"
    assert _optimistic_max > 0 and _optimistic_max <= MAX_OPT_GRANT, "optimistic max out of bounds"
    assert _objection_window > 0, "zero objection window"
    assert _objection_bps > 0 and _objection_bps <= 10_000, "objection bps out of bounds"
    token = _token
    models = _models
    verifier = _verifier
    owner = _owner
    votes = _votes
    optimistic_max = _optimistic_max
    objection_window = _objection_window
    objection_bps = _objection_bps


@internal
@view
def _only_owner():
    assert msg.sender == owner, "not owner"


@internal
def _create(recipient: address, milestones: DynArray[Milestone, MAX_MILESTONES]) -> uint256:
    total: uint256 = self._total(recipient, milestones)
    grant_id: uint256 = self.grant_count + 1
    self.grant_count = grant_id
    self._grants[grant_id] = Grant(
        recipient=recipient, escrowed=total, first_model=staticcall models.model_count() + 1, cancelled=False
    )
    self._milestones[grant_id] = milestones
    log GrantCreated(grant_id=grant_id, recipient=recipient, total=total, milestones=len(milestones))
    return grant_id


@internal
@pure
def _total(recipient: address, milestones: DynArray[Milestone, MAX_MILESTONES]) -> uint256:
    assert recipient != empty(address), "zero address"
    assert len(milestones) > 0, "no milestones"
    total: uint256 = 0
    for m: Milestone in milestones:
        assert m.amount > 0, "zero amount"
        assert m.check == CHECK_VOTE or m.check == CHECK_MODEL, "bad check"
        assert not m.released, "already released"
        total += m.amount
    return total


@external
def create_grant(recipient: address, milestones: DynArray[Milestone, MAX_MILESTONES]) -> uint256:
    """
    @notice Escrow the sum of the milestones' amounts (pulled from the owner: approve first) for
            `recipient`. Only models registered from now on can satisfy its CHECK_MODEL milestones.
    @param recipient Who is paid; not the zero address.
    @param milestones Amount and check of each milestone (`released` must be False).
    @return The grant id (from 1).
    """
    self._only_owner()
    grant_id: uint256 = self._create(recipient, milestones)
    assert extcall token.transferFrom(msg.sender, self, self._grants[grant_id].escrowed), "transfer failed"
    return grant_id


@external
def fund_budget(amount: uint256):
    """
    @notice Move `amount` VEIL from the owner (approve first) into the optimistic track's budget.
    @param amount VEIL wei.
    """
    self._only_owner()
    self.budget += amount
    log BudgetChanged(budget=self.budget)
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"


@external
def withdraw_budget(amount: uint256):
    """
    @notice Return unreserved budget to the owner (the treasury).
    @param amount VEIL wei; at most `budget`.
    """
    self._only_owner()
    assert amount <= self.budget, "exceeds budget"
    self.budget -= amount
    log BudgetChanged(budget=self.budget)
    assert extcall token.transfer(owner, amount), "transfer failed"


@external
def propose_optimistic(recipient: address, milestones: DynArray[Milestone, MAX_MILESTONES]) -> uint256:
    """
    @notice Propose a small grant on the optimistic track; its total is reserved from the budget
            and it passes after `objection_window` unless enough wVEIL objects. Anyone may propose.
    @param recipient Who is paid; not the zero address.
    @param milestones As for `create_grant`; their total must be <= `optimistic_max`.
    @return The optimistic proposal id (from 1).
    """
    total: uint256 = self._total(recipient, milestones)
    assert total <= optimistic_max, "above optimistic max"
    assert total <= self.budget, "exceeds budget"
    self.budget -= total
    pid: uint256 = self.optimistic_count + 1
    self.optimistic_count = pid
    deadline: uint256 = block.timestamp + objection_window
    self._optimistic[pid] = Optimistic(
        recipient=recipient,
        total=total,
        snapshot=block.timestamp - 1,
        deadline=deadline,
        objections=0,
        state=OPT_PENDING,
        grant_id=0,
    )
    self._opt_milestones[pid] = milestones
    log OptimisticProposed(proposal_id=pid, recipient=recipient, total=total, deadline=deadline)
    return pid


@external
def object(proposal_id: uint256) -> uint256:
    """
    @notice Object to a pending optimistic grant with the sender's wVEIL votes at its snapshot.
    @param proposal_id Optimistic proposal id.
    @return The weight counted (votes delegated to the sender at the snapshot).
    """
    o: Optimistic = self._optimistic[proposal_id]
    assert o.state == OPT_PENDING, "not pending"
    assert block.timestamp <= o.deadline, "objection window over"
    assert not self.objected[proposal_id][msg.sender], "already objected"
    weight: uint256 = staticcall votes.getPastVotes(msg.sender, o.snapshot)
    assert weight > 0, "no votes at snapshot"
    self.objected[proposal_id][msg.sender] = True
    self._optimistic[proposal_id].objections = o.objections + weight
    log OptimisticObjected(proposal_id=proposal_id, objector=msg.sender, weight=weight)
    return weight


@external
def finalize_optimistic(proposal_id: uint256) -> uint256:
    """
    @notice After the window anyone settles an optimistic proposal: it becomes a grant (escrowed
            from the reservation) unless objections reached `objection_bps` of the wVEIL supply at
            the snapshot, in which case the reservation returns to the budget.
    @param proposal_id Optimistic proposal id.
    @return The grant id, 0 if rejected.
    """
    o: Optimistic = self._optimistic[proposal_id]
    assert o.state == OPT_PENDING, "not pending"
    assert block.timestamp > o.deadline, "objection window open"
    supply: uint256 = staticcall votes.getPastTotalSupply(o.snapshot)
    if o.objections * 10_000 >= supply * objection_bps:
        self._optimistic[proposal_id].state = OPT_REJECTED
        self.budget += o.total
        log OptimisticFinalized(proposal_id=proposal_id, passed=False, grant_id=0, objections=o.objections)
        log BudgetChanged(budget=self.budget)
        return 0
    grant_id: uint256 = self._create(o.recipient, self._opt_milestones[proposal_id])
    self._optimistic[proposal_id].state = OPT_PASSED
    self._optimistic[proposal_id].grant_id = grant_id
    log OptimisticFinalized(proposal_id=proposal_id, passed=True, grant_id=grant_id, objections=o.objections)
    return grant_id


@external
@view
def optimistic(proposal_id: uint256) -> Optimistic:
    """
    @notice Everything stored about an optimistic proposal.
    @param proposal_id Optimistic proposal id.
    @return The Optimistic struct (zeroed if unknown).
    """
    return self._optimistic[proposal_id]


@internal
def _pay(grant_id: uint256, index: uint256, model_id: uint256):
    g: Grant = self._grants[grant_id]
    m: Milestone = self._milestones[grant_id][index]
    self._milestones[grant_id][index].released = True
    self._grants[grant_id].escrowed = g.escrowed - m.amount
    log MilestoneReleased(grant_id=grant_id, index=index, amount=m.amount, model_id=model_id)
    assert extcall token.transfer(g.recipient, m.amount), "transfer failed"


@internal
@view
def _open_milestone(grant_id: uint256, index: uint256) -> Milestone:
    g: Grant = self._grants[grant_id]
    assert g.recipient != empty(address), "unknown grant"
    assert not g.cancelled, "grant cancelled"
    assert index < len(self._milestones[grant_id]), "unknown milestone"
    m: Milestone = self._milestones[grant_id][index]
    assert not m.released, "already released"
    return m


@external
def release(grant_id: uint256, index: uint256, model_id: uint256):
    """
    @notice Release a CHECK_MODEL milestone: anyone may call once the recipient's model passes.
    @param grant_id Grant id.
    @param index Milestone index.
    @param model_id The model that meets the milestone (registered after the grant, owned by the
                    recipient, active, trained on the dataset with the code committed, its ZK
                    verifying key registered on the verifier).
    """
    m: Milestone = self._open_milestone(grant_id, index)
    assert m.check == CHECK_MODEL, "milestone needs a vote"
    g: Grant = self._grants[grant_id]
    assert model_id >= g.first_model, "model predates grant"
    md: Model = staticcall models.model(model_id)
    assert md.owner == g.recipient, "not recipient's model"
    assert md.active, "model retired"
    assert md.zk_vk_hash != empty(bytes32), "no zk commitment"
    if m.code_hash != empty(bytes32):
        assert md.training_code_hash == m.code_hash, "wrong training code"
    if m.dataset_id != 0:
        assert m.dataset_id in staticcall models.datasets(model_id), "dataset not used"
    if verifier.address != empty(address):
        assert staticcall verifier.is_registered(model_id), "vka not registered"
    self._pay(grant_id, index, model_id)


@external
def approve(grant_id: uint256, index: uint256):
    """
    @notice Release a milestone by vote (the owner is the timelock: an executed proposal).
    @param grant_id Grant id.
    @param index Milestone index (any check: a vote may also release a CHECK_MODEL milestone).
    """
    self._only_owner()
    self._open_milestone(grant_id, index)
    self._pay(grant_id, index, 0)


@external
def cancel(grant_id: uint256):
    """
    @notice Cancel a grant by vote; the unreleased escrow goes back to the owner (the treasury).
    @param grant_id Grant id.
    """
    self._only_owner()
    g: Grant = self._grants[grant_id]
    assert g.recipient != empty(address), "unknown grant"
    assert not g.cancelled, "grant cancelled"
    self._grants[grant_id].cancelled = True
    self._grants[grant_id].escrowed = 0
    log GrantCancelled(grant_id=grant_id, refunded=g.escrowed)
    if g.escrowed > 0:
        assert extcall token.transfer(owner, g.escrowed), "transfer failed"


@external
@view
def grant(grant_id: uint256) -> Grant:
    """
    @notice Everything stored about a grant.
    @param grant_id Grant id.
    @return The Grant struct (zeroed if unknown).
    """
    return self._grants[grant_id]


@external
@view
def milestones(grant_id: uint256) -> DynArray[Milestone, MAX_MILESTONES]:
    """
    @notice A grant's milestones.
    @param grant_id Grant id.
    @return Amount, check, dataset, code hash and released flag of each.
    """
    return self._milestones[grant_id]
