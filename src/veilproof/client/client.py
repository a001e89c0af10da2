"""``Client``: buy verified (ZK) or private (FHE) inference, paying through JobMarket escrow.

The client trusts nothing a node says that it can check: ZK outputs are read from the proof's
instances and the job must be settled on chain (the verifier contract accepted the proof); FHE
outputs must hash to what the node posted on chain before the client accepts and pays. A node that
hands over a wrong signed claim is challenged on chain (slashed, client refunded), and the client
moves on to the next node.

This module holds that trust logic only: the HTTP exchange with a node is
:class:`veilproof.client.node_api.NodeApi`, and how a node failed is said by the error's type
(:mod:`veilproof.client.errors`: :class:`NodeUnavailable` vs :class:`WrongResult`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, TypeVar

import numpy as np
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.artifacts import ArtifactStore
from veilproof.artifacts.remote import fetch_artifact
from veilproof.chain.erc1271 import sign_as_wallet
from veilproof.chain.job_market import JobMarket, JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.node_registry import job_price
from veilproof.chain.receipt_market import Order, OrderState, ReceiptMarket, output_hash
from veilproof.chain.suite import Suite
from veilproof.client.errors import (
    BadResponse,
    Conflict,
    InferenceFailed,
    NodeMisbehaved,
    NodeRefused,
    NodeUnavailable,
    NoNodeAvailable,
    NoResult,
    ProofRejected,
    ResultMismatch,
    WrongResult,
)
from veilproof.client.node_api import NodeApi
from veilproof.client.payer import DirectPayer, Payer
from veilproof.client.selection import NodeOffer, SelectionPolicy, rank_offers
from veilproof.errors import ArtifactError, ContractReverted, InputError
from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
from veilproof.protocol.api import (
    EvalKeysUpload,
    FheJobRequest,
    JobReport,
    JobState,
    ReceiptPost,
    RefusalCode,
    SignedDelivery,
    WireOrder,
    ZkClaim,
    ZkJobRequest,
    ZkOrderRequest,
)
from veilproof.protocol.fhe_payload import fhe_keys_signed_payload, fhe_signed_payload
from veilproof.protocol.http import http_client
from veilproof.protocol.signing import eip191_hash
from veilproof.zk.errors import ProofInvalidError

if TYPE_CHECKING:
    from veilproof.fhe.client import FheClient
    from veilproof.zk.prover import CircuitFiles
    from veilproof.zk.settings import CircuitSettings

log = logging.getLogger("veilproof.client")

Progress = Callable[[str], None]


class CiphertextObserver(Protocol):
    """Told each FHE input a client sends: (job id, input ciphertext, evaluation keys)."""

    def __call__(self, job_id: int, ciphertext: bytes, evaluation_keys: bytes) -> None: ...


@dataclass
class InferenceResult:
    job_id: int
    model_id: int
    node: str
    mode: str
    output: list[float]
    status: str
    tx_hashes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    proof_bytes: int = 0


@dataclass
class PaidOrder:
    """A pay-on-proof order and what the client keeps of it: the node's acceptance (to ``demand``
    if nothing comes) and its signed delivery (to ``challenge`` if the proof fails)."""

    order: Order
    order_hash: str
    acceptance_sig: bytes
    delivery: SignedDelivery | None
    outputs: list[float]
    timings: dict[str, float] = field(default_factory=dict)


M = TypeVar("M")  # a value loaded once per Client and content hash (Client._memo)

#: Gas for a challenge, fixed: the estimate would verify the proof in the EVM once more.
CHALLENGE_GAS = 2_500_000


class Client:
    """A buyer of inference. ``account`` signs locally; its key never leaves this process."""

    def __init__(
        self,
        suite: Suite,
        account: LocalAccount,
        home: Path,
        *,
        http_timeout: float = 60.0,
        poll_interval: float = 0.5,
        job_timeout: float = 600.0,
        deadline_s: int = 900,
        reputation: Callable[[str], float] | None = None,
        payer: Payer | None = None,
        selection: SelectionPolicy = rank_offers,
        ciphertext_observer: CiphertextObserver | None = None,
        deposit_jobs: int = 10,
    ) -> None:
        """``account`` signs requests to nodes; ``payer`` is the job's client on chain (default: the
        account itself; an agent passes its wallet, see :class:`veilproof.agents.AgentPayer`);
        ``selection`` orders (and may filter) the nodes to try; ``ciphertext_observer`` is told every FHE
        input this client sends, with the evaluation keys it sent them under (a validator keeps them to
        re-execute its own audit job exactly; traffic is unchanged)."""
        self.suite = suite
        self.net = suite.net
        self.account = account
        self.home = Path(home)
        self.store = ArtifactStore(self.home / "artifacts")
        self.http = http_client(http_timeout)
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.deadline_s = deadline_s
        self.reputation = reputation
        self.payer: Payer = payer or DirectPayer(suite, account)
        self.selection = selection
        self.ciphertext_observer = ciphertext_observer
        self.deposit_jobs = deposit_jobs  # pay-on-proof: prices deposited with a node at a time
        # Per content hash, so never stale: what a job needs from a model's committed artifacts, loaded
        # once per Client instead of once per job (see prepare()).
        self._memo_lock = threading.Lock()
        self._fhe_clients: dict[str, FheClient] = {}
        self._loaded_settings: dict[str, CircuitSettings] = {}
        self._salt_layouts: dict[str, tuple[int, int]] = {}

    # --- discovery -----------------------------------------------------------------------------
    def models(self) -> list[OnchainModel]:
        return self.suite.models.read_models()

    def nodes(self, model_id: int, model: OnchainModel | None = None) -> list[NodeOffer]:
        """Active nodes serving ``model_id``, best first by the client's selection policy. ``model``:
        the model's record if the caller just read it (one read less per job)."""
        nodes, view = self.suite.nodes, self.suite.terms_view
        m = model if model is not None and model.model_id == model_id else self._model(model_id)
        offers = []
        for n in view.read(("nodes",), nodes.list_nodes):
            if not n.registered:
                continue
            # one call for is_active + serves + offer (the node's own price, #14; None: list price)
            active, serves, own = view.read(
                ("terms", n.address, model_id), functools.partial(nodes.job_terms, n.address, model_id)
            )
            if not active or not serves:
                continue
            rep = self.reputation(n.address) if self.reputation else 0.0
            price = job_price(m.price, m.royalty_bps, own)
            offers.append(NodeOffer(n.address, n.endpoint, n.pubkey, n.stake, price, rep, offer=own))
        return self.selection(offers)

    def prepare(self, model_id: int, *, private: bool | None = None) -> list[str]:
        """Fetch and check, before the first job, what jobs on ``model_id`` need on this machine: for
        ZK the circuit settings, the committed ONNX and the verifying key (checked once against the
        chain's commitment); for FHE the committed client and this account's keys (generated if new).
        ``private``: FHE only (True), ZK only (False), whatever the model has (None). Returns what was
        prepared, e.g. ``["zk", "fhe"]``.

        Why: these are once-per-model costs (FHE key generation takes seconds) that a client's first
        job would otherwise pay inside its latency; a service or an agent prepares at start. Nothing is
        paid and nothing is sent but artifact downloads from the model's nodes (any one that has them;
        none is trusted: every artifact is checked against its on-chain hash)."""
        m = self._model(model_id)
        if not m.active:
            raise InputError("model_id", "an active model", model_id)
        want = [
            mode
            for mode, has, asked in (
                ("zk", m.has_zk, private is not True),
                ("fhe", m.has_fhe, private is not False),
            )
            if has and asked
        ]
        if not want:
            raise InputError("private", f"a mode model {model_id} has a commitment for", private)
        offers = self._offers(model_id, m, None)
        errors: list[str] = []
        for offer in offers:
            try:
                if "zk" in want:
                    self._settings(m, offer)
                    self._salt_layout(m, offer)
                    self._committed_vk(m, offer)
                if "fhe" in want:
                    self._fhe_client(m, offer).evaluation_keys()
                return want
            except (ArtifactError, NodeMisbehaved) as e:
                errors.append(f"{offer.address}: {e}")
        raise NoNodeAvailable(f"no node of model {model_id} served its artifacts: {'; '.join(errors)}")

    def _offers(self, model_id: int, m: OnchainModel, node: str | None) -> list[NodeOffer]:
        """The offers to try (only ``node``'s if given); NoNodeAvailable if none. An empty answer is
        read again from the chain first: the view may be up to a second behind a node that just
        registered or bonded in another process."""
        for attempt in range(2):
            if attempt:
                self.suite.terms_view.forget()
            offers = self.nodes(model_id, m)
            if node:
                offers = [o for o in offers if o.address.lower() == node.lower()]
            if offers:
                return offers
        raise NoNodeAvailable(f"no active node serves model {model_id}")

    def _model(self, model_id: int) -> OnchainModel:
        """The model's on-chain record, through the suite's terms view (read again after any
        ModelRegistry event); an inactive or unknown one is read from the chain itself (it may have
        been published or changed a moment ago by another process)."""
        m = self.suite.terms_view.read(("model", model_id), lambda: self.suite.models.read_model(model_id))
        return m if m.active else self.suite.models.read_model(model_id)

    # --- inference -----------------------------------------------------------------------------
    def infer(
        self,
        model_id: int,
        x: Any,
        *,
        private: bool = False,
        node: str | None = None,
        max_attempts: int = 3,
        progress: Progress | None = None,
        eager: bool = True,
    ) -> InferenceResult:
        """Run one paid inference; tries up to ``max_attempts`` nodes.

        ``private=True`` runs under FHE (the node never sees ``x`` or the answer); otherwise the job is
        a ZK job. ``eager=True`` (JobMarket) has the chain check the proof before the node is paid;
        ``eager=False`` is pay-on-proof (ReceiptMarket): this client checks the proof itself and signs a
        receipt the node settles in a batch (no proof on chain unless someone cheats).
        """
        say = progress or (lambda _m: None)
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError("x", "numbers (a flat or nested list of the model's input values)", x) from e
        if not np.all(np.isfinite(arr)):
            raise InputError("x", "finite numbers", "NaN/inf")
        m = self._model(model_id)
        if not m.active:
            raise InputError("model_id", "an active model", model_id)
        if private and not m.has_fhe:
            raise InputError("model_id", "a model with an FHE commitment for private=True", model_id)
        if not private and not m.has_zk:
            raise InputError("model_id", "a model with a ZK commitment for verified inference", model_id)
        to_try = self._offers(model_id, m, node)[:max_attempts]
        attempts: list[dict[str, Any]] = []
        causes: list[NodeMisbehaved] = []
        chosen_again = False
        while to_try:
            offer = to_try.pop(0)
            try:
                run = self._infer_fhe if private else (self._infer_zk if eager else self._infer_zk_on_proof)
                res = run(m, offer, arr, say)
                res.attempts = attempts
                return res
            except NodeRefused as e:
                if e.code != RefusalCode.PRICE_BELOW_OFFER or chosen_again:
                    self._failed(offer, e, attempts, causes, say)
                    continue
                # The node raised its price after this client read it (a pay-on-proof order names its
                # price; JobMarket's open_job reads it on chain): read every offer again and choose
                # again at the fresh prices, once. The refused order spent nothing (a node that proved it
                # anyway could claim it only at the old, lower price, its outputs then on chain).
                chosen_again = True
                say(f"node {offer.address[:10]}… asks more than its offer read a moment ago; choosing again")
                self.suite.terms_view.forget()
                tried = {a["node"].lower() for a in attempts}
                left = max_attempts - len(attempts)
                to_try = [o for o in self._offers(model_id, m, node) if o.address.lower() not in tried][:left]
            except NodeMisbehaved as e:
                self._failed(offer, e, attempts, causes, say)
        raise InferenceFailed(f"all {len(attempts)} node(s) failed for model {model_id}", attempts, causes)

    @staticmethod
    def _failed(
        offer: NodeOffer,
        e: NodeMisbehaved,
        attempts: list[dict[str, Any]],
        causes: list[NodeMisbehaved],
        say: Progress,
    ) -> None:
        log.info("node %s failed: %s", offer.address, e)
        attempts.append({"node": offer.address, "error": str(e), **e.details})
        causes.append(e)
        say(f"node {offer.address[:10]}… failed ({e}); trying another")

    def _open_job(
        self,
        m: OnchainModel,
        offer: NodeOffer,
        commitment: int,
        mode: JobMode,
        eval_keys_hash: str | None = None,
    ) -> tuple[int, str]:
        """Open the job at the price this client read for this node (``offer.price``: the list
        price or royalty + the node's offer; the market refuses a higher one); an FHE job commits the hash of the evaluation keys uploaded to the node, so a result
        under any other keys cannot be posted."""
        deadline = self.net.now() + self.deadline_s
        return self.payer.open_job(
            m.model_id, offer.address, commitment.to_bytes(32, "big"), mode, deadline, offer.price,
            bytes.fromhex(eval_keys_hash) if eval_keys_hash else None,
        )  # fmt: skip

    def _api(self, offer: NodeOffer) -> NodeApi:
        """The HTTP client of one node (sharing this client's connection pool)."""
        return NodeApi(offer.endpoint, http=self.http)

    def _sign(self, offer: NodeOffer, job_id: int, signed: bytes) -> str:
        """The request signature the node checks: by this account, bound to chain, market, node, job."""
        ctx = RequestSig(self.net.chain_id, self.suite.market.address, offer.address, job_id)
        if to_checksum_address(self.payer.address) == to_checksum_address(self.account.address):
            return sign_request(self.account, ctx, signed)
        # The job's client is a contract wallet (an agent's) that vouches for this key: the node asks
        # it isValidSignature(eip191_hash(digest)), which checks a signature bound to that wallet and
        # chain (ERC-7739), so a request signature for one wallet is void for any other.
        wallet_sig = sign_as_wallet(
            self.account, self.payer.address, ctx.chain_id, eip191_hash(ctx.digest(signed))
        )
        return "0x" + wallet_sig.hex()

    def _wait(self, api: NodeApi, job_id: int, say: Progress) -> JobReport | None:
        """Wait for the node to finish (submitted, failed or abandoned), or give up at the job timeout.

        None means the node stopped answering but the chain shows the job left ``OPEN`` (it was
        submitted, settled, refunded...): the caller reads the outcome from the chain, so a client is
        never told "failed" for a job it paid and that settled.
        """

        def left_open() -> bool:
            return self.suite.market.read_job(job_id).status != JobStatus.OPEN

        try:
            return api.wait(
                job_id, self.job_timeout, self.poll_interval,
                lambda s: say(f"job {job_id}: node says {s}"), settled_elsewhere=left_open,
            )  # fmt: skip
        except NoResult as e:
            e.details.setdefault("job_id", job_id)
            raise

    # ZK --------------------------------------------------------------------------------------
    def _settings(self, m: OnchainModel, offer: NodeOffer) -> CircuitSettings:
        from veilproof.zk.settings import CircuitSettings

        return self._memo(
            self._loaded_settings,
            m.zk_settings_hash,
            lambda: CircuitSettings.load(fetch_artifact(self.store, m.zk_settings_hash, [offer.endpoint])),
        )

    def _memo(self, table: dict[str, M], digest: str, load: Callable[[], M]) -> M:
        """``table[digest]``, loaded once per Client (content-addressed, so never stale). Two threads
        may both load it; the first stored is the one every caller gets."""
        with self._memo_lock:
            got = table.get(digest)
        if got is None:
            got = load()
            with self._memo_lock:
                got = table.setdefault(digest, got)
        return got

    def _salt_layout(self, m: OnchainModel, offer: NodeOffer) -> tuple[int, int]:
        """(input values, salt values) of the model's circuit, read from its committed ONNX once."""
        from veilproof.zk.salt import salt_layout

        return self._memo(
            self._salt_layouts,
            m.onnx_hash,
            lambda: salt_layout(fetch_artifact(self.store, m.onnx_hash, [offer.endpoint])),
        )

    def _salted(
        self, m: OnchainModel, offer: NodeOffer, settings: CircuitSettings, x: np.ndarray
    ) -> np.ndarray:
        """The circuit's input for this job: ``x`` followed by a fresh salt when the model's circuit
        hashes one (read from its committed ONNX, checked against the on-chain hash), so the job's
        commitment hides ``x``, links to no other job, and no other job's proof matches it."""
        from veilproof.zk.salt import new_salt, salted_input

        n, k = self._salt_layout(m, offer)
        flat = np.asarray(x, dtype=np.float64).ravel()
        if flat.size != n:
            raise InputError("x", f"{n} numbers (the input of model {m.model_id})", f"{flat.size} numbers")
        if not k:
            log.warning(
                "model %s hashes its input without a salt: the job's commitment is not hiding", m.model_id
            )
            return flat
        return salted_input(flat, new_salt(k, settings.input_scale)).ravel().astype(np.float64)

    def _infer_zk(self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress) -> InferenceResult:
        from veilproof.zk.instances import input_commitment, outputs_from_instances

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        settings = self._settings(m, offer)
        x = self._salted(m, offer, settings, x)
        commitment = input_commitment(settings, x)
        timings["commit"] = time.perf_counter() - t0
        job_id, open_tx = self._open_job(m, offer, commitment, JobMode.ZK)
        say(f"job {job_id} opened with node {offer.address[:10]}…, {offer.price / 1e18:g} VEIL in escrow")
        envelope = encrypt_for_node(offer.pubkey, json.dumps(x.ravel().tolist()).encode())
        req = ZkJobRequest(encrypted_input="0x" + envelope.hex())
        api = self._api(offer)
        t1 = time.perf_counter()
        with _paid_job(job_id):
            api.submit_zk(job_id, req, self._sign(offer, job_id, req.encode()))
        say(f"job {job_id}: node is proving")
        st = self._wait(api, job_id, say)
        timings["node"] = time.perf_counter() - t1
        job = self.suite.market.read_job(job_id)
        claim = st.zk if st is not None else None
        if st is None or (job.status == JobStatus.SETTLED and not claim):
            # The node went silent, or it settled the job without a claim to show (it recovered the
            # job from the chain after a crash): the chain has the verified outputs.
            return self._zk_result_from_chain(m, offer, settings, job, open_tx, timings, t0)
        if job.status == JobStatus.SETTLED and claim:
            instances, proof = _claim_instances(claim), _hex_bytes(claim.proof)
            if JobMarket.output_hash(instances) != job.output_hash:
                raise ResultMismatch(
                    f"job {job_id}: instances differ from the settled output hash", {"job_id": job_id}
                )
            if JobMarket.proof_hash(proof) != job.proof_hash:
                raise ResultMismatch(
                    f"job {job_id}: proof differs from the settled proof hash", {"job_id": job_id}
                )
            outputs = outputs_from_instances(settings, instances)
            timings["total"] = time.perf_counter() - t0
            return InferenceResult(
                job_id, m.model_id, offer.address, "zk", outputs, "settled",
                {"open": open_tx, "submit": st.tx_hash or ""}, timings, proof_bytes=len(proof),
            )  # fmt: skip
        if job.status == JobStatus.OPEN and claim:
            return self._challenge(job_id, claim, st)
        raise NoResult(
            f"job {job_id}: node {st.state}: {st.error}; refund after the deadline", {"job_id": job_id}
        )

    def _zk_result_from_chain(
        self,
        m: OnchainModel,
        offer: NodeOffer,
        settings: CircuitSettings,
        job: OnchainJob,
        open_tx: str,
        timings: dict[str, float],
        t0: float,
    ) -> InferenceResult:
        """The node went silent after the chain settled the job: the outputs the verifier accepted are in
        the job's ``ZkResultSubmitted`` event, checked here against the settled output hash."""
        from veilproof.zk.instances import outputs_from_instances

        outs = self.suite.market.zk_outputs(job.job_id) if job.status == JobStatus.SETTLED else None
        if outs is None or JobMarket.output_hash([job.input_commitment, *outs]) != job.output_hash:
            raise NoResult(
                f"job {job.job_id}: node stopped answering; on chain the job is {job.status_name}",
                {"job_id": job.job_id},
            )
        timings["total"] = time.perf_counter() - t0
        return InferenceResult(
            job.job_id, m.model_id, offer.address, "zk",
            outputs_from_instances(settings, [job.input_commitment, *outs]), "settled",
            {"open": open_tx}, timings,
        )  # fmt: skip

    def _challenge(self, job_id: int, claim: ZkClaim, st: JobReport) -> InferenceResult:
        """The node signed a result the chain will not accept: take it to challenge_zk."""
        instances, proof = _claim_instances(claim), _hex_bytes(claim.proof)
        sig = _hex_bytes(claim.node_signature)
        try:
            challenge_tx = self.payer.call(self.suite.market.challenge_zk_call(job_id, instances, proof, sig))
        except ContractReverted as e:
            raise NoResult(f"job {job_id}: challenge failed: {e.reason}", {"job_id": job_id}) from e
        self.withdraw()
        raise ProofRejected(
            f"job {job_id}: node's proof rejected on chain ({st.error}); node slashed, refunded",
            {"job_id": job_id, "challenge_tx": challenge_tx, "outcome": "slashed"},
        )

    # ZK pay-on-proof (ReceiptMarket, docs/settlement.md) -------------------------------------
    def _receipt_market(self) -> ReceiptMarket:
        rm = self.suite.receipts
        if rm is None:
            raise InputError("eager", "True: this deployment has no ReceiptMarket (pay-on-proof)", False)
        if to_checksum_address(self.payer.address) != to_checksum_address(self.account.address):
            raise InputError(
                "eager", "True for a contract-wallet payer (pay-on-proof signs as the account)", False
            )
        return rm

    def _ensure_deposit(self, rm: ReceiptMarket, node: str, price: int, deposit: int) -> bool:
        """Deposit ``deposit_jobs`` prices with ``node`` when less than two prices are left of
        ``deposit`` (read a moment ago): one deposit pays many jobs (the node checks it covers all the
        orders it has not settled). True when it deposited."""
        cost = price + rm.param("claim_surcharge", self.suite.terms_view)
        if deposit >= 2 * cost:
            return False
        self._top_up(rm, node, price, cost)
        return True

    def _top_up(self, rm: ReceiptMarket, node: str, price: int, cost: int | None = None) -> None:
        """Deposit ``deposit_jobs`` more orders' worth (price + claim surcharge each) with ``node``, or
        all the client holds when that is less but still pays this order: a client with VEIL for a few
        jobs can still buy one (the deposit is returned on request after the delay)."""
        if cost is None:  # the order's price + claim surcharge, when the caller has not read it yet
            cost = price + rm.param("claim_surcharge", self.suite.terms_view)
        amount = cost * self.deposit_jobs
        held = self.suite.token.balance_of(self.account.address)
        if cost <= held < amount:
            amount = held
        self.suite.token.approve(rm.address, amount, sender=self.account)
        rm.deposit(node, amount, sender=self.account)

    def _next_nonce(self, rm: ReceiptMarket, node: str) -> tuple[int, OrderState]:
        """Sequential per node (256 nonces share one storage word on chain: cheaper than random), and
        the chain's reading for it (``order_state``: deposit and clock come with the nonce check, one
        call per order rather than three)."""
        path = self.home / "nonces.json"
        book = json.loads(path.read_text()) if path.exists() else {}
        n = int(book.get(node.lower(), 0))
        state = rm.order_state(self.account.address, node, n)
        while state.nonce_used:
            n += 1
            state = rm.order_state(self.account.address, node, n)
        book[node.lower()] = n + 1
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(book))
        return n, state

    def order_zk(self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress) -> PaidOrder:
        """Deposit if needed, sign an order, send it with the encrypted input, wait for the signed
        delivery and verify it locally (EZKL, against the model's committed vk). A delivery that does not
        verify is kept (``home/evidence``) and challenged: the node is slashed, nothing is paid. Returns
        the verified order; :meth:`pay_receipt` pays it."""
        from veilproof.zk.instances import input_commitment, outputs_from_instances

        rm = self._receipt_market()
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        settings = self._settings(m, offer)
        x = self._salted(m, offer, settings, x)
        commitment = input_commitment(settings, x).to_bytes(32, "big")
        # Priced like a JobMarket job on this node (#14): the list price, or the owner's royalty plus the
        # node's offer (``offer.price``, read from NodeRegistry); the node refuses an order below it.
        nonce, state = self._next_nonce(rm, offer.address)
        # the clock of that reading, unless a deposit was mined since (two blocks later on a slow chain)
        now = (
            self.net.now()
            if self._ensure_deposit(rm, offer.address, offer.price, state.deposit)
            else state.now
        )
        deadline = now + min(self.deadline_s, rm.param("max_deadline", self.suite.terms_view))
        order = Order(self.account.address, offer.address, m.model_id, commitment, offer.price, deadline,
                      nonce, royalty=rm.model_royalty(m.model_id, self.suite.terms_view))  # fmt: skip
        envelope = encrypt_for_node(offer.pubkey, json.dumps(x.ravel().tolist()).encode())
        req = ZkOrderRequest(
            order=WireOrder(client=order.client, node=order.node, model_id=order.model_id,
                            input_commitment="0x" + commitment.hex(), max_price=order.max_price,
                            deadline=order.deadline, nonce=order.nonce, royalty=order.royalty),
            client_signature="0x" + rm.sign_order(order, self.account).hex(),
            encrypted_input="0x" + envelope.hex(),
        )  # fmt: skip
        timings["order"] = time.perf_counter() - t0
        api = self._api(offer)
        t1 = time.perf_counter()
        try:
            accepted = api.submit_order(req)
        except Conflict as e:
            # a node that sends no code (older than the code) said "deposit" in its reason
            short = e.code == RefusalCode.DEPOSIT_TOO_LOW or (e.code is None and "deposit" in e.reason)
            if not short:
                raise
            # The node counts every order it has not settled yet (it settles in batches), each at max
            # price + claim surcharge: top up once and send the same signed order again.
            self._top_up(rm, offer.address, offer.price)
            accepted = api.submit_order(req)
        oh = "0x" + rm.order_hash(order).hex()
        if accepted.order_hash.lower() != oh:
            raise ResultMismatch(f"node names order {accepted.order_hash}, expected {oh}", {"order": oh})
        # Kept until the delivery arrives: an accepted order the node never delivers is demanded on
        # chain after its deadline by pursue_orders (the node's acceptance is the evidence).
        self._remember_order(order, oh, _hex_bytes(accepted.acceptance_signature))
        say(f"order {oh[:12]}… accepted by node {offer.address[:10]}…; node is proving")
        try:
            st = api.wait_order(oh, self.job_timeout, self.poll_interval)
        except NoResult as e:
            e.details.setdefault("order", oh)
            raise
        timings["node"] = time.perf_counter() - t1
        paid = PaidOrder(order, oh, _hex_bytes(accepted.acceptance_signature), st.delivery, [], timings)
        if st.delivery is None:
            raise NoResult(
                f"order {oh}: node {st.state}: {st.error}; demanded on chain after the deadline "
                "(pursue_orders)",
                {"order": oh},
            )
        self._forget_order(oh)  # delivered: paid by receipt, or challenged below
        t2 = time.perf_counter()
        try:
            paid.outputs = self._verify_delivery(m, offer, settings, order, st.delivery)
        except (WrongResult, ProofInvalidError, ValueError, KeyError) as e:
            # Before challenging, ask the chain (an eth_call): if it accepts the signed proof, the node
            # could claim it with a surcharge anyway, so the honest move is to pay by receipt.
            if not self._chain_accepts(rm, paid):
                self._challenge_delivery(rm, paid, e)
            log.warning("order %s: local check failed (%s) but the chain accepts the proof", oh, e)
            paid.outputs = outputs_from_instances(settings, [int(v, 16) for v in st.delivery.instances])
        timings["verify"] = time.perf_counter() - t2
        return paid

    def _verify_delivery(
        self, m: OnchainModel, offer: NodeOffer, settings: CircuitSettings, order: Order, d: SignedDelivery
    ) -> list[float]:
        """The proof in ``d`` verified with EZKL against the committed vk, for this order's input."""
        from veilproof.zk.instances import outputs_from_instances
        from veilproof.zk.proof import Proof
        from veilproof.zk.prover import EzklProver

        instances, proof = [int(v, 16) for v in d.instances], _hex_bytes(d.proof)
        pf = Proof.from_bytes(d.proof_json.encode())
        if pf.instances != instances or pf.proof_bytes != proof:
            raise ResultMismatch("delivery: proof_json differs from the signed instances/proof", {})
        if not instances or instances[0] != int.from_bytes(order.input_commitment, "big"):
            raise ResultMismatch("delivery: instances[0] is not this order's input commitment", {})
        EzklProver().verify(self._committed_vk(m, offer), pf)
        return outputs_from_instances(settings, instances)

    def _committed_vk(self, m: OnchainModel, offer: NodeOffer) -> CircuitFiles:
        """The model's verifying key, trusted only if the VKA derived from it is the one committed on
        chain (``zk_vk_hash`` is the VKA's keccak digest, the key the chain's verifier uses): a node
        cannot hand this client another vk under which its own wrong proofs verify. Checked once per
        model (EZKL ``create_evm_vka``), then remembered in ``home/vk``."""
        import tempfile

        from veilproof.zk import evm
        from veilproof.zk.prover import CircuitFiles

        settings = fetch_artifact(self.store, m.zk_settings_hash, [offer.endpoint])
        srs = fetch_artifact(self.store, m.zk_srs_hash, [offer.endpoint])
        trusted = self.home / "vk" / f"{m.model_id}-{m.zk_vk_hash.removeprefix('0x')}"
        if trusted.exists():
            vk = self.store.path(trusted.read_text().strip())
            return CircuitFiles(compiled=vk, settings=settings, vk=vk, srs=srs)  # compiled: unused by verify
        served = [s for s in self._api(offer).info().models if s.model_id == m.model_id and s.zk_package]
        if not served:
            raise ResultMismatch(f"node does not name a ZK package for model {m.model_id}", {})
        manifest = json.loads(
            fetch_artifact(self.store, str(served[0].zk_package), [offer.endpoint]).read_bytes()
        )
        vk_digest = str(manifest["artifacts"]["vk"])
        vk = fetch_artifact(self.store, vk_digest, [offer.endpoint])
        files = CircuitFiles(compiled=vk, settings=settings, vk=vk, srs=srs)
        with tempfile.TemporaryDirectory(prefix="vp-vka-") as td:
            vka = evm.create_vka(files, Path(td) / "vka.bytes").read_bytes()
        if evm.vka_digest(evm.vka_words(vka)).hex() != m.zk_vk_hash.lower().removeprefix("0x"):
            raise ResultMismatch(
                f"the node's vk for model {m.model_id} is not the one committed on chain", {}
            )
        trusted.parent.mkdir(parents=True, exist_ok=True)
        trusted.write_text(vk_digest)
        return files

    def _chain_accepts(self, rm: ReceiptMarket, paid: PaidOrder) -> bool:
        d = paid.delivery
        assert d is not None
        try:
            rm.check_challenge(
                paid.order, [int(v, 16) for v in d.instances], _hex_bytes(d.proof),
                _hex_bytes(d.node_signature), sender=self.account.address,
            )  # fmt: skip
        except ContractReverted as e:
            return "claim is valid" in e.reason
        except ValueError:
            return False
        return False

    def _challenge_delivery(self, rm: ReceiptMarket, paid: PaidOrder, cause: Exception) -> NoReturn:
        """No receipt for a delivery that does not verify: keep it as evidence, ``challenge`` it (the
        node is slashed if its signed proof fails on chain too), raise :class:`ProofRejected`."""
        d = paid.delivery
        assert d is not None
        evidence = self.home / "evidence" / f"{paid.order_hash}.json"
        evidence.parent.mkdir(parents=True, exist_ok=True)
        evidence.write_text(json.dumps({"order": paid.order_hash, "delivery": d.model_dump()}))
        details: dict[str, Any] = {"order": paid.order_hash, "evidence": str(evidence)}
        try:
            rcpt = rm.challenge(
                paid.order, [int(v, 16) for v in d.instances], _hex_bytes(d.proof),
                _hex_bytes(d.node_signature), sender=self.account, gas=CHALLENGE_GAS,
            )  # fmt: skip
            details.update(challenge_tx=rcpt.tx_hash, outcome="slashed")
        except ContractReverted as e:
            details.update(outcome=f"challenge refused: {e.reason}")
        raise ProofRejected(
            f"order {paid.order_hash}: delivery does not verify ({type(cause).__name__}: {cause}); "
            f"no receipt; {details['outcome']}",
            details,
        ) from cause

    # Orders accepted but not delivered: demanded on chain, then resolved ---------------------------
    def _orders_dir(self) -> Path:
        return self.home / "orders"

    def _remember_order(self, order: Order, order_hash: str, acceptance_sig: bytes) -> None:
        d = self._orders_dir()
        d.mkdir(parents=True, exist_ok=True)
        fields = {k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in asdict(order).items()}
        rec = {"order": fields, "acceptance_sig": "0x" + acceptance_sig.hex()}
        (d / f"{order_hash}.json").write_text(json.dumps(rec))

    def _forget_order(self, order_hash: str) -> None:
        (self._orders_dir() / f"{order_hash}.json").unlink(missing_ok=True)

    def undelivered_orders(self) -> list[tuple[Order, bytes]]:
        """Accepted pay-on-proof orders whose delivery this client never received (kept in
        ``home/orders``), with the node's acceptance signatures."""
        out = []
        for f in sorted(self._orders_dir().glob("0x*.json")):
            rec = json.loads(f.read_text())
            o = dict(rec["order"])
            for k in ("input_commitment", "eval_keys_hash"):
                o[k] = bytes.fromhex(o[k].removeprefix("0x"))
            out.append((Order(**o), _hex_bytes(rec["acceptance_sig"])))
        return out

    def pursue_orders(self) -> list[str]:
        """Enforce the orders a node accepted and never delivered: once an order's deadline passed,
        ``demand`` it on chain (with the market's bond); once the node's response window passed without
        an answer, ``resolve`` it (the node is slashed, the bond comes back, nothing was paid). Orders
        found paid or closed on chain are forgotten. Returns what was done.

        Why not inside :meth:`infer`: the deadline is up to ``max_deadline`` away and the response
        window as long again; blocking an inference call (or a process that may be gone by then) on
        it is wrong. It runs at the start of every pay-on-proof :meth:`infer` (a caller may also run it
        on a timer); a node that answers the demand (``claim_with_proof``) is paid the
        order's price plus the claim surcharge and the bond: the client demands only what it did not
        receive."""
        rm = self.suite.receipts
        if rm is None or not self._orders_dir().exists():
            return []
        done: list[str] = []
        now = self.net.now()
        for order, acceptance in self.undelivered_orders():
            if order.client.lower() != self.account.address.lower():
                continue  # another account's order in a shared home: only its client can demand it
            oh = "0x" + rm.order_hash(order).hex()
            try:
                done += self._pursue(rm, order, acceptance, oh, now)
            except ContractReverted as e:  # e.g. answered or resolved by someone else at the same time
                log.warning("order %s: %s refused: %s", oh[:12], e.function, e.reason)
        return done

    def _pursue(self, rm: ReceiptMarket, order: Order, acceptance: bytes, oh: str, now: int) -> list[str]:
        """One step for one undelivered order (see :meth:`pursue_orders`)."""
        if rm.nonce_used(order.client, order.node, order.nonce):
            self._forget_order(oh)  # paid (a claim answered it), challenged or resolved
            return []
        d = rm.demand_of(order)
        if d.due == 0:
            if now <= order.deadline:
                return []
            if now > order.deadline + rm.param("claim_window"):
                self._forget_order(oh)  # too late to demand: the node cannot claim either
                return []
            bond = rm.param("demand_bond")
            if bond:
                self.suite.token.approve(rm.address, bond, sender=self.account)
            rm.demand(order, acceptance, sender=self.account)
            return [f"demanded {oh[:12]}"]
        if now >= d.due:
            rm.resolve(order, sender=self.account)
            self._forget_order(oh)
            return [f"resolved {oh[:12]} (node slashed, bond back)"]
        return []

    def pay_receipt(self, paid: PaidOrder, offer: NodeOffer) -> str:
        """Sign the receipt for a verified delivery and post it to the node (it settles in a batch)."""
        rm = self._receipt_market()
        assert paid.delivery is not None and paid.outputs
        out = output_hash([int(v, 16) for v in paid.delivery.instances])
        r = rm.sign_receipt(paid.order, out, paid.order.max_price, self.account)
        self._api(offer).post_receipt(
            paid.order_hash,
            ReceiptPost(
                output_hash="0x" + out.hex(), price=r.price, client_signature="0x" + r.client_sig.hex()
            ),
        )
        return paid.order_hash

    def _infer_zk_on_proof(
        self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress
    ) -> InferenceResult:
        t0 = time.perf_counter()
        for what in self.pursue_orders():  # earlier orders a node accepted and never delivered
            say(what)
        paid = self.order_zk(m, offer, x, say)
        self.pay_receipt(paid, offer)
        say(f"order {paid.order_hash[:12]}…: proof verified locally, receipt sent")
        paid.timings["total"] = time.perf_counter() - t0
        assert paid.delivery is not None
        return InferenceResult(
            paid.order.nonce, m.model_id, offer.address, "zk", paid.outputs, "receipted",
            {"order": paid.order_hash}, paid.timings, proof_bytes=len(_hex_bytes(paid.delivery.proof)),
        )  # fmt: skip

    # FHE -------------------------------------------------------------------------------------
    def _fhe_client(self, m: OnchainModel, offer: NodeOffer) -> FheClient:
        """This account's FHE client of the model's committed client.zip, loaded once per Client (its
        keys generated or read from ``home/fhe-keys``): loading it is unzipping, hashing and reading
        the secret keyset, which every job paid before."""
        from veilproof.fhe.client import FheClient

        def load() -> FheClient:
            client_zip = fetch_artifact(self.store, m.fhe_client_hash, [offer.endpoint])
            key_dir = self.home / "fhe-keys" / f"{self.account.address.lower()}-{m.fhe_client_hash[:16]}"
            return FheClient(client_zip, key_dir, expected_client_hash=m.fhe_client_hash)

        return self._memo(self._fhe_clients, m.fhe_client_hash, load)

    def _infer_fhe(self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress) -> InferenceResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        fc = self._fhe_client(m, offer)
        say("FHE keys ready (secret key stays on this machine)")
        keys = fc.evaluation_keys()
        ek_hash = hashlib.sha256(keys).hexdigest()
        timings["keys"] = time.perf_counter() - t0
        api = self._api(offer)
        t2 = time.perf_counter()
        ct = fc.encrypt(x.reshape(1, -1).astype(np.float32))
        timings["encrypt"] = time.perf_counter() - t2
        ct_hash = hashlib.sha256(ct).hexdigest()
        job_id, open_tx = self._open_job(m, offer, int(ct_hash, 16), JobMode.FHE, ek_hash)
        # Keys are uploaded for the open job (the node takes uploads only from a client with one).
        t1 = time.perf_counter()
        if not api.has_eval_keys(ek_hash):
            say(f"uploading evaluation keys ({len(keys) / 1e6:.1f} MB)")
            sig_keys = self._sign(offer, job_id, fhe_keys_signed_payload(ek_hash))
            api.put_eval_keys(
                EvalKeysUpload(keys=keys, job_id=job_id, eval_keys_sha256=ek_hash, signature=sig_keys)
            )
        timings["upload_keys"] = time.perf_counter() - t1
        if self.ciphertext_observer is not None:
            self.ciphertext_observer(job_id, ct, keys)
        say(
            f"job {job_id} opened with node {offer.address[:10]}…; sending {len(ct) / 1e3:.1f} kB of ciphertext"
        )
        t3 = time.perf_counter()
        sig = self._sign(offer, job_id, fhe_signed_payload(ct_hash, ek_hash))
        with _paid_job(job_id):
            api.submit_fhe(job_id, FheJobRequest(ciphertext=ct, eval_keys_sha256=ek_hash, signature=sig))
        st = self._wait(api, job_id, say)
        timings["node"] = time.perf_counter() - t3
        job = self.suite.market.read_job(job_id)
        # st is None when the node went silent after the job left OPEN on chain: if it posted its
        # result, the output ciphertext is still asked for (only the node has it).
        if (st is not None and st.state != JobState.SUBMITTED) or job.status != JobStatus.SUBMITTED:
            said = f"node {st.state}: {st.error}" if st is not None else f"job {job.status_name} on chain"
            raise NoResult(f"job {job_id}: {said}; refund after the deadline", {"job_id": job_id})
        try:
            out = api.fhe_output(job_id)
        except NodeUnavailable as e:
            # It posted an output hash on chain and does not hand the output over: demand it on chain.
            out = self._demand_output(job_id, e, say)
        if hashlib.sha256(out).hexdigest() != job.output_ct_hash:
            raise ResultMismatch(
                f"job {job_id}: output ciphertext does not match the hash posted on chain", {"job_id": job_id}
            )
        t4 = time.perf_counter()
        y = np.asarray(fc.decrypt(out), dtype=np.float64).ravel().tolist()
        timings["decrypt"] = time.perf_counter() - t4
        accept_tx = self.payer.call(self.suite.market.accept_call(job_id))
        timings["total"] = time.perf_counter() - t0
        return InferenceResult(
            job_id, m.model_id, offer.address, "fhe", y, "settled",
            {"open": open_tx, "submit": (st.tx_hash if st else None) or "", "accept": accept_tx}, timings,
        )  # fmt: skip

    def _demand_output(self, job_id: int, cause: Exception, say: Progress) -> bytes:
        """The node posted an output hash but does not serve the ciphertext: demand it on chain
        (``claim_not_delivered``, with the market's delivery bond) and read it from the chain once
        the node delivers. Undelivered by the due time, :meth:`finalize_undelivered` refunds the
        client and slashes the node, so a node cannot be paid for an answer it withholds."""
        market = self.suite.market
        out = market.delivered_output(job_id)
        if out is not None:
            return out
        details: dict[str, Any] = {"job_id": job_id}
        if not isinstance(self.payer, DirectPayer):
            # a wallet cannot approve the bond outside pay_job: the agent's owner demands it instead
            raise ResultMismatch(
                f"job {job_id}: node does not serve the output it posted on chain ({cause}); "
                "demand it with JobMarket.claim_not_delivered",
                details,
            ) from cause
        bond = market.delivery_bond()
        say(
            f"node does not hand over the output ({cause}); demanding it on chain ({bond / 1e18:g} VEIL bond)"
        )
        try:
            if bond:
                self.suite.token.approve(market.address, bond, sender=self.account)
            details["demand_tx"] = self.payer.call(market.claim_not_delivered_call(job_id))
        except ContractReverted as e:
            raise ResultMismatch(
                f"job {job_id}: node does not serve its output ({cause}); demand on chain failed: {e.reason}",
                details,
            ) from e
        due = market.delivery(job_id).due
        details["delivery_due"] = due
        t_end = time.monotonic() + min(self.job_timeout, max(0, due - self.net.now()))
        while time.monotonic() < t_end:
            out = market.delivered_output(job_id)
            if out is not None:
                return out
            time.sleep(self.poll_interval)
        raise ResultMismatch(
            f"job {job_id}: node did not deliver the output demanded on chain; after unix {due} "
            "finalize_undelivered refunds you and slashes the node",
            details,
        ) from cause

    def finalize_undelivered(self, job_id: int) -> str:
        """Close a job whose node did not deliver a demanded output by its due time: the market
        refunds the price and the bond and slashes the node; then withdraw."""
        tx = self.suite.market.finalize(job_id, sender=self.account).tx_hash
        self.withdraw()
        return tx

    # --- money ---------------------------------------------------------------------------------
    def refund(self, job_id: int) -> str:
        """Refund an expired job (the node missed its deadline; it is slashed) and withdraw."""
        job = self.suite.market.read_job(job_id)
        if job.status in (JobStatus.SETTLED, JobStatus.SLASHED) or job.status not in (JobStatus.OPEN,):
            raise InputError("job_id", "an open job past its deadline", f"{job_id} ({job.status_name})")
        tx = self.payer.call(self.suite.market.refund_call(job_id))
        self.withdraw()
        return tx

    def withdraw(self) -> int:
        amount = self.suite.market.pending(self.payer.address)
        if amount:
            self.payer.call(self.suite.market.withdraw_call())
        return amount

    def jobs(self) -> list[OnchainJob]:
        market = self.suite.market
        mine = []
        for i in range(1, market.job_count() + 1):
            j = market.read_job(i)
            if j.client.lower() == self.payer.address.lower():
                mine.append(j)
        return mine

    def close(self) -> None:
        self.http.close()


@contextmanager
def _paid_job(job_id: int) -> Iterator[None]:
    """A node failure after the job was opened carries the job id: its escrow is refundable later."""
    try:
        yield
    except NodeMisbehaved as e:
        e.details.setdefault("job_id", job_id)
        raise


# A claim that does not parse is an answer off the protocol (the node did not deliver), not a wrong
# result: nothing in it can be checked against the chain.
def _claim_instances(claim: ZkClaim) -> list[int]:
    try:
        return [int(h, 16) for h in claim.instances]
    except ValueError as e:
        raise BadResponse(f"node claim: instances are not hex integers ({e})") from e


def _hex_bytes(h: str) -> bytes:
    try:
        return bytes.fromhex(h.removeprefix("0x"))
    except ValueError as e:
        raise BadResponse(f"node claim: not 0x-hex bytes ({e})") from e
