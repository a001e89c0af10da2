"""Pay-on-proof (ReceiptMarket, docs/settlement.md): the node's book of accepted orders and receipts.

Why a section of its own: a JobMarket job is paid by the node's own ``submit_zk`` (the chain verifies
the proof, ~1M gas); here the chain sees no proof on the happy path. The node accepts a client-signed
order only if the client's deposit covers it (``check_order``), signs an ``Acceptance``, proves on
the same warm prover as every ZK job (:meth:`Work._prove`), signs a ``Delivery``, and is paid by the
client's receipt, settled with others in one ``settle``. What keeps the node paid when the client
does not cooperate is the maintenance step :meth:`Receipts.maintain_orders`: it settles receipts
every ``settle_batch`` receipts or ``settle_interval_s`` seconds (at once when a client asked to
withdraw: a settled receipt can no longer be withdrawn from under it), claims with the stored proof
for orders whose receipt never came (after the deadline, ``claim_with_proof``), and answers demands.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import TYPE_CHECKING

from eth_account import Account

from veilproof.chain.node_registry import job_price
from veilproof.chain.receipt_market import (
    MAX_BATCH,
    Order,
    OrderRefused,
    ReceiptMarket,
    SignedReceipt,
    output_hash,
)
from veilproof.errors import ContractReverted, InputError
from veilproof.node import store as st
from veilproof.node.core import ZK_SUBMIT_GAS, NodeCore, log
from veilproof.node.errors import (
    BadInput,
    BadSignature,
    Busy,
    DeadlinePassed,
    DepositTooLow,
    JobNotOpen,
    NotServed,
    PriceBelowOffer,
    Replay,
    UnknownJob,
)
from veilproof.node.timings import JobTimer, phase
from veilproof.protocol.api import (
    JobState,
    OrderAccepted,
    OrderReport,
    ReceiptPost,
    ReceiptStored,
    SignedDelivery,
    WireOrder,
    ZkOrderRequest,
)

if TYPE_CHECKING:
    import numpy as np

    from veilproof.models.package import ZkResult
    from veilproof.node.core import LoadedModel
    from veilproof.node.pool import Reservation


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _unhex(h: str, what: str) -> bytes:
    try:
        return bytes.fromhex(h.removeprefix("0x"))
    except ValueError as e:
        raise BadInput(f"{what}: expected 0x-hex") from e


class Receipts(NodeCore):
    """Orders in, deliveries out, receipts back; settlement and claims in the maintenance loop."""

    _order_lock = threading.Lock()  # check_order + record must be atomic per node (deposit coverage)

    def _receipt_market(self) -> ReceiptMarket:
        rm = self.suite.receipts
        if rm is None:
            raise NotServed("this node's deployment has no ReceiptMarket: use JobMarket jobs")
        return rm

    @staticmethod
    def _order_of(wire: WireOrder) -> Order:
        try:
            return Order(**wire.fields())
        except InputError as e:
            raise BadInput(str(e)) from e

    # --- admission -------------------------------------------------------------------------------
    def submit_order(self, req: ZkOrderRequest) -> OrderAccepted:
        """Check the order (signature, model, input commitment, deadline, deposit, nonce), record it,
        sign the acceptance, queue the proof. Nothing is signed for an order the node would not be
        paid for. Timed like a JobMarket job, from this request to the signed delivery
        (``GET /zk/orders/{hash}`` ``timings``)."""
        with self.timers.recording(JobTimer()) as timer:
            return self._accept_order(req, timer)

    def _accept_order(self, req: ZkOrderRequest, timer: JobTimer) -> OrderAccepted:
        with phase("admission"):
            rm, order, lm = self._order_checks(req)
        envelope = _unhex(req.encrypted_input, "encrypted_input")
        x = self._decode_input(envelope, lm)
        from veilproof.zk.instances import input_commitment

        with phase("commitment"):
            matches = (
                input_commitment(lm.require_zk().settings, x).to_bytes(32, "big") == order.input_commitment
            )
        if not matches:
            raise BadInput("input does not match order.input_commitment")
        order_hash = rm.order_hash(order).hex()
        from sqlalchemy.exc import IntegrityError as DbIntegrityError

        from veilproof.node.pool import QueueFull

        with self._order_lock:
            with phase("record"):
                if self.db.get_order(order_hash) is not None:
                    raise Replay("order already accepted by this node (replay)")
                mine = self.db.open_orders(order.client)
            # One chain read for the deposit, withdrawal, nonce and clock; after the open orders are
            # read: a settle landing between the two then only makes the check stricter.
            with phase("chain_reads"):
                state = rm.order_state(order.client, self.address, order.nonce)
            if order.deadline <= state.now + self.cfg.deadline_margin:
                raise DeadlinePassed("order.deadline: passed or too close")
            try:
                rm.check_order(
                    order,
                    node=self.address,
                    # each unsettled order can still cost its max price + the claim surcharge
                    outstanding=sum(int(r.max_price) for r in mine)
                    + len(mine) * rm.param("claim_surcharge", self.suite.terms_view),
                    nonces_taken={int(r.nonce) for r in mine},
                    reads=self.suite.terms_view,
                    state=state,
                )
            except OrderRefused as e:
                if e.field == "deposit":
                    raise DepositTooLow(f"order refused: {e}") from e
                raise JobNotOpen(f"order refused: {e}") from e
            try:
                slot = self.pool.reserve()
            except QueueFull as e:
                raise Busy(f"node busy: {e}") from e
            row = st.OrderRow(
                chain=self.db.chain, order_hash=order_hash, client=order.client.lower(),
                nonce=str(order.nonce), max_price=str(order.max_price), deadline=order.deadline,
                model_id=order.model_id, order_json=req.order.model_dump_json(),
                client_sig=req.client_signature, payload=envelope, state=JobState.ACCEPTED.value,
            )  # fmt: skip
            try:
                with phase("record"):
                    self.db.add_order(row)
            except DbIntegrityError as e:
                slot.release()
                raise Replay("order already accepted by this node (replay)") from e
        with phase("sign"):
            acceptance = rm.sign_acceptance(order, self.account)
        # The order's timer from here on (the worker's phases add to it; the per-model medians /info
        # shows count it): adopted before the worker can look for it.
        self.timers.adopt(order_hash, timer, order.model_id)
        timer.mark("queued")
        self._enqueue_order(order_hash, slot)
        return OrderAccepted(
            order_hash=_hex(bytes.fromhex(order_hash)),
            acceptance_signature=_hex(acceptance),
            state=JobState.ACCEPTED,
        )

    def _order_checks(self, req: ZkOrderRequest) -> tuple[ReceiptMarket, Order, LoadedModel]:
        """What needs no input and no lock: the order is for this node, signed by its client, for a
        model served here, at this node's price."""
        rm = self._receipt_market()
        order = self._order_of(req.order)
        if order.node.lower() != self.address.lower():
            raise BadInput(f"order.node: this node is {self.address}, not {order.node}")
        typed = rm.order_typed(order)
        try:
            signer = Account.recover_message(typed.signable(), signature=_unhex(req.client_signature, "sig"))
        except (ValueError, TypeError) as e:
            raise BadSignature(f"client_signature: not a signature of the order ({type(e).__name__})") from e
        if signer.lower() != order.client.lower():
            raise BadSignature("client_signature: not signed by order.client")
        if order.model_id not in self.models:
            raise NotServed(f"this node does not serve model {order.model_id}")
        with phase("chain_reads"):
            self.lineage.require(order.model_id)  # issue #15: TaintedLineage once its data is revoked
        lm = self.models[order.model_id]
        lm.require_zk()
        with phase("chain_reads"):
            quote = self._order_price(lm)
        if order.max_price < quote:
            raise PriceBelowOffer(
                f"order.max_price: {order.max_price} is below this node's price for model {order.model_id} "
                f"({quote}: {self._price_terms(lm)}); sign the order at {quote} or more"
            )
        return rm, order, lm

    def _order_price(self, lm: LoadedModel) -> int:
        """What this node charges for a pay-on-proof job of the model: the same rule as JobMarket's
        ``open_job`` (list price, or the owner's royalty amount plus this node's offer), read from the
        chain per order (one ``eth_call``, not through a view: an offer changed by ``veilproof node
        offer`` while the node runs applies to the very next order, and a node never sells below it)."""
        offer = self.suite.nodes.offer(self.address, lm.served.model_id)
        return job_price(lm.onchain.price, lm.onchain.royalty_bps, offer)

    def _price_terms(self, lm: LoadedModel) -> str:
        offer = self.suite.nodes.offer(self.address, lm.served.model_id)
        if offer is None:
            return "the model's list price"
        return f"royalty {lm.onchain.price * lm.onchain.royalty_bps // 10_000} + this node's offer {offer}"

    def _enqueue_order(self, order_hash: str, slot: Reservation | None = None) -> None:
        (slot or self.pool.reserve(force=True)).run(lambda: self._run_order(order_hash))

    # --- work ------------------------------------------------------------------------------------
    def _prove(self, lm: LoadedModel, x: np.ndarray) -> ZkResult:
        raise NotImplementedError  # veilproof.node.work.Work (the one proving path of every ZK job)

    def _run_order(self, order_hash: str) -> None:
        """Prove on the warm prover (the cheater demo overrides ``_prove``: it cheats here too) and sign
        the delivery. The prover verified the proof against the package's vk before returning."""
        row = self.db.get_order(order_hash)
        if row is None:
            return
        timer = self.timers.for_job(
            order_hash, row.model_id
        )  # a new one for an order resumed after a restart
        with self.timers.recording(timer):
            timer.since("queued", "queue")
            try:
                with phase("record"):
                    self.db.update_order(order_hash, state=JobState.RUNNING.value)
                rm = self._receipt_market()
                order = self._order_of(WireOrder.model_validate_json(row.order_json))
                lm = self.models[row.model_id]
                x = self._decode_input(row.payload, lm)
                result = self._prove(lm, x)
                instances = [int(v) for v in result.instances]
                proof = bytes(result.proof_bytes)
                with phase("sign"):
                    sig = rm.sign_delivery(order, instances, proof, self.account)
                delivery = SignedDelivery(
                    outputs=list(result.outputs),
                    instances=[hex(v) for v in instances],
                    proof=_hex(proof),
                    proof_json=result.proof.to_bytes().decode(),
                    node_signature=_hex(sig),
                )
                with phase("record"):
                    self.db.update_order(
                        order_hash, state=JobState.SUBMITTED.value, delivery_json=delivery.model_dump_json()
                    )
            except Exception as e:
                log.warning("order %s failed: %s", order_hash[:12], type(e).__name__)
                self.db.update_order(
                    order_hash, state=JobState.FAILED.value, error=f"{type(e).__name__}: {e}"[:500]
                )
            finally:
                timer.finish()

    def resume_orders(self) -> None:
        """After a restart: orders accepted but not delivered are proven again (the node owes them)."""
        for row in self.db.open_orders():
            if (
                row.state in (JobState.ACCEPTED.value, JobState.RUNNING.value)
                and row.deadline > self.chain_now()
            ):
                self._enqueue_order(row.order_hash)

    # --- results ---------------------------------------------------------------------------------
    def _order_row(self, order_hash: str) -> st.OrderRow:
        h = order_hash.lower().removeprefix("0x")
        row = self.db.get_order(h) if len(h) == 64 else None
        if row is None:
            raise UnknownJob(f"order {order_hash} unknown to this node")
        return row

    def order_report(self, order_hash: str) -> OrderReport:
        row = self._order_row(order_hash)
        return OrderReport(
            order_hash="0x" + row.order_hash,
            state=JobState(row.state),
            error=row.error,
            delivery=SignedDelivery.model_validate_json(row.delivery_json) if row.delivery_json else None,
            receipt=row.receipt_sig is not None,
            settled_tx=row.settled_tx,
            timings=timer.report() if (timer := self.timers.get(row.order_hash)) is not None else None,
        )

    def _signed_receipt(self, rm: ReceiptMarket, row: st.OrderRow) -> SignedReceipt:
        order = self._order_of(WireOrder.model_validate_json(row.order_json))
        assert row.delivery_json is not None and row.receipt_sig is not None and row.receipt_price is not None
        d = SignedDelivery.model_validate_json(row.delivery_json)
        out = output_hash([int(v, 16) for v in d.instances])
        return SignedReceipt(order, out, int(row.receipt_price), _unhex(row.receipt_sig, "receipt"))

    def post_receipt(self, order_hash: str, body: ReceiptPost) -> ReceiptStored:
        """Keep the client's receipt if the chain would pay it: a receipt with a wrong signature, output
        hash or price is refused here, not in a batch (a stored receipt stops the proof claim).

        The signature of a client without code is checked here as the market checks it
        (``receipt_signed_by_key``): the deposit and nonce it also needs were checked when the order
        was accepted and only this node can spend them before its deadline. Any other signature (a
        contract wallet's ERC-1271) is asked of the chain, ``check_settle`` (an eth_call): one chain
        read less per job for the usual client. A receipt the chain refuses all the same is dropped at
        settle time and the order claimed with its proof (:meth:`_settle`)."""
        rm = self._receipt_market()
        row = self._order_row(order_hash)
        if row.delivery_json is None:
            raise JobNotOpen("no delivery yet: a receipt comes after the result")
        if row.receipt_sig is not None or row.settled_tx is not None:
            raise Replay("this order already has a receipt")
        d = SignedDelivery.model_validate_json(row.delivery_json)
        if _unhex(body.output_hash, "output_hash") != output_hash([int(v, 16) for v in d.instances]):
            raise BadInput("output_hash: not the hash of the delivered outputs")
        if body.price != int(row.max_price):
            raise BadInput(f"price: this node's price for the order is {row.max_price}")
        candidate = SignedReceipt(
            self._order_of(WireOrder.model_validate_json(row.order_json)),
            _unhex(body.output_hash, "output_hash"),
            body.price,
            _unhex(body.client_signature, "client_signature"),
        )
        offline = self._keyless(candidate.order.client) and rm.receipt_signed_by_key(candidate)
        if not offline and rm.check_settle([candidate], self.address) != 1:
            raise BadSignature("receipt: the market would not pay it (signature, deposit or nonce)")
        self.db.update_order(
            row.order_hash,
            receipt_sig=body.client_signature,
            receipt_price=str(body.price),
            receipt_at=time.time(),
        )
        pending = sum(1 for r in self.db.open_orders() if r.receipt_sig is not None)
        return ReceiptStored(order_hash="0x" + row.order_hash, pending=pending)

    def _receipt_signature_valid(self, rm: ReceiptMarket, r: SignedReceipt) -> bool:
        """The market's signature check of ``r``, asked now: ERC-1271 for a client with code, else the
        key check (``receipt_signed_by_key``)."""
        from veilproof.chain.erc1271 import Erc1271, has_code

        if not has_code(self.net, r.order.client):
            return rm.receipt_signed_by_key(r)
        try:
            return Erc1271(self.net, r.order.client).is_valid_signature(rm.receipt_digest(r), r.client_sig)
        except ContractReverted:
            return False

    @functools.cached_property
    def _codeless_clients(self) -> set[str]:
        """Clients seen without code (lower case): see :meth:`_keyless`."""
        return set()

    def _keyless(self, client: str) -> bool:
        """Whether ``client`` is an account without code (its receipts' signatures can be checked
        offline): one ``eth_getCode`` per client, remembered; forgotten when the chain refuses one of
        its receipts (:meth:`_drop_receipt`: EIP-7702 can give a key's account code, and the market then
        asks ERC-1271)."""
        c = client.lower()
        if c not in self._codeless_clients:
            from veilproof.chain.erc1271 import has_code

            if has_code(self.net, client):
                return False
            self._codeless_clients.add(c)
        return True

    def _drop_receipt(self, row: st.OrderRow) -> None:
        """The market refuses this held receipt's signature: forget it (and that its client has no
        code), so the order is claimed with its proof after the deadline, as if no receipt had come."""
        self._codeless_clients.discard(row.client.lower())
        self.db.update_order(row.order_hash, receipt_sig=None, receipt_price=None, receipt_at=None)

    def _close_receipted(self, row: st.OrderRow) -> None:
        self.db.update_order(row.order_hash, closed="closed on chain before its receipt settled")

    # --- maintenance -----------------------------------------------------------------------------
    def maintain_orders(self, from_block: int, now: int | None = None) -> tuple[int, list[str]]:
        """One pass of the pay-on-proof book: settle held receipts when due, claim with proof the
        orders whose receipt never came (deadline passed, claim window open), close what is over.
        Returns (``from_block`` unchanged, what was done). ``now``: the chain clock of the watch pass
        (None: read here)."""
        rm = self.suite.receipts
        if rm is None:
            return from_block, []
        rows = self.db.open_orders()
        if not rows:
            return from_block, []
        done: list[str] = []
        now = self.chain_now() if now is None else now
        with_receipt = [r for r in rows if r.receipt_sig is not None]
        if with_receipt and self._settle_due(rm, with_receipt, now):
            done += self._settle(rm, with_receipt[:MAX_BATCH])
        window = rm.param("claim_window", self.suite.terms_view)
        for r in rows:
            if r.receipt_sig is not None or r.delivery_json is None or now <= r.deadline:
                continue
            if now > r.deadline + window:
                # Past the claim window only a demand's response window lets the node claim (and it must:
                # an unanswered demand slashes it).
                order = self._order_of(WireOrder.model_validate_json(r.order_json))
                if rm.demand_of(order).due <= now:
                    self.db.update_order(r.order_hash, closed="claim window passed without a receipt")
                    continue
            done += self._claim(rm, r)
        for r in rows:
            if r.delivery_json is None and r.state == JobState.FAILED.value and now > r.deadline:
                self.db.update_order(r.order_hash, closed=f"not delivered: {r.error}"[:200])
        if done:
            done += self._collect(rm)
        return from_block, done

    def _resolve_demands(self, rm: ReceiptMarket, settled: list[st.OrderRow], now: int) -> list[str]:
        """``resolve`` the demands on orders this batch just paid: the client demanded the result on
        chain (with a bond) although it had signed a receipt the node was holding. The order is paid now,
        so ``resolve`` gives the bond to this node. Only orders past their deadline can carry a demand,
        and after this settlement none can get one (the market refuses a demand on a paid order): one
        read per such order, once. Without this the bond sat in the market until anyone resolved it."""
        done: list[str] = []
        for r in settled:
            if now <= r.deadline:
                continue
            order = self._order_of(WireOrder.model_validate_json(r.order_json))
            if rm.demand_of(order).due == 0:
                continue
            try:
                rm.resolve(order, sender=self.account)
            except ContractReverted as e:  # resolved by someone else meanwhile
                log.info("order %s: resolve refused: %s", r.order_hash[:12], e.reason)
                continue
            done.append(f"resolved demand {r.order_hash[:12]} (bond to this node)")
        return done

    def _collect(self, rm: ReceiptMarket) -> list[str]:
        """Pull this node's earnings out of the market (``collect``) once they reach ``collect_min``.
        Why: settled pay, claims and demand bonds are credited to ``pending``, which a node that never
        calls ``collect`` never receives; once per settlement batch keeps the transfer off every job."""
        amount = rm.pending(self.address)
        if amount == 0 or amount < self.cfg.collect_min:
            return []
        try:
            rm.collect(sender=self.account)
        except ContractReverted as e:
            log.info("collect refused: %s", e.reason)
            return []
        return [f"collected {amount}"]

    def _settle_due(self, rm: ReceiptMarket, held: list[st.OrderRow], now: int) -> bool:
        if len(held) >= self.cfg.settle_batch:
            return True
        oldest = min(r.receipt_at or 0.0 for r in held)
        if time.time() - oldest >= self.cfg.settle_interval_s:
            return True
        # A receipt whose order's deadline passed may meet a demand: settle rather than answer it late.
        if any(now > r.deadline for r in held):
            return True
        # A client asking for its deposit back: settle before the withdrawal unlocks. Read through the
        # terms view (re-read after any WithdrawRequested / DepositWithdrawn): one read per client per
        # pass every 2 s was the node's largest chain cost under load; a request is seen <= 1 s late
        # and the withdrawal delay outlasts the order horizon (ReceiptMarket._check_horizon).
        view = self.suite.terms_view
        return any(
            view.read(
                ("withdrawal", c.lower(), self.address.lower()),
                functools.partial(rm.withdrawal, c, self.address),
            )[1]
            != 0
            for c in {r.client for r in held}
        )

    def _settle(self, rm: ReceiptMarket, held: list[st.OrderRow]) -> list[str]:
        receipts = [self._signed_receipt(rm, r) for r in held]
        by_hash = {rm.order_hash(s.order).hex(): r for s, r in zip(receipts, held, strict=True)}
        if rm.check_settle(receipts, self.address) == 0:
            log.warning("settle: none of %d receipts payable now", len(receipts))
            self._drop_unpayable(rm, receipts, held)
            return []
        res = rm.settle(receipts, sender=self.account)
        for h in res.settled:
            self.db.update_order(h.hex(), settled_tx=res.receipt.tx_hash, state=JobState.SUBMITTED.value)
        paid = [by_hash[h.hex()] for h in res.settled if h.hex() in by_hash]
        for h, reason in res.skipped:
            r = by_hash.get(h.hex())
            if r is None:
                continue
            log.warning("settle: receipt of order %s skipped: %s", h.hex()[:12], reason)
            if reason == "bad signature":  # e.g. the client's account got code since its receipt came
                self._drop_receipt(r)
            elif reason == "order closed":
                self._close_receipted(r)
        log.info("settled %d receipts in one transaction (%d gas)", len(res.settled), res.receipt.gas_used)
        return [f"settled {h.hex()[:12]}" for h in res.settled] + self._resolve_demands(
            rm, paid, self.chain_now()
        )

    def _drop_unpayable(
        self, rm: ReceiptMarket, receipts: list[SignedReceipt], held: list[st.OrderRow]
    ) -> None:
        """No held receipt would settle (an eth_call said so, without reasons): close those whose order
        is closed on chain, and drop those whose signature the market refuses (the client's account got
        code since its receipt was checked offline), so their orders are claimed with the proof rather
        than held forever. A receipt refused for another reason (the deposit) is kept."""
        for r, row in zip(receipts, held, strict=True):
            if rm.nonce_used(r.order.client, self.address, r.order.nonce):
                self._close_receipted(row)
            elif not self._receipt_signature_valid(rm, r):
                self._drop_receipt(row)

    def _claim(self, rm: ReceiptMarket, r: st.OrderRow) -> list[str]:
        """``claim_with_proof``: the proof goes on chain, verified there, at the client's cost."""
        order = self._order_of(WireOrder.model_validate_json(r.order_json))
        assert r.delivery_json is not None
        d = SignedDelivery.model_validate_json(r.delivery_json)
        try:
            rcpt = rm.claim_with_proof(
                order,
                _unhex(r.client_sig, "client_sig"),
                [int(v, 16) for v in d.instances],
                _unhex(d.proof, "proof"),
                sender=self.account,
                gas=ZK_SUBMIT_GAS,
            )
        except ContractReverted as e:
            if rm.nonce_used(order.client, self.address, order.nonce):
                self.db.update_order(r.order_hash, closed=f"closed on chain: {e.reason}"[:200])
            else:
                log.warning("order %s: claim_with_proof refused: %s", r.order_hash[:12], e.reason)
            return []
        self.db.update_order(r.order_hash, settled_tx=rcpt.tx_hash)
        return [f"claimed {r.order_hash[:12]}"]
