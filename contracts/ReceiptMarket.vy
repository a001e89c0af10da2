# pragma version ~=0.4.3
"""
@title Receipt market (pay-on-proof, batched settlement)
@notice ZK inference jobs paid from client deposits against client-signed receipts, with no
        proof verification on chain when both sides are honest (docs/settlement.md).
        A job is an EIP-712 `Order` the client signs off chain; the node countersigns an
        `Acceptance`. The client verifies the EZKL proof locally and signs a `Receipt`; the
        node settles many receipts in one `settle`. Unhappy paths: the node puts the proof on
        chain (`claim_with_proof`) when the client withholds its receipt, paid from the
        deposit plus a surcharge; the client `demand`s delivery with a bond and the node is
        slashed if it does not answer (`resolve`); anyone holding a node-signed `Delivery`
        whose proof fails gets the node slashed (`challenge`).
@dev Deposits are per (client, node): no other node can drain what a node counts on, so a
     node that accepts only orders covered by the deposit it sees is always paid.
     Order nonces are per (client, node), 256 to a storage word (Permit2 unordered nonces):
     a nonce is spent exactly once, by a receipt, a proof claim, a slash or a challenge.
     Invariant: token.balanceOf(self) == sum(deposits) + sum(pending) + sum(demand bonds).
     ZK only: FHE orders would need the output ciphertext on chain to answer a demand
     (JobMarket.deliver_output); they stay on JobMarket.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable
from snekmate.utils import eip712_domain_separator
from lib import signatures

initializes: ownable
initializes: eip712_domain_separator

exports: ownable.owner

MAX_BATCH: constant(uint256) = 64
MAX_INSTANCES: constant(uint256) = 64
MAX_PROOF: constant(uint256) = 32768
MAX_BPS: constant(uint256) = 10000
MAX_FEE_BPS: constant(uint256) = 1000
# Bounds even governance cannot pass (docs/dao.md), the same as JobMarket's; a surcharge above
# MAX_SURCHARGE is far beyond the ~1.06M gas of a proof claim it prices.
MAX_SLASH: constant(uint256) = 10_000 * 10**18
MAX_BOND: constant(uint256) = 1_000 * 10**18
MAX_SURCHARGE: constant(uint256) = 100 * 10**18
MODE_ZK: constant(uint8) = 1
UNSET: constant(uint256) = max_value(uint256)  # no nonce word / model cached yet

ORDER_TYPEHASH: constant(bytes32) = keccak256(
    "Order(address client,address node,uint256 modelId,bytes32 inputCommitment,uint256 maxPrice,uint256 deadline,uint256 nonce,uint8 mode,bytes32 evalKeysHash,uint256 royalty)"
)
ACCEPTANCE_TYPEHASH: constant(bytes32) = keccak256("Acceptance(bytes32 orderHash)")
RECEIPT_TYPEHASH: constant(bytes32) = keccak256("Receipt(bytes32 orderHash,bytes32 outputHash,uint256 price)")
DELIVERY_TYPEHASH: constant(bytes32) = keccak256(
    "Delivery(bytes32 orderHash,bytes32 instancesHash,bytes32 proofHash)"
)

struct Order:
    client: address
    node: address
    model_id: uint256
    input_commitment: bytes32  # Poseidon hash of the input (EZKL hashed input, instances[0])
    max_price: uint256  # the most the client pays; what a proof claim charges
    deadline: uint256  # the node delivers (off chain) by then
    nonce: uint256  # unique per (client, node)
    mode: uint8  # 1 = ZK (the only mode this market takes)
    eval_keys_hash: bytes32  # FHE: reserved; ZK: zero
    # the model owner's amount, fixed when the order is signed: list price x royalty_bps (as
    # JobMarket.open_job fixes it); at least the model's current royalty, at most the price paid.
    # The rest of the price, less the protocol fee, is the node's: its offer is not the owner's.
    royalty: uint256

struct SignedReceipt:
    order: Order
    output_hash: bytes32  # keccak256(abi_encode(outputs)), as JobMarket stores it
    price: uint256  # what the client pays, at most order.max_price
    client_sig: Bytes[65]  # the client's EIP-712 signature of Receipt

struct Demand:
    bond: uint256
    due: uint256  # the node answers before this time; 0 = no demand

struct WithdrawRequest:
    amount: uint256
    unlock_at: uint256  # 0 = none

struct OrderState:
    deposit: uint256  # the client's deposit with the node
    withdraw_unlock_at: uint256  # its pending withdrawal's unlock time; 0 = none
    nonce_used: bool  # the order nonce is spent
    now: uint256  # block.timestamp of the block the call ran in

interface Models:
    def royalty_amount(model_id: uint256) -> (address, uint256): view

interface Nodes:
    def slash(node: address, amount: uint256, challenger: address, reason: String[64]) -> uint256: nonpayable
    def unbond_delay() -> uint256: view

interface Verifier:
    def is_registered(model_id: uint256) -> bool: view

event Deposited:
    client: indexed(address)
    node: indexed(address)
    amount: uint256

event WithdrawRequested:
    client: indexed(address)
    node: indexed(address)
    amount: uint256
    unlock_at: uint256

event DepositWithdrawn:
    client: indexed(address)
    node: indexed(address)
    amount: uint256

event ReceiptSettled:
    order_hash: indexed(bytes32)
    price: uint256

event ReceiptSkipped:
    order_hash: indexed(bytes32)
    reason: String[32]

event BatchSettled:
    node: indexed(address)
    settled: uint256
    skipped: uint256
    node_amount: uint256
    total: uint256

event ClaimedWithProof:
    order_hash: indexed(bytes32)
    node: indexed(address)
    output_hash: bytes32
    proof_hash: bytes32
    paid: uint256

event DeliveryDemanded:
    order_hash: indexed(bytes32)
    client: indexed(address)
    bond: uint256
    due: uint256

event DemandResolved:
    order_hash: indexed(bytes32)
    node_slashed: bool
    bond_to: indexed(address)

event Challenged:
    order_hash: indexed(bytes32)
    challenger: indexed(address)

event Collected:
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
# fixed for the market's life: a verifier swapped under open orders could turn an honest
# node's valid Delivery into a slash (JobMarket binds each job to its verifier for this reason)
verifier: public(immutable(address))

treasury: public(address)
fee_bps: public(uint256)
slash_amount: public(uint256)
max_deadline: public(uint256)  # longest order a node or client should sign (both enforce it)
claim_window: public(uint256)  # after an order's deadline: proof claims and demands
response_window: public(uint256)  # a demanded node answers within it
withdraw_delay: public(uint256)
demand_bond: public(uint256)
claim_surcharge: public(uint256)  # added to a proof claim: the client's receipt would have cost nothing

deposits: public(HashMap[address, HashMap[address, uint256]])  # client -> node -> amount
withdrawals: public(HashMap[address, HashMap[address, WithdrawRequest]])
_nonce_words: HashMap[address, HashMap[address, HashMap[uint256, uint256]]]  # client -> node -> word
demands: public(HashMap[bytes32, Demand])
pending: public(HashMap[address, uint256])


@deploy
def __init__(_token: IERC20, _models: Models, _nodes: Nodes, _verifier: address, _treasury: address):
    """
    @param _token The VEIL token.
    @param _models The ModelRegistry (royalties).
    @param _nodes The NodeRegistry (must authorise this contract to slash).
    @param _verifier The ZK verifier adapter (verify, is_registered); fixed.
    @param _treasury Receives the protocol fee.
    """
    assert _treasury != empty(address), "zero treasury"
    assert _verifier != empty(address), "zero verifier"
    token = _token
    models = _models
    nodes = _nodes
    verifier = _verifier
    ownable.__init__()
    eip712_domain_separator.__init__("VeilproofReceiptMarket", "1")
    self.treasury = _treasury
    self.max_deadline = 86400
    self.claim_window = 3600
    self.response_window = 3600
    self.withdraw_delay = 2 * 86400
    self._check_horizon(86400, 3600, 3600, 2 * 86400)


# ------------------------------------------------------------------ internal
@internal
@view
def _only_owner():
    assert msg.sender == ownable.owner, "not owner"


@internal
@view
def _check_horizon(max_deadline: uint256, claim_window: uint256, response_window: uint256, delay: uint256):
    """
    An order accepted now can end in a slash until deadline + claim window + response window;
    the node must still be bonded then. A client's withdrawal requested now must unlock after
    every order the node accepted before it can be claimed (deadline + claim window + response).
    """
    horizon: uint256 = max_deadline + claim_window + response_window
    assert horizon < staticcall nodes.unbond_delay(), "exceeds unbond delay"
    assert delay > horizon, "withdraw delay too short"


@internal
@pure
def _order_struct_hash(o: Order) -> bytes32:
    return keccak256(
        abi_encode(
            ORDER_TYPEHASH,
            o.client,
            o.node,
            o.model_id,
            o.input_commitment,
            o.max_price,
            o.deadline,
            o.nonce,
            o.mode,
            o.eval_keys_hash,
            o.royalty,
        )
    )


@internal
@view
def _digest(struct_hash: bytes32) -> bytes32:
    return eip712_domain_separator._hash_typed_data_v4(struct_hash)


@internal
@view
def _nonce_used(o: Order) -> bool:
    word: uint256 = self._nonce_words[o.client][o.node][o.nonce >> 8]
    return word & (1 << (o.nonce & 255)) != 0


@internal
def _spend_nonce(o: Order):
    assert not self._nonce_used(o), "order closed"
    self._nonce_words[o.client][o.node][o.nonce >> 8] |= 1 << (o.nonce & 255)


@internal
def _pay(o: Order, price: uint256, extra: uint256) -> uint256:
    """
    Split `price`: the owner the royalty the order binds, the treasury its fee on the rest, the
    node what is left plus `extra`; returns the node's part.
    """
    owner: address = empty(address)
    current: uint256 = 0
    owner, current = staticcall models.royalty_amount(o.model_id)
    assert owner != empty(address), "unknown model"
    assert o.royalty >= current, "royalty below model's"
    assert o.royalty <= price, "price below royalty"
    fee: uint256 = (price - o.royalty) * self.fee_bps // MAX_BPS
    node_amount: uint256 = price - fee - o.royalty + extra
    self.pending[o.node] += node_amount
    self.pending[owner] += o.royalty
    self.pending[self.treasury] += fee
    return node_amount


@internal
@view
def _verify(model_id: uint256, proof: Bytes[MAX_PROOF], instances: DynArray[uint256, MAX_INSTANCES]) -> bool:
    """
    Ask the verifier; one that reverts rejects the proof, one that ran out of gas says
    nothing: revert so nobody gets an honest node slashed by sending too little gas.
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


