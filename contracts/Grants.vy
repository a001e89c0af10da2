# pragma version ~=0.4.3
"""
@title DAO grants paid on verifiable milestones
@notice The DAO (its timelock, `owner`) escrows VEIL for a recipient in milestones. A milestone is
        released either by an on-chain check anyone can trigger (CHECK_MODEL: the recipient published
        a model, after the grant was made, trained on the committed dataset with the committed
        training code, whose ZK verifying key is registered on the verifier, so its inferences are
        provable) or by a vote (CHECK_VOTE: only the owner, i.e. an executed proposal, releases it).
        The owner can cancel a grant by vote; what is not released goes back to the owner.
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

event GrantCancelled:
    grant_id: indexed(uint256)
    refunded: uint256

token: public(immutable(IERC20))
models: public(immutable(Models))
verifier: public(immutable(Verifier))
owner: public(immutable(address))

grant_count: public(uint256)
_grants: HashMap[uint256, Grant]
_milestones: HashMap[uint256, DynArray[Milestone, MAX_MILESTONES]]


@deploy
def __init__(_token: IERC20, _models: Models, _verifier: Verifier, _owner: address):
    """
    @param _token VEIL.
    @param _models The ModelRegistry CHECK_MODEL milestones read.
    @param _verifier The ZK verifier adapter (is_registered); zero skips the proof check.
    @param _owner The DAO timelock: creates, votes and cancels grants.
    """
    assert _owner != empty(address), "zero address"
    token = _token
    models = _models
    verifier = _verifier
    owner = _owner


@internal
@view
def _only_owner():
    assert msg.sender == owner, "not owner"


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
    assert recipient != empty(address), "zero address"
    assert len(milestones) > 0, "no milestones"
    total: uint256 = 0
    for m: Milestone in milestones:
        assert m.amount > 0, "zero amount"
        assert m.check == CHECK_VOTE or m.check == CHECK_MODEL, "bad check"
        assert not m.released, "already released"
        total += m.amount
    grant_id: uint256 = self.grant_count + 1
    self.grant_count = grant_id
    self._grants[grant_id] = Grant(
        recipient=recipient, escrowed=total, first_model=staticcall models.model_count() + 1, cancelled=False
    )
    self._milestones[grant_id] = milestones
    log GrantCreated(grant_id=grant_id, recipient=recipient, total=total, milestones=len(milestones))
    assert extcall token.transferFrom(msg.sender, self, total), "transfer failed"
    return grant_id


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
