# pragma version ~=0.4.3
"""
@title Subnet rewards: validator stake, commit-reveal weights, Yuma-style consensus, emissions
@notice One subnet = the nodes holding the NodeRegistry's subnet indices 0..MAX_NODES-1 (staked
        nodes; a larger stake takes the lowest holder's index there).
        Validators bond VEIL here. Each epoch has a commit window then a reveal window:
        a validator commits keccak256(abi_encode(validator, epoch, weights, salt)) and
        later reveals (weights, salt). Binding the validator and the epoch into the hash
        stops a weight copier from re-submitting someone else's commitment.
        After the epoch ends anyone calls `finalize_epoch`: for each node the consensus
        weight is the highest weight supported by at least kappa of the revealed stake;
        weights above it are clipped; node emission is proportional to the stake-weighted
        clipped weights; validator emission is proportional to bonds, an EMA of each
        validator's agreement with consensus. A validator that committed and did not
        reveal loses its bond and `miss_penalty_bps` of its stake (to the treasury).
        This contract is the Token's minter; everything it owes is paid by `claim`.
@dev Bounds: MAX_VALIDATORS x MAX_NODES = 16 x 64. All arithmetic is integer and is
     mirrored exactly by veilproof.incentives.yuma (keep the two in step).
     Invariant: token.balanceOf(self) == total_bonded + sum(pending).
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

# owner() and the OwnershipTransferred event come from snekmate's ownable; `transfer_ownership`
# below wraps it to keep this contract's reasons ("not owner", "zero address") and its RoleSet log.
# ownable's `renounce_ownership` is not exported.
exports: ownable.owner

interface Nodes:
    def subnet_size() -> uint256: view
    def subnet_node(i: uint256) -> address: view
    def is_active(addr: address) -> bool: view

interface Mintable:
    def mint(receiver: address, amount: uint256): nonpayable

MAX_VALIDATORS: constant(uint256) = 16
MAX_NODES: constant(uint256) = 64
SLOTS: constant(uint256) = 4  # MAX_NODES weights of 16 bits, 16 per storage slot
SCALE: constant(uint256) = 10**18
BPS: constant(uint256) = 10000
# Bound even governance cannot pass (docs/dao.md): at most 100x the tuned 100 VEIL per epoch, so a
# captured vote cannot inflate VEIL away in a few epochs.
MAX_EMISSION: constant(uint256) = 10_000 * 10**18
MASK16: constant(uint256) = 65535

struct Validator:
    stake: uint256
    unbonding: uint256
    unbond_release: uint256
    bond: uint256
    registered: bool

event ValidatorRegistered:
    validator: indexed(address)
    stake: uint256

event ValidatorEvicted:
    validator: indexed(address)
    by: indexed(address)
    stake: uint256
    release: uint256

event StakeAdded:
    validator: indexed(address)
    amount: uint256

event UnbondRequested:
    validator: indexed(address)
    amount: uint256
    release: uint256

event Withdrawn:
    validator: indexed(address)
    amount: uint256
    removed: bool

event WeightsCommitted:
    epoch: indexed(uint256)
    validator: indexed(address)
    commit_hash: bytes32
    stake: uint256

event WeightsRevealed:
    epoch: indexed(uint256)
    validator: indexed(address)
    weights: DynArray[uint16, MAX_NODES]

event RevealMissed:
    epoch: indexed(uint256)
    validator: indexed(address)
    penalty: uint256

event NodeEmission:
    epoch: indexed(uint256)
    node: indexed(address)
    consensus: uint256
    amount: uint256

event ValidatorEmission:
    epoch: indexed(uint256)
    validator: indexed(address)
    bond: uint256
    amount: uint256

event EpochFinalized:
    epoch: indexed(uint256)
    revealed: uint256
    node_total: uint256
    validator_total: uint256
    owner_total: uint256

event Claimed:
    account: indexed(address)
    amount: uint256

event ParamSet:
    param: String[32]
    value: uint256

event RoleSet:
    role: String[32]
    account: indexed(address)

event LockerSet:
    locker: indexed(address)
    allowed: bool

event StakeLocked:
    validator: indexed(address)
    until: uint256
    locker: indexed(address)

event Penalized:
    validator: indexed(address)
    amount: uint256
    receiver: indexed(address)
    locker: address

token: public(immutable(IERC20))
nodes: public(immutable(Nodes))
min_stake: public(immutable(uint256))
unbond_delay: public(immutable(uint256))
epoch_length: public(immutable(uint256))
commit_period: public(immutable(uint256))
genesis: public(immutable(uint256))

treasury: public(address)
subnet_owner: public(address)
emission_per_epoch: public(uint256)
kappa_bps: public(uint256)
alpha_bps: public(uint256)
node_bps: public(uint256)
validator_bps: public(uint256)
miss_penalty_bps: public(uint256)

_validators: HashMap[address, Validator]
_validator_list: DynArray[address, MAX_VALIDATORS]
total_bonded: public(uint256)  # stake + unbonding of all validators, held here

_commits: HashMap[uint256, HashMap[address, bytes32]]
_commit_stake: HashMap[uint256, HashMap[address, uint256]]
_revealed: HashMap[uint256, HashMap[address, bool]]
_packed: HashMap[uint256, HashMap[address, uint256[SLOTS]]]
_committers: HashMap[uint256, DynArray[address, MAX_VALIDATORS]]

# epochs with at least one commit, finalised strictly in order (bonds are an EMA)
_queue: HashMap[uint256, uint256]
queue_head: public(uint256)
queue_tail: public(uint256)
_queued: HashMap[uint256, bool]
finalized: public(HashMap[uint256, bool])

pending: public(HashMap[address, uint256])
# Dispute contracts (FheQuorum) may lock a validator's stake while its vote is pending, and
# take a penalty from it when the vote is refuted.
lockers: public(HashMap[address, bool])
locked_until: public(HashMap[address, uint256])
total_minted: public(uint256)
total_claimed: public(uint256)


@deploy
def __init__(
    _token: IERC20,
    _nodes: Nodes,
    _treasury: address,
    _subnet_owner: address,
    _min_stake: uint256,
    _unbond_delay: uint256,
    _epoch_length: uint256,
    _commit_period: uint256,
    _emission_per_epoch: uint256,
):
    """
    @param _token The VEIL token (this contract must be made its minter).
    @param _nodes The NodeRegistry whose nodes form the subnet.
    @param _treasury Receives missed-reveal penalties.
    @param _subnet_owner Receives the subnet/model-owner share of emissions.
    @param _min_stake Validator stake needed to commit weights.
    @param _unbond_delay Seconds before unbonded stake can leave; at least two epochs,
           so a validator stays penalisable until the epoch it committed in is finalised.
    @param _epoch_length Seconds per epoch.
    @param _commit_period Seconds at the start of each epoch for commits; the rest is for reveals.
    @param _emission_per_epoch VEIL minted per finalised epoch (before the split).
    """
    assert _treasury != empty(address) and _subnet_owner != empty(address), "zero address"
    assert _commit_period > 0 and _commit_period < _epoch_length, "bad windows"
    assert _unbond_delay >= 2 * _epoch_length, "unbond delay too short"
    assert _min_stake > 0, "zero min stake"
    token = _token
    nodes = _nodes
    min_stake = _min_stake
    unbond_delay = _unbond_delay
    epoch_length = _epoch_length
    commit_period = _commit_period
    genesis = block.timestamp
    ownable.__init__()
    self.treasury = _treasury
    self.subnet_owner = _subnet_owner
    self.emission_per_epoch = _emission_per_epoch
    self.kappa_bps = 5000
    self.alpha_bps = 1000
    self.node_bps = 4100
    self.validator_bps = 4100
    self.miss_penalty_bps = 100
    log RoleSet(role="owner", account=msg.sender)


# ------------------------------------------------------------------ internal
@internal
@view
def _epoch_now() -> uint256:
    return (block.timestamp - genesis) // epoch_length


@internal
@view
def _offset() -> uint256:
    return (block.timestamp - genesis) % epoch_length


@internal
def _take(v: address, amount: uint256) -> uint256:
    """Take up to `amount` from a validator, stake first then unbonding."""
    staked: uint256 = self._validators[v].stake
    unbonding: uint256 = self._validators[v].unbonding
    taken: uint256 = min(amount, staked + unbonding)
    from_stake: uint256 = min(taken, staked)
    self._validators[v].stake = staked - from_stake
    self._validators[v].unbonding = unbonding - (taken - from_stake)
    self.total_bonded -= taken
    return taken


@internal
@view
def _unpack(e: uint256, v: address, n: uint256) -> DynArray[uint256, MAX_NODES]:
    packed: uint256[SLOTS] = self._packed[e][v]
    out: DynArray[uint256, MAX_NODES] = []
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        out.append((packed[j // 16] >> (16 * (j % 16))) & MASK16)
    return out


# ------------------------------------------------------------------ epoch finalisation
# The twin of veilproof.incentives.yuma.epoch_step, one internal function per step, each named
# after (and its docstring naming) the yuma function or variable it mirrors, so the two read side
# by side. Each step keeps the integer operations and the order of floor divisions of the mirror
# (tests/incentives check the two agree bit for bit): change both or neither.
@internal
@view
def _subnet_nodes() -> (DynArray[address, MAX_NODES], DynArray[bool, MAX_NODES]):
    """The nodes holding the subnet's indices (NodeRegistry.subnet_node; at most MAX_NODES, staked
    when they got them) and which of them are active now (yuma: `eligible`)."""
    n: uint256 = min(staticcall nodes.subnet_size(), MAX_NODES)
    node_addrs: DynArray[address, MAX_NODES] = []
    eligible: DynArray[bool, MAX_NODES] = []
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        a: address = staticcall nodes.subnet_node(j)
        node_addrs.append(a)
        eligible.append(staticcall nodes.is_active(a))
    return node_addrs, eligible


@internal
def _penalize_missed_reveal(e: uint256, v: address) -> uint256:
    """A committer that did not reveal loses its bond and `miss_penalty_bps` of its committed
    stake, capped by what it still holds (yuma: `penalties[v]`, `new_bonds[v] = 0`)."""
    penalty: uint256 = self._take(v, self._commit_stake[e][v] * self.miss_penalty_bps // BPS)
    self._validators[v].bond = 0
    log RevealMissed(epoch=e, validator=v, penalty=penalty)
    return penalty


@internal
@pure
def _normalize_row(
    raw: DynArray[uint256, MAX_NODES], eligible: DynArray[bool, MAX_NODES]
) -> DynArray[uint256, MAX_NODES]:
    """Raw uint16 weights -> shares of SCALE over eligible nodes, floored (yuma: `normalize_row`)."""
    n: uint256 = len(eligible)
    s: uint256 = 0
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        if eligible[j]:
            s += raw[j]
    row: DynArray[uint256, MAX_NODES] = []
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        if eligible[j] and s > 0:
            row.append(raw[j] * SCALE // s)
        else:
            row.append(0)
    return row


@internal
@pure
def _consensus_weights(
    W: DynArray[DynArray[uint256, MAX_NODES], MAX_VALIDATORS],
    stakes: DynArray[uint256, MAX_VALIDATORS],
    kappa_bps: uint256,
    n: uint256,
) -> DynArray[uint256, MAX_NODES]:
    """Per node, the largest weight that validators holding >= kappa of the revealed stake give it
    or more (yuma: `consensus_weights`; all zero when nobody revealed)."""
    nv: uint256 = len(W)
    total: uint256 = 0
    for st: uint256 in stakes:
        total += st
    cons: DynArray[uint256, MAX_NODES] = []
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        best: uint256 = 0
        for i: uint256 in range(MAX_VALIDATORS):
            if i >= nv:
                break
            w: uint256 = W[i][j]
            if w <= best:
                continue
            support: uint256 = 0
            for k: uint256 in range(MAX_VALIDATORS):
                if k >= nv:
                    break
                if W[k][j] >= w:
                    support += stakes[k]
            if support * BPS >= kappa_bps * total:
                best = w
        cons.append(best)
    return cons


@internal
@pure
def _ranks(
    W: DynArray[DynArray[uint256, MAX_NODES], MAX_VALIDATORS],
    stakes: DynArray[uint256, MAX_VALIDATORS],
    cons: DynArray[uint256, MAX_NODES],
) -> (DynArray[uint256, MAX_NODES], uint256):
    """Per node, the stake-weighted weights clipped at consensus, and their sum
    (yuma: `rank`, `rank_total`)."""
    nv: uint256 = len(W)
    n: uint256 = len(cons)
    rank: DynArray[uint256, MAX_NODES] = []
    rank_total: uint256 = 0
    for j: uint256 in range(MAX_NODES):
        if j >= n:
            break
        r: uint256 = 0
        for i: uint256 in range(MAX_VALIDATORS):
            if i >= nv:
                break
            r += stakes[i] * min(W[i][j], cons[j])
        rank.append(r)
        rank_total += r
    return rank, rank_total


@internal
def _node_emissions(
    e: uint256,
    node_addrs: DynArray[address, MAX_NODES],
    cons: DynArray[uint256, MAX_NODES],
    rank: DynArray[uint256, MAX_NODES],
    rank_total: uint256,
    node_pool: uint256,
) -> uint256:
    """Credit each node its share of the node pool by rank (yuma: `node_em`); returns the total."""
    node_total: uint256 = 0
    for j: uint256 in range(MAX_NODES):
        if j >= len(rank):
            break
        amt: uint256 = node_pool * rank[j] // rank_total
        if amt > 0:
            self.pending[node_addrs[j]] += amt
            node_total += amt
            log NodeEmission(epoch=e, node=node_addrs[j], consensus=cons[j], amount=amt)
    return node_total


@internal
@pure
def _incentives(rank: DynArray[uint256, MAX_NODES], rank_total: uint256) -> DynArray[uint256, MAX_NODES]:
    """Each node's share of the total rank, in SCALE units (yuma: `incentive`)."""
    incentive: DynArray[uint256, MAX_NODES] = []
    for r: uint256 in rank:
        incentive.append(r * SCALE // rank_total)
    return incentive


@internal
@pure
def _agreements(
    W: DynArray[DynArray[uint256, MAX_NODES], MAX_VALIDATORS],
    stakes: DynArray[uint256, MAX_VALIDATORS],
    cons: DynArray[uint256, MAX_NODES],
    incentive: DynArray[uint256, MAX_NODES],
) -> (DynArray[uint256, MAX_VALIDATORS], uint256):
    """Per validator, stake x its clipped weights on what consensus paid, and their sum
    (yuma: `agree`, `agree_total`)."""
    n: uint256 = len(cons)
    agree: DynArray[uint256, MAX_VALIDATORS] = []
    agree_total: uint256 = 0
    for i: uint256 in range(MAX_VALIDATORS):
        if i >= len(W):
            break
        a: uint256 = 0
        for j: uint256 in range(MAX_NODES):
            if j >= n:
                break
            a += min(W[i][j], cons[j]) * incentive[j] // SCALE
        d: uint256 = stakes[i] * a
        agree.append(d)
        agree_total += d
    return agree, agree_total


@internal
def _update_bonds(
    vals: DynArray[address, MAX_VALIDATORS], agree: DynArray[uint256, MAX_VALIDATORS], agree_total: uint256
) -> (DynArray[uint256, MAX_VALIDATORS], uint256):
    """Bonds: EMA (rate alpha) of each validator's share of the agreement; stores and returns them
    with their sum (yuma: `new_bonds`, `b_list`, `bond_total`)."""
    alpha: uint256 = self.alpha_bps
    bonds: DynArray[uint256, MAX_VALIDATORS] = []
    bond_total: uint256 = 0
    for i: uint256 in range(MAX_VALIDATORS):
        if i >= len(vals):
            break
        delta: uint256 = 0
        if agree_total > 0:
            delta = agree[i] * SCALE // agree_total
        b: uint256 = (alpha * delta + (BPS - alpha) * self._validators[vals[i]].bond) // BPS
        self._validators[vals[i]].bond = b
        bonds.append(b)
        bond_total += b
    return bonds, bond_total


@internal
def _validator_emissions(
    e: uint256,
    vals: DynArray[address, MAX_VALIDATORS],
    bonds: DynArray[uint256, MAX_VALIDATORS],
    bond_total: uint256,
    val_pool: uint256,
) -> uint256:
    """Credit each revealed validator its share of the validator pool by bond (yuma: `val_em`);
    returns the total."""
    val_total: uint256 = 0
    if bond_total == 0:
        return 0
    for i: uint256 in range(MAX_VALIDATORS):
        if i >= len(vals):
            break
        amt: uint256 = val_pool * bonds[i] // bond_total
        if amt > 0:
            self.pending[vals[i]] += amt
            val_total += amt
        log ValidatorEmission(epoch=e, validator=vals[i], bond=bonds[i], amount=amt)
    return val_total


@internal
def _finalize(e: uint256):
    """Finalise epoch `e` (yuma: `epoch_step`), then mint what it credited and pay the penalties."""
    node_addrs: DynArray[address, MAX_NODES] = []
    eligible: DynArray[bool, MAX_NODES] = []
    node_addrs, eligible = self._subnet_nodes()
    n: uint256 = len(eligible)

    # committers in commit order: missed reveals are penalised, revealed rows normalised
    vals: DynArray[address, MAX_VALIDATORS] = []
    stakes: DynArray[uint256, MAX_VALIDATORS] = []
    W: DynArray[DynArray[uint256, MAX_NODES], MAX_VALIDATORS] = []
    treasury_take: uint256 = 0
    for v: address in self._committers[e]:
        if not self._revealed[e][v]:
            treasury_take += self._penalize_missed_reveal(e, v)
            continue
        vals.append(v)
        stakes.append(self._commit_stake[e][v])
        W.append(self._normalize_row(self._unpack(e, v, n), eligible))

    cons: DynArray[uint256, MAX_NODES] = self._consensus_weights(W, stakes, self.kappa_bps, n)
    rank: DynArray[uint256, MAX_NODES] = []
    rank_total: uint256 = 0
    rank, rank_total = self._ranks(W, stakes, cons)

    emission: uint256 = self.emission_per_epoch
    node_pool: uint256 = emission * self.node_bps // BPS
    val_pool: uint256 = emission * self.validator_bps // BPS
    node_total: uint256 = 0
    val_total: uint256 = 0
    owner_total: uint256 = 0
    if rank_total > 0:
        node_total = self._node_emissions(e, node_addrs, cons, rank, rank_total, node_pool)
        owner_total = emission - node_pool - val_pool
        if owner_total > 0:
            self.pending[self.subnet_owner] += owner_total
        incentive: DynArray[uint256, MAX_NODES] = self._incentives(rank, rank_total)
        agree: DynArray[uint256, MAX_VALIDATORS] = []
        agree_total: uint256 = 0
        agree, agree_total = self._agreements(W, stakes, cons, incentive)
        bonds: DynArray[uint256, MAX_VALIDATORS] = []
        bond_total: uint256 = 0
        bonds, bond_total = self._update_bonds(vals, agree, agree_total)
        val_total = self._validator_emissions(e, vals, bonds, bond_total, val_pool)

    minted: uint256 = node_total + val_total + owner_total
    self.finalized[e] = True
    log EpochFinalized(
        epoch=e, revealed=len(vals), node_total=node_total, validator_total=val_total, owner_total=owner_total
    )
    if minted > 0:
        self.total_minted += minted
        extcall Mintable(token.address).mint(self, minted)
    if treasury_take > 0:
        assert extcall token.transfer(self.treasury, treasury_take), "transfer failed"


# ------------------------------------------------------------------ validators
@internal
def _evict_lowest(amount: uint256):
    """Free the seat of the lowest-stake validator for a newcomer bonding `amount` (> that stake),
    as Bittensor's registration does: the set stays bounded (MAX_VALIDATORS) but cannot be held by
    minimum-stake sybils against a larger stake. The evicted validator keeps everything it bonded:
    its stake starts unbonding (withdrawable after `unbond_delay`, penalisable until then, so an
    epoch it committed in still settles), and it loses its seat and bond (a newcomer starts at 0)."""
    low_i: uint256 = 0
    low: uint256 = max_value(uint256)
    n: uint256 = len(self._validator_list)
    for i: uint256 in range(MAX_VALIDATORS):
        if i >= n:
            break
        st: uint256 = self._validators[self._validator_list[i]].stake
        if st < low:
            low = st
            low_i = i
    assert amount > low, "stake too low to replace"
    v: address = self._validator_list[low_i]
    release: uint256 = self._validators[v].unbond_release
    if low > 0:
        release = block.timestamp + unbond_delay
        self._validators[v].stake = 0
        self._validators[v].unbonding += low
        self._validators[v].unbond_release = release
    self._validators[v].bond = 0
    self._validators[v].registered = False
    self._validator_list[low_i] = self._validator_list[n - 1]
    self._validator_list.pop()
    log ValidatorEvicted(validator=v, by=msg.sender, stake=low, release=release)


@external
def register_validator(amount: uint256):
    """
    @notice Become a validator of this subnet by bonding `amount` VEIL (approve first). When all
            MAX_VALIDATORS seats are taken, `amount` must exceed the lowest seated stake, and
            that validator is evicted (see `_evict_lowest`).
    @param amount Initial stake, at least `min_stake`.
    """
    assert not self._validators[msg.sender].registered, "already registered"
    assert amount >= min_stake, "stake below minimum"
    if len(self._validator_list) == MAX_VALIDATORS:
        self._evict_lowest(amount)
    self._validators[msg.sender].registered = True
    self._validators[msg.sender].stake = amount
    self._validator_list.append(msg.sender)
    self.total_bonded += amount
    log ValidatorRegistered(validator=msg.sender, stake=amount)
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"


@external
def add_stake(amount: uint256):
    """
    @notice Bond more VEIL (approve first).
    @param amount Amount to add, nonzero.
    """
    assert self._validators[msg.sender].registered, "not validator"
    assert amount > 0, "zero amount"
    self._validators[msg.sender].stake += amount
    self.total_bonded += amount
    log StakeAdded(validator=msg.sender, amount=amount)
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"


@external
def request_unbond(amount: uint256):
    """
    @notice Start unbonding `amount`; it stays penalisable until released.
    @param amount Amount, nonzero and at most the current stake.
    """
    assert amount > 0, "zero amount"
    assert self._validators[msg.sender].stake >= amount, "insufficient stake"
    assert block.timestamp >= self.locked_until[msg.sender], "stake locked"
    release: uint256 = block.timestamp + unbond_delay
    self._validators[msg.sender].stake -= amount
    self._validators[msg.sender].unbonding += amount
    self._validators[msg.sender].unbond_release = release
    log UnbondRequested(validator=msg.sender, amount=amount, release=release)


@external
def withdraw_unbonded():
    """
    @notice Take back released unbonding stake; a validator left with nothing is removed
            (an evicted validator withdraws its stake here too).
    """
    amount: uint256 = self._validators[msg.sender].unbonding
    assert amount > 0, "nothing unbonding"
    assert block.timestamp >= self._validators[msg.sender].unbond_release, "still unbonding"
    assert block.timestamp >= self.locked_until[msg.sender], "stake locked"
    self._validators[msg.sender].unbonding = 0
    self.total_bonded -= amount
    removed: bool = False
    if self._validators[msg.sender].stake == 0:
        removed = True
        seated: bool = self._validators[msg.sender].registered
        self._validators[msg.sender] = empty(Validator)
        if seated:  # (an evicted validator has no seat left to free)
            last: uint256 = len(self._validator_list) - 1
            for i: uint256 in range(MAX_VALIDATORS):
                if self._validator_list[i] == msg.sender:
                    self._validator_list[i] = self._validator_list[last]
                    break
            self._validator_list.pop()
    log Withdrawn(validator=msg.sender, amount=amount, removed=removed)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


@external
def lock(validator: address, until: uint256):
    """
    @notice Keep `validator`'s stake bonded (no unbond, no withdraw) until `until`; a lock only
            ever extends. Only lockers (dispute contracts) may call.
    @param validator The validator whose vote is pending.
    @param until Timestamp the lock lasts to.
    """
    assert self.lockers[msg.sender], "not locker"
    if until > self.locked_until[validator]:
        self.locked_until[validator] = until
        log StakeLocked(validator=validator, until=until, locker=msg.sender)


@external
def penalize(validator: address, amount: uint256, receiver: address) -> uint256:
    """
    @notice Take up to `amount` from a validator (stake first, then unbonding) and send it to
            `receiver`. Only lockers (dispute contracts) may call; never reverts for lack of funds.
    @param validator The validator to penalise.
    @param amount Amount to take.
    @param receiver Who gets it (the node a refuted attestation accused), not the zero address.
    @return The amount actually taken.
    """
    assert self.lockers[msg.sender], "not locker"
    assert receiver != empty(address), "zero address"
    taken: uint256 = self._take(validator, amount)
    log Penalized(validator=validator, amount=taken, receiver=receiver, locker=msg.sender)
    if taken > 0:
        assert extcall token.transfer(receiver, taken), "transfer failed"
    return taken


# ------------------------------------------------------------------ epochs
@external
def commit_weights(commit_hash: bytes32):
    """
    @notice Commit to this epoch's weights during the commit window (re-committing replaces it).
    @param commit_hash keccak256(abi_encode(validator, epoch, weights uint16[], salt bytes32)).
    """
    assert self._validators[msg.sender].registered, "not validator"
    stake: uint256 = self._validators[msg.sender].stake
    assert stake >= min_stake, "stake below minimum"
    assert commit_hash != empty(bytes32), "empty commit"
    assert self._offset() < commit_period, "not commit window"
    e: uint256 = self._epoch_now()
    if self._commits[e][msg.sender] == empty(bytes32):
        # 16 committers per epoch: a validator seated by evicting one that already committed
        # this epoch commits from the next epoch on
        assert len(self._committers[e]) < MAX_VALIDATORS, "epoch committers full"
        self._committers[e].append(msg.sender)
        if not self._queued[e]:
            self._queued[e] = True
            self._queue[self.queue_tail] = e
            self.queue_tail += 1
    self._commits[e][msg.sender] = commit_hash
    self._commit_stake[e][msg.sender] = stake
    log WeightsCommitted(epoch=e, validator=msg.sender, commit_hash=commit_hash, stake=stake)


@external
def reveal_weights(weights: DynArray[uint16, MAX_NODES], salt: bytes32):
    """
    @notice Reveal this epoch's committed weights during the reveal window.
            A reveal that does not match the commitment reverts "commit mismatch" and
            changes nothing: the validator counts as unrevealed (penalised) unless it
            reveals the committed weights before the window closes.
    @param weights One uint16 per node index (missing trailing entries mean zero).
    @param salt The secret salt used in the commitment.
    """
    assert self._offset() >= commit_period, "not reveal window"
    e: uint256 = self._epoch_now()
    c: bytes32 = self._commits[e][msg.sender]
    assert c != empty(bytes32), "no commit"
    assert not self._revealed[e][msg.sender], "already revealed"
    assert keccak256(abi_encode(msg.sender, e, weights, salt)) == c, "commit mismatch"
    packed: uint256[SLOTS] = empty(uint256[SLOTS])
    for j: uint256 in range(MAX_NODES):
        if j >= len(weights):
            break
        packed[j // 16] |= convert(weights[j], uint256) << (16 * (j % 16))
    self._packed[e][msg.sender] = packed
    self._revealed[e][msg.sender] = True
    log WeightsRevealed(epoch=e, validator=msg.sender, weights=weights)


@external
def finalize_epoch() -> uint256:
    """
    @notice Finalise the oldest ended epoch that had commits: penalise missed reveals,
            compute consensus, credit emissions (mint), update bonds. Anyone may call.
    @return The epoch finalised.
    """
    assert self.queue_head < self.queue_tail, "nothing to finalize"
    e: uint256 = self._queue[self.queue_head]
    assert block.timestamp >= genesis + (e + 1) * epoch_length, "epoch not over"
    self.queue_head += 1
    self._finalize(e)
    return e


@external
def claim():
    """
    @notice Pull the caller's pending emissions.
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "nothing to claim"
    self.pending[msg.sender] = 0
    self.total_claimed += amount
    log Claimed(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"


# ------------------------------------------------------------------ admin
@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@external
def set_emission(amount: uint256):
    """
    @notice Set VEIL minted per finalised epoch.
    @param amount New emission per epoch, at most 10,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_EMISSION, "emission too high"
    self.emission_per_epoch = amount
    log ParamSet(param="emission_per_epoch", value=amount)


@external
def set_split(_node_bps: uint256, _validator_bps: uint256):
    """
    @notice Set the shares of nodes and validators; the rest goes to the subnet owner.
    @param _node_bps Node share, basis points.
    @param _validator_bps Validator share, basis points; sum at most 10000.
    """
    self._only_owner()
    assert _node_bps + _validator_bps <= BPS, "split over 100%"
    self.node_bps = _node_bps
    self.validator_bps = _validator_bps
    log ParamSet(param="node_bps", value=_node_bps)
    log ParamSet(param="validator_bps", value=_validator_bps)


@external
def set_kappa(bps: uint256):
    """
    @notice Set kappa, the share of revealed stake that must back a consensus weight.
    @param bps Basis points in [5000, 10000] (below half, a minority could set consensus).
    """
    self._only_owner()
    assert bps >= 5000 and bps <= BPS, "bad kappa"
    self.kappa_bps = bps
    log ParamSet(param="kappa_bps", value=bps)


@external
def set_alpha(bps: uint256):
    """
    @notice Set the bond EMA rate (weight of the newest epoch).
    @param bps Basis points in (0, 10000].
    """
    self._only_owner()
    assert bps > 0 and bps <= BPS, "bad alpha"
    self.alpha_bps = bps
    log ParamSet(param="alpha_bps", value=bps)


@external
def set_miss_penalty(bps: uint256):
    """
    @notice Set the share of committed stake lost for not revealing.
    @param bps Basis points, at most 1000 (10%).
    """
    self._only_owner()
    assert bps <= 1000, "penalty too high"
    self.miss_penalty_bps = bps
    log ParamSet(param="miss_penalty_bps", value=bps)


@external
def set_locker(locker: address, allowed: bool):
    """
    @notice Allow or forbid a dispute contract to lock and penalise validator stake.
    @param locker The contract (FheQuorum).
    @param allowed True to allow.
    """
    self._only_owner()
    assert locker != empty(address), "zero address"
    self.lockers[locker] = allowed
    log LockerSet(locker=locker, allowed=allowed)


@external
def set_subnet_owner(account: address):
    """
    @notice Set who receives the subnet/model-owner share.
    @param account New recipient, not the zero address.
    """
    self._only_owner()
    assert account != empty(address), "zero address"
    self.subnet_owner = account
    log RoleSet(role="subnet_owner", account=account)


@external
def set_treasury(account: address):
    """
    @notice Set who receives missed-reveal penalties.
    @param account New treasury, not the zero address.
    """
    self._only_owner()
    assert account != empty(address), "zero address"
    self.treasury = account
    log RoleSet(role="treasury", account=account)


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
def validator(addr: address) -> Validator:
    """
    @notice Everything stored about a validator.
    @param addr Validator address.
    @return The Validator struct.
    """
    return self._validators[addr]


@external
@view
def validators() -> DynArray[address, MAX_VALIDATORS]:
    """
    @notice Registered validators.
    @return Their addresses.
    """
    return self._validator_list


@external
@view
def validator_stake(addr: address) -> uint256:
    """
    @notice Stake that counts for votes (FHE quorum): the bonded stake if at least `min_stake`, else 0.
    @param addr Validator address.
    @return Voting stake.
    """
    s: uint256 = self._validators[addr].stake
    if s < min_stake:
        return 0
    return s


@external
@view
def total_active_stake() -> uint256:
    """
    @notice Sum of voting stake over all validators.
    @return Total voting stake.
    """
    total: uint256 = 0
    for v: address in self._validator_list:
        s: uint256 = self._validators[v].stake
        if s >= min_stake:
            total += s
    return total


@external
@view
def current_epoch() -> uint256:
    """
    @notice The epoch now running.
    @return Epoch number (from 0 at deployment).
    """
    return self._epoch_now()


@external
@view
def in_commit_window() -> bool:
    """
    @notice Whether commits are accepted now (else reveals are).
    @return True during the commit window.
    """
    return self._offset() < commit_period


@external
@view
def commit_of(epoch: uint256, addr: address) -> bytes32:
    """
    @notice A validator's commitment for an epoch.
    @param epoch Epoch number.
    @param addr Validator.
    @return The commit hash (zero if none).
    """
    return self._commits[epoch][addr]


@external
@view
def revealed(epoch: uint256, addr: address) -> bool:
    """
    @notice Whether a validator revealed for an epoch.
    @param epoch Epoch number.
    @param addr Validator.
    @return True if revealed.
    """
    return self._revealed[epoch][addr]


@external
@view
def weights_of(epoch: uint256, addr: address) -> DynArray[uint256, MAX_NODES]:
    """
    @notice Revealed raw weights of a validator for an epoch (all MAX_NODES entries).
    @param epoch Epoch number.
    @param addr Validator.
    @return Weights (zeros if not revealed).
    """
    return self._unpack(epoch, addr, MAX_NODES)


@external
@view
def next_epoch_to_finalize() -> (bool, uint256):
    """
    @notice The oldest epoch with commits that is not finalised yet.
    @return (exists, epoch).
    """
    if self.queue_head >= self.queue_tail:
        return False, 0
    return True, self._queue[self.queue_head]
