"""``ReceiptMarket``: pay-on-proof with batched settlement (contracts/ReceiptMarket.vy).

Why a second market: JobMarket verifies every ZK proof on chain (~1.5M gas a job). Here the client
verifies the proof locally and signs an EIP-712 receipt; the node settles many receipts in one
transaction against the client's deposit. The chain sees a proof only in a dispute
(docs/settlement.md). This module holds the four typed messages (Order, Acceptance, Receipt,
Delivery) exactly as the contract hashes them, the signing helpers, and the verbs.

Who calls what: a client deposits, requests/withdraws, signs orders and receipts, demands; its
node signs acceptances and deliveries, settles receipts, claims with a proof, collects; anyone
resolves a demand or challenges a bad delivery.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_keys import keys as eth_keys
from eth_utils import keccak, to_checksum_address

from veilproof.chain.eip712 import Eip712Domain, TypedData
from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt
from veilproof.chain.zk_verifier_adapter import ZkVerifierAdapter
from veilproof.errors import InputError

if TYPE_CHECKING:
    from veilproof.chain.view import ChainView

DOMAIN_NAME = "VeilproofReceiptMarket"
DOMAIN_VERSION = "1"
MODE_ZK = 1
MAX_BATCH = 64

ORDER_FIELDS: tuple[tuple[str, str], ...] = (
    ("client", "address"),
    ("node", "address"),
    ("modelId", "uint256"),
    ("inputCommitment", "bytes32"),
    ("maxPrice", "uint256"),
    ("deadline", "uint256"),
    ("nonce", "uint256"),
    ("mode", "uint8"),
    ("evalKeysHash", "bytes32"),
    ("royalty", "uint256"),
)
ACCEPTANCE_FIELDS = (("orderHash", "bytes32"),)
RECEIPT_FIELDS = (("orderHash", "bytes32"), ("outputHash", "bytes32"), ("price", "uint256"))
# secp256k1's group order and its half: lib/signatures.vy refuses s above it (EIP-2 malleable twins)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2
DELIVERY_FIELDS = (("orderHash", "bytes32"), ("instancesHash", "bytes32"), ("proofHash", "bytes32"))


def _b32(name: str, v: bytes) -> bytes:
    if not isinstance(v, (bytes, bytearray)) or len(v) != 32:
        raise InputError(name, "32 bytes", v)
    return bytes(v)


@dataclass(frozen=True)
class Order:
    """A job as the client signs it. ``nonce`` is unique per (client, node); ``max_price`` is what
    a proof claim charges (a receipt may name less)."""

    client: str
    node: str
    model_id: int
    input_commitment: bytes  # 32 bytes: EZKL hashed input (instances[0]) big-endian
    max_price: int
    deadline: int
    nonce: int
    mode: int = MODE_ZK
    eval_keys_hash: bytes = b"\x00" * 32
    # the model owner's amount (list price x royalty_bps, :meth:`ReceiptMarket.model_royalty`), bound
    # here so neither side can move the node's offer to the owner or the owner's royalty to the node
    royalty: int = 0

    def __post_init__(self) -> None:
        _b32("input_commitment", self.input_commitment)
        _b32("eval_keys_hash", self.eval_keys_hash)
        if self.mode != MODE_ZK:
            raise InputError(
                "mode", "1 (ZK): ReceiptMarket takes ZK orders only; FHE jobs use JobMarket", self.mode
            )
        for name in ("model_id", "max_price", "deadline", "nonce", "royalty"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0 or v >= 2**256:
                raise InputError(name, "an integer in [0, 2**256)", v)

    def message(self) -> dict[str, Any]:
        return {
            "client": to_checksum_address(self.client),
            "node": to_checksum_address(self.node),
            "modelId": self.model_id,
            "inputCommitment": self.input_commitment,
            "maxPrice": self.max_price,
            "deadline": self.deadline,
            "nonce": self.nonce,
            "mode": self.mode,
            "evalKeysHash": self.eval_keys_hash,
            "royalty": self.royalty,
        }

    def as_tuple(self) -> tuple[Any, ...]:
        """The contract's ``Order`` struct, for ABI encoding."""
        return (
            to_checksum_address(self.client),
            to_checksum_address(self.node),
            self.model_id,
            self.input_commitment,
            self.max_price,
            self.deadline,
            self.nonce,
            self.mode,
            self.eval_keys_hash,
            self.royalty,
        )