@internal
def _slash(node: address, challenger: address, reason: String[64]):
    if self.slash_amount > 0:
        extcall nodes.slash(node, self.slash_amount, challenger, reason)


# ------------------------------------------------------------------ deposits
@external
def deposit(node: address, amount: uint256):
    """
    @notice Deposit VEIL that `node` may be paid from (approve first). Per node, so that no
            other node's settlement can spend what this node counts on.
    @param node The node the deposit is for.
    @param amount Amount in VEIL, nonzero.
    """
    assert amount > 0, "zero amount"
    assert node != empty(address), "zero node"
    self.deposits[msg.sender][node] += amount
    log Deposited(client=msg.sender, node=node, amount=amount)
    assert extcall token.transferFrom(msg.sender, self, amount), "transfer failed"


@external
def request_withdraw(node: address, amount: uint256):
    """
    @notice Start taking back unspent deposit: `withdraw` works after `withdraw_delay`,
            during which the node can still settle and claim what it is owed. Replaces an
            earlier request (and restarts its delay).
    @param node The node the deposit is for.
    @param amount How much to take back (capped at what is left when withdrawn).
    """
    assert amount > 0, "zero amount"
    unlock_at: uint256 = block.timestamp + self.withdraw_delay
    self.withdrawals[msg.sender][node] = WithdrawRequest(amount=amount, unlock_at=unlock_at)
    log WithdrawRequested(client=msg.sender, node=node, amount=amount, unlock_at=unlock_at)


