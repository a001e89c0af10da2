# pragma version ~=0.4.3
"""
@title Node registry
@notice Compute nodes announce an endpoint, an ECIES public key and the models
        they serve, and bond VEIL as stake. Stake leaves only through an
        unbonding delay, during which it can still be slashed. Slashing is done
        by authorised contracts (the job market, dispute quorums): the challenger
        gets `challenger_bps` of the slashed amount, the treasury the rest.
        Subnet indices (the columns of Rewards' weight rows, MAX_SUBNET of them) go only to
        nodes bonded at least `min_stake`; when all are taken, a node with more stake than the
        lowest holder takes that holder's index (an exited or slashed node, whose stake fell,
        goes first). Registration alone costs only gas, so it must not earn an index.
@dev Set `unbond_delay` longer than the job market's max deadline plus its
     challenge window, so a node cannot unbond away from a job it may be slashed for.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

# owner() and OwnershipTransferred(previous_owner, new_owner) come from snekmate's ownable (same
# event signature and topic as before); `transfer_ownership` below wraps it to keep this
# contract's reasons ("not owner", "zero address"). ownable's `renounce_ownership` is not exported.
exports: ownable.owner

interface Models:
    def is_active(model_id: uint256) -> bool: view

MAX_MODELS: constant(uint256) = 32
MAX_BPS: constant(uint256) = 10000
MAX_SUBNET: constant(uint256) = 64  # = Rewards.MAX_NODES

struct Node:
    endpoint: String[128]
    pubkey: Bytes[33]
    stake: uint256
    unbonding: uint256
    unbond_release: uint256
    registered: bool
    slashed_total: uint256

event NodeRegistered:
    node: indexed(address)
    endpoint: String[128]
    pubkey: Bytes[33]

event EndpointSet:
    node: indexed(address)
    endpoint: String[128]

event ModelsSet:
    node: indexed(address)
    model_ids: DynArray[uint256, MAX_MODELS]

event Staked:
    node: indexed(address)
    amount: uint256

event UnbondRequested:
    node: indexed(address)
    amount: uint256
    release: uint256

event Withdrawn:
    node: indexed(address)
    amount: uint256

event Slashed:
    node: indexed(address)
    amount: uint256
    challenger: indexed(address)
    challenger_share: uint256
    reason: String[64]
    slasher: address

event SubnetIndexAssigned:
    node: indexed(address)
    index: uint256
    replaced: indexed(address)

event TreasurySet:
    treasury: indexed(address)

event Authorized:
    slasher: indexed(address)
    allowed: bool

event OfferSet:
    node: indexed(address)
    model_id: indexed(uint256)
    price: uint256
    active: bool  # False: the offer was cleared and the node charges the model's list price again

token: public(immutable(IERC20))
models: public(immutable(Models))
min_stake: public(immutable(uint256))
unbond_delay: public(immutable(uint256))
challenger_bps: public(immutable(uint256))
treasury: public(address)  # settable so the hand-over can point slashes at the DAO treasury

authorized: public(HashMap[address, bool])

_nodes: HashMap[address, Node]
_models_of: HashMap[address, DynArray[uint256, MAX_MODELS]]
_serves: HashMap[address, HashMap[uint256, bool]]
_node_list: HashMap[uint256, address]
# node -> model -> its compute price + 1 (0: no offer, the model's list price applies). The +1 lets a
# node offer its compute for free, distinct from having no offer.
_offers: HashMap[address, HashMap[uint256, uint256]]
node_count: public(uint256)
total_bonded: public(uint256)  # sum of stake + unbonding over all nodes
_subnet: HashMap[uint256, address]  # subnet index -> node
_subnet_pos: HashMap[address, uint256]  # node -> subnet index + 1 (0: none)
subnet_size: public(uint256)


@deploy
def __init__(
    _token: IERC20,
    _min_stake: uint256,
    _unbond_delay: uint256,
    _treasury: address,
    _challenger_bps: uint256,
    _models: Models,
):
    """
    @param _token The VEIL token.
    @param _min_stake Stake needed to be active.
    @param _unbond_delay Seconds between `request_unbond` and `withdraw_unbonded`.
    @param _treasury Receives the non-challenger part of slashes.
    @param _challenger_bps Challenger's share of a slash, basis points.
    @param _models ModelRegistry to check served models against (zero address: no check).
    """
    assert _treasury != empty(address), "zero treasury"
    assert _challenger_bps <= MAX_BPS, "bps too high"
    token = _token
    min_stake = _min_stake
    unbond_delay = _unbond_delay
    self.treasury = _treasury
    challenger_bps = _challenger_bps
    models = _models
    ownable.__init__()


@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@internal
def _set_models(node: address, model_ids: DynArray[uint256, MAX_MODELS]):
    for m: uint256 in self._models_of[node]:
        self._serves[node][m] = False
    for m: uint256 in model_ids:
        if models.address != empty(address):
            assert staticcall models.is_active(m), "unknown model"
        assert not self._serves[node][m], "duplicate model"
        self._serves[node][m] = True
    self._models_of[node] = model_ids
    log ModelsSet(node=node, model_ids=model_ids)


@internal
def _take_index(node: address) -> bool:
    """Give `node` a subnet index if it has none and its stake earns one: a free index while fewer
    than MAX_SUBNET are taken, else the index of the lowest-stake holder if `node` has strictly more
    (ties keep the holder). Returns whether `node` holds an index afterwards."""
    if self._subnet_pos[node] != 0:
        return True
    mine: uint256 = self._nodes[node].stake
    if mine < min_stake:
        return False
    n: uint256 = self.subnet_size
    if n < MAX_SUBNET:
        self._subnet[n] = node
        self._subnet_pos[node] = n + 1
        self.subnet_size = n + 1
        log SubnetIndexAssigned(node=node, index=n, replaced=empty(address))
        return True
    low_i: uint256 = 0
    low: uint256 = max_value(uint256)
    for i: uint256 in range(MAX_SUBNET):
        st: uint256 = self._nodes[self._subnet[i]].stake
        if st < low:
            low = st
            low_i = i
    if mine <= low:
        return False
    old: address = self._subnet[low_i]
    self._subnet_pos[old] = 0
    self._subnet[low_i] = node
    self._subnet_pos[node] = low_i + 1
    log SubnetIndexAssigned(node=node, index=low_i, replaced=old)
    return True


@external
def register(endpoint: String[128], pubkey: Bytes[33], model_ids: DynArray[uint256, MAX_MODELS]):
    """
    @notice Register the caller as a compute node.
    @param endpoint URL where the node serves jobs.
    @param pubkey Compressed secp256k1 key (33 bytes) clients encrypt to (ECIES).
    @param model_ids Models the node serves; each must be active in the ModelRegistry.
    """
    assert not self._nodes[msg.sender].registered, "already registered"
    assert len(endpoint) > 0, "empty endpoint"
    assert len(pubkey) == 33, "bad pubkey"
    prefix: bytes1 = convert(slice(pubkey, 0, 1), bytes1)
    assert prefix == 0x02 or prefix == 0x03, "bad pubkey"
    self._nodes[msg.sender].endpoint = endpoint
    self._nodes[msg.sender].pubkey = pubkey
    self._nodes[msg.sender].registered = True
    self._node_list[self.node_count] = msg.sender
    self.node_count += 1
    log NodeRegistered(node=msg.sender, endpoint=endpoint, pubkey=pubkey)
    self._set_models(msg.sender, model_ids)


@external
def set_endpoint(endpoint: String[128]):
    """
    @notice Move the caller's node to a new endpoint.
    @param endpoint New URL, nonempty.
    """
    assert self._nodes[msg.sender].registered, "not registered"
    assert len(endpoint) > 0, "empty endpoint"
    self._nodes[msg.sender].endpoint = endpoint
    log EndpointSet(node=msg.sender, endpoint=endpoint)


@external
def set_models(model_ids: DynArray[uint256, MAX_MODELS]):
    """
    @notice Replace the list of models the caller's node serves.
    @param model_ids New list; each must be active in the ModelRegistry.
    """
    assert self._nodes[msg.sender].registered, "not registered"
    self._set_models(msg.sender, model_ids)


@external
def set_offer(model_id: uint256, price: uint256):
    """
    @notice Set the caller's own compute price for `model_id`. A job on this node then costs the
            model owner's royalty amount (ModelRegistry price x royalty_bps) plus `price`; JobMarket
            charges it at open, and the client's `max_price` bounds it.
    @dev Only a served model: an offer the node could never be paid under would mislead clients.
    @param model_id A model the caller serves.
    @param price VEIL for the node's compute per job (before the protocol fee); zero is allowed.
    """
    assert self._nodes[msg.sender].registered, "not registered"
    # a node may only price what it announced: otherwise a stale offer would sit in the listings
    assert self._serves[msg.sender][model_id], "model not served"
    # the +1 encoding below must not wrap
    assert price < max_value(uint256), "price too high"
    self._offers[msg.sender][model_id] = price + 1
    log OfferSet(node=msg.sender, model_id=model_id, price=price, active=True)


@external
def clear_offer(model_id: uint256):
    """
    @notice Drop the caller's offer for `model_id`: its jobs cost the model's list price again.
    @param model_id A model the caller has an offer for.
    """
    # clearing nothing is a caller's mistake (a typo'd model id); say so instead of logging a no-op
    assert self._offers[msg.sender][model_id] != 0, "no offer"
    self._offers[msg.sender][model_id] = 0
    log OfferSet(node=msg.sender, model_id=model_id, price=0, active=False)


@external
def stake(amount: uint256):
    """
    @notice Bond `amount` VEIL (pulled with transferFrom; approve first). Takes a subnet index
            when the new stake earns one.
    @param amount Amount to bond, nonzero.
    """
    assert self._nodes[msg.sender].registered, "not registered"
    assert amount > 0, "zero amount"
    self._nodes[msg.sender].stake += amount
    self.total_bonded += amount
    log Staked(node=msg.sender, amount=amount)
    self._take_index(msg.sender)
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"


@external
def claim_subnet_index():
    """
    @notice Take a subnet index now that the caller's stake earns one (stake() already tries;
            this is for when other holders' stake fell since).
    """
    assert self._nodes[msg.sender].registered, "not registered"
    assert self._take_index(msg.sender), "stake too low for an index"


@external
def request_unbond(amount: uint256):
    """
    @notice Start unbonding `amount` of the caller's stake. Unbonding stake is
            still slashable; the release time restarts with each request.
    @param amount Amount to unbond, nonzero and at most the current stake.
    """
    assert amount > 0, "zero amount"
    assert self._nodes[msg.sender].stake >= amount, "insufficient stake"
    release: uint256 = block.timestamp + unbond_delay
    self._nodes[msg.sender].stake -= amount
    self._nodes[msg.sender].unbonding += amount
    self._nodes[msg.sender].unbond_release = release
    log UnbondRequested(node=msg.sender, amount=amount, release=release)


@external
def withdraw_unbonded():
    """
    @notice Take back all unbonded stake once its release time has passed.
    """
    amount: uint256 = self._nodes[msg.sender].unbonding
    assert amount > 0, "nothing unbonding"
    assert block.timestamp >= self._nodes[msg.sender].unbond_release, "still unbonding"
    self._nodes[msg.sender].unbonding = 0
    self.total_bonded -= amount
    log Withdrawn(node=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


@external
def slash(node: address, amount: uint256, challenger: address, reason: String[64]) -> uint256:
    """
    @notice Take up to `amount` from a node, stake first then unbonding.
            Never reverts for lack of funds: it slashes what there is.
    @param node Node to slash.
    @param amount Amount to take.
    @param challenger Receives `challenger_bps` of what is taken (zero address: all to treasury).
    @param reason Short reason, logged.
    @return The amount actually slashed.
    """
    assert self.authorized[msg.sender], "not authorized"
    staked: uint256 = self._nodes[node].stake
    unbonding: uint256 = self._nodes[node].unbonding
    taken: uint256 = min(amount, staked + unbonding)
    if taken == 0:
        return 0
    from_stake: uint256 = min(taken, staked)
    self._nodes[node].stake = staked - from_stake
    self._nodes[node].unbonding = unbonding - (taken - from_stake)
    self._nodes[node].slashed_total += taken
    self.total_bonded -= taken
    share: uint256 = 0
    if challenger != empty(address):
        share = taken * challenger_bps // MAX_BPS
    log Slashed(
        node=node, amount=taken, challenger=challenger, challenger_share=share, reason=reason, slasher=msg.sender
    )
    if share > 0:
        assert extcall token.transfer(challenger, share), "transfer failed"
    if taken > share:
        assert extcall token.transfer(self.treasury, taken - share), "transfer failed"
    return taken


@external
def authorize(slasher: address, allowed: bool):
    """
    @notice Allow or forbid a contract to slash nodes.
    @param slasher Contract (job market, dispute quorum).
    @param allowed True to allow.
    """
    self._only_owner()
    assert slasher != empty(address), "zero address"
    self.authorized[slasher] = allowed
    log Authorized(slasher=slasher, allowed=allowed)


@external
def set_treasury(account: address):
    """
    @notice Set who receives the non-challenger part of slashes.
    @param account New treasury, not the zero address.
    """
    self._only_owner()
    assert account != empty(address), "zero address"
    self.treasury = account
    log TreasurySet(treasury=account)


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
def node(addr: address) -> Node:
    """
    @notice Everything stored about a node.
    @param addr Node address.
    @return The Node struct (zeroed if never registered).
    """
    return self._nodes[addr]


@external
@view
def models_of(addr: address) -> DynArray[uint256, MAX_MODELS]:
    """
    @notice Models a node serves.
    @param addr Node address.
    @return Model ids.
    """
    return self._models_of[addr]


@external
@view
def is_active(addr: address) -> bool:
    """
    @notice Whether a node may take jobs: registered and bonded at least `min_stake`.
    @param addr Node address.
    @return True if active.
    """
    return self._nodes[addr].registered and self._nodes[addr].stake >= min_stake


@external
@view
def serves(addr: address, model_id: uint256) -> bool:
    """
    @notice Whether a node announced it serves `model_id`.
    @param addr Node address.
    @param model_id Model id.
    @return True if served.
    """
    return self._serves[addr][model_id]


@external
@view
def offer(addr: address, model_id: uint256) -> (bool, uint256):
    """
    @notice A node's own compute price for a model.
    @param addr Node address.
    @param model_id Model id.
    @return (has an offer, price); without one the job costs the model's list price.
    """
    o: uint256 = self._offers[addr][model_id]
    if o == 0:
        return False, 0
    return True, o - 1


@external
@view
def job_terms(addr: address, model_id: uint256) -> (bool, bool, bool, uint256):
    """
    @notice What a market checks to open a job on a node, in one call (is_active, serves, offer).
    @param addr Node address.
    @param model_id Model id.
    @return (active, serves `model_id`, has an offer, offer price).
    """
    active: bool = self._nodes[addr].registered and self._nodes[addr].stake >= min_stake
    o: uint256 = self._offers[addr][model_id]
    if o == 0:
        return active, self._serves[addr][model_id], False, 0
    return active, self._serves[addr][model_id], True, o - 1


@external
@view
def node_at(i: uint256) -> address:
    """
    @notice The `i`-th registered node, for enumeration.
    @param i Index below `node_count`.
    @return Node address.
    """
    assert i < self.node_count, "index out of range"
    return self._node_list[i]


@external
@view
def subnet_node(i: uint256) -> address:
    """
    @notice The node holding subnet index `i` (Rewards' weight column `i`).
    @param i Index below `subnet_size`.
    @return Node address.
    """
    assert i < self.subnet_size, "index out of range"
    return self._subnet[i]


@external
@view
def subnet_index(addr: address) -> (bool, uint256):
    """
    @notice Whether a node holds a subnet index, and which.
    @param addr Node address.
    @return (holds one, index).
    """
    pos: uint256 = self._subnet_pos[addr]
    if pos == 0:
        return False, 0
    return True, pos - 1