@dataclass(frozen=True)
class SignedReceipt:
    """The client's consent to pay ``price`` for ``order``'s result with outputs ``output_hash``."""

    order: Order
    output_hash: bytes
    price: int
    client_sig: bytes

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.order.as_tuple(), self.output_hash, self.price, self.client_sig)


@dataclass(frozen=True)
class SettleResult:
    """What one ``settle`` did: order hashes paid, and (order hash, reason) skipped."""

    settled: list[bytes]
    skipped: list[tuple[bytes, str]]
    node_amount: int
    total: int
    receipt: Receipt


class OrderRefused(InputError):
    """A node's acceptance check failed: ``field`` names what, ``expected`` what would be accepted.

    Accepting such an order could leave the node unpaid (deposit short, withdrawal pending, nonce
    taken) or unable to answer a demand (model not registered with the verifier)."""


@dataclass(frozen=True)
class OrderState:
    """What one ``order_state`` call reads for an order of (client, node, nonce)."""

    deposit: int  # the client's deposit with the node
    withdraw_unlock_at: int  # its pending withdrawal's unlock time; 0 = none
    nonce_used: bool
    now: int  # the chain clock the call ran at


@dataclass(frozen=True)
class Demand:
    bond: int
    due: int  # 0 = no demand


def output_hash(instances: Sequence[int]) -> bytes:
    """``keccak256(abi_encode(outputs))`` over instances[1:], as JobMarket and ClaimedWithProof hash them."""
    return keccak(encode(["uint256[]"], [[int(v) for v in instances[1:]]]))