@external
def withdraw(node: address) -> uint256:
    """
    @notice Take back the deposit requested with `request_withdraw`, once its delay passed.
    @param node The node the deposit is for.
    @return The amount sent (the request, capped at the deposit left).
    """
    req: WithdrawRequest = self.withdrawals[msg.sender][node]
    assert req.unlock_at != 0, "no request"
    assert block.timestamp >= req.unlock_at, "withdraw delay"
    amount: uint256 = min(req.amount, self.deposits[msg.sender][node])
    self.withdrawals[msg.sender][node] = empty(WithdrawRequest)
    self.deposits[msg.sender][node] -= amount
    log DepositWithdrawn(client=msg.sender, node=node, amount=amount)
    if amount > 0:
        assert extcall token.transfer(msg.sender, amount), "transfer failed"
    return amount


# ------------------------------------------------------------------ happy path
@external
def settle(receipts: DynArray[SignedReceipt, MAX_BATCH]) -> uint256:
    """
    @notice Get paid for receipts the caller's clients signed, many in one transaction.
            A receipt that cannot be paid (another node's, replayed, above its order's price,
            bad signature, unknown model, deposit short) is skipped with `ReceiptSkipped`
            and its nonce stays unspent; the others settle. Check with an eth_call first.
    @dev Deposits, nonce words and royalties are kept in memory while consecutive receipts
         share a client / nonce word / model, and written once per run: sort receipts by
         (client, nonce) to pay one storage write per client instead of one per receipt.
    @param receipts Receipts for orders whose node is the caller, client-signed.
    @return How many settled.
    """
    node: address = msg.sender
    fee_bps: uint256 = self.fee_bps
    cl: address = empty(address)
    bal: uint256 = 0
    widx: uint256 = UNSET
    word: uint256 = 0
    mid: uint256 = UNSET
    mowner: address = empty(address)
    mroyalty: uint256 = 0
    macc: uint256 = 0
    earned: uint256 = 0
    fees: uint256 = 0
    total: uint256 = 0
    count: uint256 = 0
    for r: SignedReceipt in receipts:
        o: Order = r.order
        oh: bytes32 = self._order_struct_hash(o)
        if o.client != cl:
            if cl != empty(address):
                self.deposits[cl][node] = bal
                if widx != UNSET:
                    self._nonce_words[cl][node][widx] = word
            cl = o.client
            bal = self.deposits[cl][node]
            widx = UNSET
        wi: uint256 = o.nonce >> 8
        bit: uint256 = 1 << (o.nonce & 255)
        if wi != widx:
            if widx != UNSET:
                self._nonce_words[cl][node][widx] = word
            widx = wi
            word = self._nonce_words[cl][node][wi]
        if o.model_id != mid:
            if macc > 0:
                self.pending[mowner] += macc
                macc = 0
            mid = o.model_id
            mowner, mroyalty = staticcall models.royalty_amount(mid)
        reason: String[32] = ""
        if o.node != node:
            reason = "not order node"
        elif o.mode != MODE_ZK:
            reason = "not zk"
        elif word & bit != 0:
            reason = "order closed"
        elif r.price > o.max_price:
            reason = "price above max"
        elif r.price > bal:
            reason = "deposit short"
        elif mowner == empty(address):
            reason = "unknown model"
        elif o.royalty < mroyalty:
            reason = "royalty below model's"
        elif o.royalty > r.price:
            reason = "price below royalty"
        elif not signatures._is_valid_signature_now(
            o.client,
            self._digest(keccak256(abi_encode(RECEIPT_TYPEHASH, oh, r.output_hash, r.price))),
            r.client_sig,
        ):
            reason = "bad signature"
        if len(reason) > 0:
            log ReceiptSkipped(order_hash=oh, reason=reason)
            continue
        word |= bit
        bal -= r.price
        # the owner's royalty is the order's (fixed at signing), the fee is on the node's part: the
        # same split as a JobMarket job priced by the node's offer
        fee: uint256 = (r.price - o.royalty) * fee_bps // MAX_BPS
        macc += o.royalty
        fees += fee
        earned += r.price - fee - o.royalty
        total += r.price
        count += 1
        log ReceiptSettled(order_hash=oh, price=r.price)
    if cl != empty(address):
        self.deposits[cl][node] = bal
        if widx != UNSET:
            self._nonce_words[cl][node][widx] = word
    if macc > 0:
        self.pending[mowner] += macc
    if earned > 0:
        self.pending[node] += earned
    if fees > 0:
        self.pending[self.treasury] += fees
    log BatchSettled(node=node, settled=count, skipped=len(receipts) - count, node_amount=earned, total=total)
    return count


# ------------------------------------------------------------------ unhappy paths
@external
def claim_with_proof(
    order: Order, client_sig: Bytes[65], instances: DynArray[uint256, MAX_INSTANCES], proof: Bytes[MAX_PROOF]
):
    """
    @notice The client got the result but withholds its receipt: put the proof on chain and
            be paid the order's max price plus `claim_surcharge` (capped by the deposit) from
            the client's deposit. Also answers a demand (the node takes its bond). After the
            order's deadline, until deadline + claim window or a demand's due time.
    @param order The client-signed order; its node is the caller.
    @param client_sig The client's EIP-712 signature of the order.
    @param instances Public instances: [input commitment, outputs...].
    @param proof The EZKL proof bytes.
    """
    assert msg.sender == order.node, "not order node"
    assert order.mode == MODE_ZK, "not zk"
    oh: bytes32 = self._order_struct_hash(order)
    assert signatures._is_valid_signature_now(order.client, self._digest(oh), client_sig), "bad client signature"
    # after the deadline only: until then the client's receipt is the way to pay, so a node cannot
    # race the client's receipt with a claim to earn the surcharge (or the full max price)
    assert block.timestamp > order.deadline, "claim too early"
    d: Demand = self.demands[oh]
    if d.due != 0:
        assert block.timestamp < d.due, "demand expired"
    else:
        assert block.timestamp <= order.deadline + self.claim_window, "claim window closed"
    assert len(instances) > 0 and instances[0] == convert(order.input_commitment, uint256), "input mismatch"
    bal: uint256 = self.deposits[order.client][msg.sender]
    assert bal >= order.max_price, "deposit short"
    self._spend_nonce(order)
    assert self._verify(order.model_id, proof, instances), "proof rejected"
    extra: uint256 = min(self.claim_surcharge, bal - order.max_price)
    self.deposits[order.client][msg.sender] = bal - order.max_price - extra
    extra += d.bond
    if d.due != 0:
        self.demands[oh] = empty(Demand)
        log DemandResolved(order_hash=oh, node_slashed=False, bond_to=msg.sender)
    paid: uint256 = self._pay(order, order.max_price, extra)
    outputs: DynArray[uint256, MAX_INSTANCES] = []
    for i: uint256 in range(1, MAX_INSTANCES):
        if i >= len(instances):
            break
        outputs.append(instances[i])
    log ClaimedWithProof(
        order_hash=oh, node=msg.sender, output_hash=keccak256(abi_encode(outputs)), proof_hash=keccak256(proof), paid=paid
    )