class ReceiptMarket(ContractFacade):
    CONTRACT = "ReceiptMarket"

    # --- typed data --------------------------------------------------------------------------------
    def domain(self) -> Eip712Domain:
        return Eip712Domain(DOMAIN_NAME, DOMAIN_VERSION, self.net.chain_id, self.address)

    def _typed(self, primary: str, fields: Sequence[tuple[str, str]], msg: dict[str, Any]) -> TypedData:
        return TypedData(self.domain(), primary, fields, msg)

    def order_typed(self, order: Order) -> TypedData:
        return self._typed("Order", ORDER_FIELDS, order.message())

    def order_hash(self, order: Order) -> bytes:
        """hashStruct(Order): the name Acceptance, Receipt and Delivery give the order."""
        return bytes(self.order_typed(order).signable().body)

    def sign_order(self, order: Order, client: LocalAccount) -> bytes:
        self._check_signer("client", order.client, client)
        return self.order_typed(order).sign(client)

    def sign_acceptance(self, order: Order, node: LocalAccount) -> bytes:
        """The node's commitment to deliver ``order`` by its deadline (a demand can slash it)."""
        self._check_signer("node", order.node, node)
        return self._typed("Acceptance", ACCEPTANCE_FIELDS, {"orderHash": self.order_hash(order)}).sign(node)

    def sign_receipt(self, order: Order, out_hash: bytes, price: int, client: LocalAccount) -> SignedReceipt:
        """The client's receipt, after it verified the proof locally."""
        self._check_signer("client", order.client, client)
        _b32("output_hash", out_hash)
        if not order.royalty <= price <= order.max_price:
            raise InputError(
                "price", f"between the order's royalty {order.royalty} and max_price {order.max_price}", price
            )
        msg = {"orderHash": self.order_hash(order), "outputHash": out_hash, "price": price}
        sig = self._typed("Receipt", RECEIPT_FIELDS, msg).sign(client)
        return SignedReceipt(order, bytes(out_hash), price, sig)

    def receipt_digest(self, r: SignedReceipt) -> bytes:
        """The EIP-712 digest the client signs for ``r`` (what the market recovers, or asks a contract
        client's ``isValidSignature`` about)."""
        msg = {"orderHash": self.order_hash(r.order), "outputHash": bytes(r.output_hash), "price": r.price}
        return self._typed("Receipt", RECEIPT_FIELDS, msg).digest()

    def receipt_signed_by_key(self, r: SignedReceipt) -> bool:
        """Whether ``r.client_sig`` is a signature of the receipt by the key of ``r.order.client`` that
        the contract's key check (``lib/signatures.vy`` ``_recover``) accepts: exactly 65 bytes, v in
        {0, 1, 27, 28}, low s, recovering to the client. Offline, no chain read. It says nothing of a
        client that is a contract (the market asks its ERC-1271 ``isValidSignature`` instead): a caller
        must know the client has no code. False: not such a signature (ask the chain)."""
        sig = bytes(r.client_sig)
        if len(sig) != 65:
            return False
        rr, ss, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        v = v + 27 if v < 27 else v
        if v not in (27, 28) or not 0 < rr < SECP256K1_N or not 0 < ss <= SECP256K1_HALF_N:
            return False
        digest = self.receipt_digest(r)
        try:
            signer = eth_keys.Signature(vrs=(v - 27, rr, ss)).recover_public_key_from_msg_hash(digest)
        except Exception:  # eth_keys' BadSignature / ValidationError: the EVM's ecrecover gives 0
            return False
        return signer.to_checksum_address().lower() == r.order.client.lower()

    def sign_delivery(
        self, order: Order, instances: Sequence[int], proof: bytes, node: LocalAccount
    ) -> bytes:
        """The node's signed claim that (instances, proof) is ``order``'s result: a challenge
        slashes it if the proof does not verify."""
        self._check_signer("node", order.node, node)
        msg = {
            "orderHash": self.order_hash(order),
            "instancesHash": keccak(encode(["uint256[]"], [[int(v) for v in instances]])),
            "proofHash": keccak(bytes(proof)),
        }
        return self._typed("Delivery", DELIVERY_FIELDS, msg).sign(node)

    @staticmethod
    def _check_signer(role: str, expected: str, acct: LocalAccount) -> None:
        if to_checksum_address(expected) != to_checksum_address(acct.address):
            raise InputError(f"order.{role}", f"the signer's address {acct.address}", expected)

    # --- reads -------------------------------------------------------------------------------------
    # Addresses in any case: a node keeps its clients' lowercased (node/store.py), and web3 refuses a
    # non-checksummed one; the maintenance loop's withdrawal check raised on every pass before this.
    def deposit_of(self, client: str, node: str) -> int:
        return int(self._call("deposits", to_checksum_address(client), to_checksum_address(node)))

    def pending(self, account: str) -> int:
        return int(self._call("pending", to_checksum_address(account)))

    def nonce_used(self, client: str, node: str, nonce: int) -> bool:
        return bool(self._call("nonce_used", to_checksum_address(client), to_checksum_address(node), nonce))

    def order_state(self, client: str, node: str, nonce: int) -> OrderState:
        """The deposit, pending withdrawal, nonce and chain clock of an order, in one call (not four:
        a node checks them on every order it accepts, a client before every order it signs)."""
        deposit, unlock, used, now = self._call(
            "order_state", to_checksum_address(client), to_checksum_address(node), nonce
        )
        return OrderState(int(deposit), int(unlock), bool(used), int(now))

    def demand_of(self, order: Order) -> Demand:
        bond, due = self._call("demands", self.order_hash(order))
        return Demand(int(bond), int(due))

    def withdrawal(self, client: str, node: str) -> tuple[int, int]:
        """(amount, unlock_at) of the client's pending withdrawal request; (0, 0) if none."""
        amount, unlock = self._call("withdrawals", to_checksum_address(client), to_checksum_address(node))
        return int(amount), int(unlock)

    def param(self, name: str, reads: ChainView | None = None) -> int:
        """A uint parameter: withdraw_delay, claim_window, response_window, demand_bond, ...; through
        ``reads`` (e.g. ``Suite.terms_view``, re-read after a ``ParamSet``) when given."""
        if reads is not None:
            return reads.read(("rm.param", name), lambda: self.param(name))
        return int(self._call(name))

    def model_royalty(self, model_id: int, reads: ChainView | None = None) -> int:
        """The owner's royalty on one job of ``model_id`` (list price x royalty_bps, what JobMarket fixes
        at open_job for an offer-priced job): what an order's ``royalty`` must be. 0 for an unknown model.
        Through ``reads`` (re-read after any ModelRegistry event) when given."""
        if reads is not None:
            return reads.read(("royalty", model_id), lambda: self.model_royalty(model_id))
        _, amount = self.net.call(self._models.functions.royalty_amount(model_id))
        return int(amount)

    @functools.cached_property
    def _models(self) -> Any:
        """The ModelRegistry this market reads royalties from: immutable in the contract, so bound
        once (binding a web3 contract costs more than the call)."""
        return self.net.contract("ModelRegistry", str(self._call("models")))

    def reserve(self, order: Order, reads: ChainView | None = None) -> int:
        """What an accepted order can take from the client's deposit: its max price plus the claim
        surcharge (the proof-claim path, when the receipt is withheld)."""
        return order.max_price + self.param("claim_surcharge", reads)

    def check_order(
        self,
        order: Order,
        *,
        node: str,
        outstanding: int,
        nonces_taken: set[int],
        reads: ChainView | None = None,
        state: OrderState | None = None,
    ) -> None:
        """What a node checks before it signs an ``Acceptance`` (docs/settlement.md, "Life of a job").

        ``reads``: a view the market's parameters and the model's royalty are read through (a node
        passes its suite's ``terms_view``); the deposit, the withdrawal, the nonce and the chain time
        are always read fresh, in one ``order_state`` call: they are what the client can change between
        two orders (``state``: that reading, when the caller made it a moment ago).

        ``outstanding``: what this client's orders the node accepted and has not settled can cost,
        each at its max price plus the claim surcharge (:meth:`reserve`); ``nonces_taken``: the nonces
        of those orders. Raises :class:`OrderRefused`; returns if the node would be paid for
        delivering (by receipt, or by proof claim after the deadline).

        Why the surcharge is reserved too: a claim takes ``min(surcharge, deposit - price)``; a client
        keeping its deposit at exactly the sum of its max prices and withholding every receipt would
        otherwise pay no surcharge, and the honest node would pay the claim's gas (found by the
        economic simulation, ``rm_reserve_surcharge``).
        """
        if to_checksum_address(order.node) != to_checksum_address(node):
            raise OrderRefused("order.node", f"this node {node}", order.node)
        if state is None:
            state = self.order_state(order.client, node, order.nonce)
        now = state.now
        if not now < order.deadline <= now + self.param("max_deadline", reads):
            raise OrderRefused(
                "order.deadline", "in the future, within the market's max_deadline", order.deadline
            )
        if order.nonce in nonces_taken or state.nonce_used:
            raise OrderRefused("order.nonce", "a nonce not used before with this node", order.nonce)
        royalty = self.model_royalty(order.model_id, reads)
        if order.royalty != royalty:
            # below: the market would skip the receipt; above: the owner would take part of the offer
            raise OrderRefused("order.royalty", f"the model's royalty {royalty}", order.royalty)
        if order.max_price < order.royalty:
            raise OrderRefused("order.max_price", f"at least the royalty {order.royalty}", order.max_price)
        if state.withdraw_unlock_at != 0:
            raise OrderRefused("order.client", "no pending withdrawal of the deposit", order.client)
        deposit = state.deposit
        need = outstanding + self.reserve(order, reads)
        if deposit < need:
            raise OrderRefused(
                "deposit", f"at least {need} (unsettled orders + max_price + claim surcharge)", deposit
            )
        if not self.model_verifiable(order.model_id):
            raise OrderRefused(
                "order.model_id", "a model registered with the market's verifier", order.model_id
            )

    def model_verifiable(self, model_id: int) -> bool:
        """Whether the market's verifier adapter has the model's VKA (so a proof claim can pay). A
        registration is once per model and final, so a yes is remembered."""
        if model_id in self._verifiable:
            return True
        ok = self._adapter.is_registered(model_id)
        if ok:
            self._verifiable.add(model_id)
        return ok

    @functools.cached_property
    def _adapter(self) -> ZkVerifierAdapter:
        """The verifier adapter (immutable in the contract): bound once."""
        return ZkVerifierAdapter(self.net, str(self._call("verifier")))

    @functools.cached_property
    def _verifiable(self) -> set[int]:
        return set()

    # --- client ------------------------------------------------------------------------------------
    def deposit(self, node: str, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("deposit", node, amount, sender=sender)

    def request_withdraw(self, node: str, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("request_withdraw", node, amount, sender=sender)

    def withdraw(self, node: str, *, sender: LocalAccount) -> Receipt:
        return self._send("withdraw", node, sender=sender)

    def demand(self, order: Order, acceptance_sig: bytes, *, sender: LocalAccount) -> Receipt:
        return self._send("demand", order.as_tuple(), acceptance_sig, sender=sender)

    # --- node --------------------------------------------------------------------------------------
    def _batch(self, receipts: Sequence[SignedReceipt]) -> list[tuple[Any, ...]]:
        if not 1 <= len(receipts) <= MAX_BATCH:
            raise InputError("receipts", f"1 to {MAX_BATCH} receipts", len(receipts))
        # sorted by (client, nonce): the contract writes each client's deposit and nonce word once
        # per run of equal keys, so grouping is what makes a batch cheap
        ordered = sorted(receipts, key=lambda r: (r.order.client.lower(), r.order.nonce))
        return [r.as_tuple() for r in ordered]

    def check_settle(self, receipts: Sequence[SignedReceipt], node: str) -> int:
        """How many of ``receipts`` a ``settle`` by ``node`` would pay now (an eth_call)."""
        return int(self.net.call(self._fn("settle", self._batch(receipts)), sender=node))

    def settle(self, receipts: Sequence[SignedReceipt], *, sender: LocalAccount) -> SettleResult:
        rcpt = self._send("settle", self._batch(receipts), sender=sender)
        settled = [bytes(e["order_hash"]) for e in self._events("ReceiptSettled", rcpt)]
        skipped = [(bytes(e["order_hash"]), str(e["reason"])) for e in self._events("ReceiptSkipped", rcpt)]
        (batch,) = self._events("BatchSettled", rcpt)
        return SettleResult(settled, skipped, int(batch["node_amount"]), int(batch["total"]), rcpt)

    def orders_in(self, tx_hash: str) -> list[tuple[Order, int]]:
        """The (order, price) pairs a ``settle`` / ``claim_with_proof`` / ``challenge`` / ``demand``
        transaction carried, decoded from its input (empty for other calls). ReceiptSettled names only
        the order hash: this is how an indexer learns each paid order's client, model and nonce."""
        tx = self.net.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        try:
            fn, args = self.contract.decode_function_input(tx["input"])
        except ValueError:
            return []

        def seq(t: Any) -> list[Any]:  # web3 decodes a struct as a dict in ABI field order
            return list(t.values()) if isinstance(t, dict) else list(t)

        def order(t: Any) -> Order:
            t = seq(t)
            return Order(
                str(t[0]),
                str(t[1]),
                int(t[2]),
                bytes(t[3]),
                int(t[4]),
                int(t[5]),
                int(t[6]),
                int(t[7]),
                bytes(t[8]),
                int(t[9]),  # royalty: part of the signed order, so of its hash
            )

        if fn.fn_name == "settle":
            return [(order(seq(r)[0]), int(seq(r)[2])) for r in args["receipts"]]
        if fn.fn_name in ("claim_with_proof", "challenge", "demand", "resolve"):
            o = order(args["order"])
            return [(o, o.max_price)]
        return []

    def claim_with_proof(
        self,
        order: Order,
        client_sig: bytes,
        instances: Sequence[int],
        proof: bytes,
        *,
        sender: LocalAccount,
        gas: int | None = None,
    ) -> Receipt:
        return self._send(
            "claim_with_proof",
            order.as_tuple(),
            client_sig,
            [int(v) for v in instances],
            proof,
            sender=sender,
            gas=gas,
        )

    def collect(self, *, sender: LocalAccount) -> Receipt:
        return self._send("collect", sender=sender)

    # --- anyone ------------------------------------------------------------------------------------
    def resolve(self, order: Order, *, sender: LocalAccount) -> Receipt:
        return self._send("resolve", order.as_tuple(), sender=sender)

    def challenge(
        self,
        order: Order,
        instances: Sequence[int],
        proof: bytes,
        node_sig: bytes,
        *,
        sender: LocalAccount,
        gas: int | None = None,
    ) -> Receipt:
        return self._send(
            "challenge",
            order.as_tuple(),
            [int(v) for v in instances],
            proof,
            node_sig,
            sender=sender,
            gas=gas,
        )

    def check_challenge(
        self, order: Order, instances: Sequence[int], proof: bytes, node_sig: bytes, *, sender: str
    ) -> None:
        """Raises :class:`ContractReverted` if ``challenge`` would revert now (an eth_call, no gas):
        with reason "claim is valid" when the chain accepts this signed proof, so a client whose local
        check failed on something else (a malformed proof file) pays rather than challenges."""
        self.net.call(
            self._fn("challenge", order.as_tuple(), [int(v) for v in instances], proof, node_sig),
            sender=sender,
        )

    # --- owner -------------------------------------------------------------------------------------
    def set_windows(
        self,
        max_deadline: int,
        claim_window: int,
        response_window: int,
        withdraw_delay: int,
        *,
        sender: LocalAccount,
    ) -> Receipt:
        return self._send(
            "set_windows", max_deadline, claim_window, response_window, withdraw_delay, sender=sender
        )

    def set_slash_amount(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_slash_amount", amount, sender=sender)

    def set_demand_bond(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_demand_bond", amount, sender=sender)

    def set_claim_surcharge(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_claim_surcharge", amount, sender=sender)

    def set_fee_bps(self, bps: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_fee_bps", bps, sender=sender)