@external
def demand(order: Order, acceptance_sig: Bytes[65]):
    """
    @notice The node accepted the order but delivered nothing by its deadline: demand the
            result on chain, with a bond of `demand_bond` (approve first). The node must
            `claim_with_proof` (or settle your receipt) within `response_window` and then takes
            the bond; otherwise `resolve` slashes it and returns the bond.
    @param order The order; the caller is its client.
    @param acceptance_sig The node's EIP-712 signature of Acceptance(orderHash).
    """
    assert msg.sender == order.client, "not order client"
    assert order.mode == MODE_ZK, "not zk"
    oh: bytes32 = self._order_struct_hash(order)
    accepted: bytes32 = self._digest(keccak256(abi_encode(ACCEPTANCE_TYPEHASH, oh)))
    assert signatures._is_valid_signature_now(order.node, accepted, acceptance_sig), "bad node signature"
    assert block.timestamp > order.deadline, "deadline not passed"
    assert block.timestamp <= order.deadline + self.claim_window, "demand window closed"
    assert not self._nonce_used(order), "order closed"
    assert self.demands[oh].due == 0, "already demanded"
    assert staticcall Verifier(verifier).is_registered(order.model_id), "model not registered"
    bond: uint256 = self.demand_bond
    due: uint256 = block.timestamp + self.response_window
    self.demands[oh] = Demand(bond=bond, due=due)
    log DeliveryDemanded(order_hash=oh, client=msg.sender, bond=bond, due=due)
    if bond > 0:
        assert extcall token.transferFrom(msg.sender, self, bond), "transfer failed"


@external
def resolve(order: Order):
    """
    @notice Close a demand. If the order was paid meanwhile (the client's receipt settled),
            the node delivered: it takes the bond. Otherwise, once the due time passed, the
            node is slashed, the order closed unpaid and the bond returned. Anyone may call.
    @param order The demanded order.
    """
    oh: bytes32 = self._order_struct_hash(order)
    d: Demand = self.demands[oh]
    assert d.due != 0, "no demand"
    self.demands[oh] = empty(Demand)
    if self._nonce_used(order):
        self.pending[order.node] += d.bond
        log DemandResolved(order_hash=oh, node_slashed=False, bond_to=order.node)
        return
    assert block.timestamp >= d.due, "response pending"
    self._spend_nonce(order)
    self.pending[order.client] += d.bond
    log DemandResolved(order_hash=oh, node_slashed=True, bond_to=order.client)
    self._slash(order.node, order.client, "no delivery on demand")


@external
def challenge(
    order: Order, instances: DynArray[uint256, MAX_INSTANCES], proof: Bytes[MAX_PROOF], node_sig: Bytes[65]
):
    """
    @notice Prove that the node signed a Delivery whose proof does not verify (wrong input,
            wrong model, edited output): the order closes unpaid and the node is slashed,
            the caller taking the challenger share. Reverts "claim is valid" otherwise.
            Until the order closes (paid, slashed) and within deadline + both windows.
    @param order The order the delivery was for.
    @param instances Instances the node sent.
    @param proof Proof the node sent.
    @param node_sig The node's EIP-712 signature of Delivery(orderHash, instancesHash, proofHash).
    """
    oh: bytes32 = self._order_struct_hash(order)
    delivery: bytes32 = keccak256(
        abi_encode(DELIVERY_TYPEHASH, oh, keccak256(abi_encode(instances)), keccak256(proof))
    )
    assert signatures._is_valid_signature_now(order.node, self._digest(delivery), node_sig), "bad node signature"
    assert block.timestamp <= order.deadline + self.claim_window + self.response_window, "challenge window closed"
    assert staticcall Verifier(verifier).is_registered(order.model_id), "model not registered"
    valid: bool = len(instances) > 0 and instances[0] == convert(order.input_commitment, uint256)
    if valid:
        valid = self._verify(order.model_id, proof, instances)
    assert not valid, "claim is valid"
    self._spend_nonce(order)
    d: Demand = self.demands[oh]
    if d.due != 0:
        self.demands[oh] = empty(Demand)
        self.pending[order.client] += d.bond
        log DemandResolved(order_hash=oh, node_slashed=True, bond_to=order.client)
    log Challenged(order_hash=oh, challenger=msg.sender)
    self._slash(order.node, msg.sender, "invalid zk delivery")


@external
def collect() -> uint256:
    """
    @notice Pull the caller's earnings, royalties, fees and returned bonds.
    @return The amount sent.
    """
    amount: uint256 = self.pending[msg.sender]
    assert amount > 0, "nothing to collect"
    self.pending[msg.sender] = 0
    log Collected(account=msg.sender, amount=amount)
    assert extcall token.transfer(msg.sender, amount), "transfer failed"
    return amount


# ------------------------------------------------------------------ views
@external
@view
def nonce_used(client: address, node: address, nonce: uint256) -> bool:
    """
    @notice Whether an order nonce of (client, node) is spent (paid, slashed or challenged).
    @param client The order's client.
    @param node The order's node.
    @param nonce The order's nonce.
    @return True once spent.
    """
    return self._nonce_words[client][node][nonce >> 8] & (1 << (nonce & 255)) != 0


@external
@view
def order_state(client: address, node: address, nonce: uint256) -> OrderState:
    """
    @notice What a node checks before it accepts an order, and a client reads before it signs one,
            in one call: the deposit, a pending withdrawal, the nonce and the clock (four round
            trips to a remote node otherwise, on every order).
    @param client The order's client.
    @param node The order's node.
    @param nonce The order's nonce.
    @return (deposit, withdraw_unlock_at, nonce_used, now).
    """
    return OrderState(
        deposit=self.deposits[client][node],
        withdraw_unlock_at=self.withdrawals[client][node].unlock_at,
        nonce_used=self._nonce_words[client][node][nonce >> 8] & (1 << (nonce & 255)) != 0,
        now=block.timestamp,
    )


@external
@view
def order_hash(order: Order) -> bytes32:
    """
    @notice The EIP-712 struct hash of an order (what Acceptance, Receipt and Delivery name).
    @param order The order.
    @return hashStruct(Order).
    """
    return self._order_struct_hash(order)


@external
@view
def DOMAIN_SEPARATOR() -> bytes32:
    """
    @notice The EIP-712 domain separator signatures are checked under.
    @return The separator of ("VeilproofReceiptMarket", "1", chain id, this contract).
    """
    return eip712_domain_separator._domain_separator_v4()


# ------------------------------------------------------------------ admin
@internal
def _set(param: String[32], amount: uint256):
    log ParamSet(param=param, value=amount)


@external
def set_windows(max_deadline: uint256, claim_window: uint256, response_window: uint256, withdraw_delay: uint256):
    """
    @notice Set the order horizon: longest deadline, claim and response windows, withdrawal
            delay. The horizon must fit in the node unbonding delay, and the withdrawal delay
            must outlast it (a client cannot leave with the deposit while orders are claimable).
    @param max_deadline Longest order deadline nodes and clients should sign, seconds.
    @param claim_window After an order's deadline: proof claims and demands, seconds.
    @param response_window A demanded node's time to answer, seconds.
    @param withdraw_delay From `request_withdraw` to `withdraw`, seconds.
    """
    self._only_owner()
    assert max_deadline > 0 and claim_window > 0 and response_window > 0, "zero value"
    self._check_horizon(max_deadline, claim_window, response_window, withdraw_delay)
    self.max_deadline = max_deadline
    self.claim_window = claim_window
    self.response_window = response_window
    self.withdraw_delay = withdraw_delay
    self._set("max_deadline", max_deadline)
    self._set("claim_window", claim_window)
    self._set("response_window", response_window)
    self._set("withdraw_delay", withdraw_delay)


@external
def set_slash_amount(amount: uint256):
    """
    @notice Set how much a node loses for an unanswered demand or an invalid delivery.
    @param amount Amount in VEIL, at most 10,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_SLASH, "slash too high"
    self.slash_amount = amount
    self._set("slash_amount", amount)


@external
def set_demand_bond(amount: uint256):
    """
    @notice Set the bond a client puts up to demand a delivery (the node's if it answers).
    @param amount Amount in VEIL, at most 1,000 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_BOND, "bond too high"
    self.demand_bond = amount
    self._set("demand_bond", amount)


@external
def set_claim_surcharge(amount: uint256):
    """
    @notice Set what a proof claim charges the client on top of the order's max price (the
            node's gas for the on-chain verification a receipt would have saved).
    @param amount Amount in VEIL, at most 100 VEIL.
    """
    self._only_owner()
    assert amount <= MAX_SURCHARGE, "surcharge too high"
    self.claim_surcharge = amount
    self._set("claim_surcharge", amount)


@external
def set_fee_bps(bps: uint256):
    """
    @notice Set the protocol fee taken from each payment for the treasury.
    @param bps Basis points, at most 1000 (10%).
    """
    self._only_owner()
    assert bps <= MAX_FEE_BPS, "fee too high"
    self.fee_bps = bps
    self._set("fee_bps", bps)


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
def transfer_ownership(new_owner: address):
    """
    @notice Hand the owner role to `new_owner`.
    @param new_owner New owner, not the zero address.
    """
    self._only_owner()
    assert new_owner != empty(address), "zero address"
    ownable._transfer_ownership(new_owner)
    log RoleSet(role="owner", account=new_owner)
