"""The node's shared state, and the parts of it every section uses.

Why a core plus sections: the service has four jobs that read the same state (chain handles, the job
database, the worker pool, the loaded models) — start-up, admission, work, results. Each section is a
small module with one job (``node/startup.py``, ``admission.py``, ``work.py``, ``results.py``), and
:class:`veilproof.node.service.NodeService` is their sum. A variant (the demo's cheater) subclasses
``NodeService`` and overrides one step (``_prove``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import coincurve
import numpy as np
from eth_account.signers.local import LocalAccount

from veilproof.artifacts import ArtifactStore
from veilproof.chain import Network
from veilproof.chain.facade import ChainEvent, ContractFacade, events_of
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.suite import Suite
from veilproof.errors import ChainError, ContractReverted, InputError, TransactionFailed
from veilproof.node import store as st
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.data_policy import LineagePolicy
from veilproof.node.errors import BadInput, NotServed
from veilproof.node.pool import Reservation, WorkerPool
from veilproof.node.proving import ProcessProver
from veilproof.node.timings import TimerBook, phase
from veilproof.protocol import ClaimSigner, decrypt_for_node

if TYPE_CHECKING:
    from veilproof.fhe.server import FheServer
    from veilproof.models.package import ModelPackage

log = logging.getLogger("veilproof.node")
T = TypeVar("T")

#: How often the node probes its chain, and when a probe that has not come back means "not answering".
CHAIN_PROBE_INTERVAL_S = 1.0
CHAIN_PROBE_STALE_S = 30.0
#: How often a probe also checks the chain's identity (genesis block, market code): the other probes
#: read only the latest block (the clock), and check the identity at once if that block's number went
#: back (a reset dev chain starts again from block 0). The code check downloads the market's bytecode
#: (~20 kB of hex): every second it was 5 % of a busy node's CPU.
CHAIN_IDENTITY_INTERVAL_S = 10.0
#: How often the maintenance loop reads the chain for what the node must answer (delivery demands,
#: refuted attestations to settle).
CHAIN_WATCH_INTERVAL_S = 2.0


@dataclass(frozen=True)
class ChainScan:
    """What one chain-watch pass read: the head it scanned up to and the watched events of blocks
    ``from_block..head`` (from one ``eth_getLogs``, see :meth:`NodeCore.scan_chain`). Each step takes
    the events from its own cursor on (:meth:`since`), so steps whose cursors differ (one failed in an
    earlier pass) still see each block's events exactly once."""

    from_block: int
    head: int
    events: list[ChainEvent]

    def since(self, from_block: int, address: str) -> list[ChainEvent]:
        """The events of the contract at ``address`` in blocks ``from_block..head``, in chain order."""
        if from_block < self.from_block:
            raise ValueError(f"scan starts at block {self.from_block}, not {from_block}")
        a = address.lower()
        return [ev for ev in self.events if ev.block >= from_block and ev.address.lower() == a]


def chain_down(e: BaseException) -> bool:
    """A fault of the connection to the chain (retry later), as opposed to an answer from it (a revert,
    a failed transaction): only the former may be retried, and it is never the peer's fault."""
    if isinstance(e, (ContractReverted, TransactionFailed)):
        return False
    if isinstance(e, ChainError):
        return True
    import requests

    return isinstance(e, (OSError, requests.exceptions.RequestException))


#: Gas for a ZK submit, fixed: verifying a Halo2 proof in the EVM is the slow part of an estimate and need
#: not run twice (~0.9M is used).
ZK_SUBMIT_GAS = 2_500_000


class StartGate:
    """Admission's ``start_job`` of one job, as its worker sees it: the worker computes while the
    transaction is mined, then :meth:`wait`s for it before anything leaves the node.

    Why: a small model's whole proof is ~2 s and ``start_job`` ~20 ms of it; awaited before the job is
    queued it was pure overhead. The guarantee stays: nothing is delivered (no pre-sign check, no
    signed claim, no submit, no stored FHE output) for a job whose ``start_job`` the chain refused.
    Outcomes: True (mined), False (refused: admission forgot the job and told the client), None
    (unconfirmed, the connection failed: the worker reads the chain and starts the job if needed)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._outcome: bool | None = None

    def open(self, outcome: bool | None) -> None:
        self._outcome = outcome
        self._event.set()

    def wait(self) -> bool | None:
        self._event.wait()
        return self._outcome


@dataclass
class LoadedModel:
    served: ServedModel
    onchain: OnchainModel
    zk: ModelPackage | None = None
    fhe: FheServer | None = None

    def require_zk(self) -> ModelPackage:
        """The ZK package; :class:`NotServed` when this node does not serve the model in ZK mode."""
        if self.zk is None:
            raise NotServed(f"this node does not serve model {self.served.model_id} in ZK mode")
        return self.zk

    def require_fhe(self) -> FheServer:
        """The FHE server; :class:`NotServed` when this node does not serve the model in FHE mode."""
        if self.fhe is None:
            raise NotServed(f"this node does not serve model {self.served.model_id} in FHE mode")
        return self.fhe


class NodeCore:
    """State shared by the sections; built once per node process."""

    def __init__(self, cfg: NodeConfig, net: Network, suite: Suite, account: LocalAccount) -> None:
        self.cfg = cfg
        self.net = net
        self.suite = suite
        self.account = account
        self.address = account.address
        self.pubkey = coincurve.PrivateKey(bytes(account.key)).public_key.format(compressed=True)
        self.store = ArtifactStore(cfg.home / "artifacts")
        # Read once: a node must still know which chain it serves while that chain is unreachable.
        self.chain_id = net.chain_id
        self.genesis = self._genesis_hash()
        self.db = st.NodeStore(
            cfg.home / "node.sqlite", st.chain_key(self.chain_id, suite.market.address, self.genesis)
        )
        self.pool = WorkerPool(cfg.workers, cfg.queue_limit)
        self.prover = ProcessProver(cfg.workers, cfg.prover_threads)
        self.timers = TimerBook()  # where each job's time goes (GET /jobs/{id} "timings")
        # Jobs whose start_job this process saw mined: the worker need not read them back from the chain.
        self.started_here: set[int] = set()
        # Jobs whose admission's start_job may still be in flight: their worker waits on the gate.
        self.start_gates: dict[int, StartGate] = {}
        # Jobs a worker is on now (reported as "running"; the database says "accepted" until the end).
        self.running: set[int] = set()
        # model id -> when the market's verifier was last seen to know its VKA (see zk_model_registered).
        self._registered_seen: dict[int, float] = {}
        self.lineage = LineagePolicy(suite, cfg.refuse_tainted_data, cfg.lineage_recheck_s)
        self.claims = ClaimSigner(account, self.chain_id, suite.market.address)
        self.models: dict[int, LoadedModel] = {}
        self.started = time.time()
        self._clock_offset = net.now() - time.time()  # chain time minus wall time (dev chains travel)
        self._probe_lock = threading.Lock()
        self._probe: tuple[float, str | None] = (0.0, None)  # (when, why the chain is not usable)
        # (when checked, problem) of the chain's identity, and the highest block number a probe saw
        self._identity: tuple[float, str | None] = (float("-inf"), None)
        self._probe_head = 0
        # (monotonic time read, number, timestamp) of the latest block seen: see latest_block
        self._latest: tuple[float, int, int] = (float("-inf"), 0, 0)
        # model id -> this node's offer (None: the list price), as /info reports it; see offer_of
        self._offers: dict[int, int | None] = {}
        self.retry_interval_s = 1.0
        # (job id, attester) of FHE attestations against this node, until settled or disputed
        self.accusations: set[tuple[int, str]] = set()
        # FHE jobs this node saw closed on chain (settled, refunded): not read again by the payout watch
        self.closed_fhe: set[int] = set()
        # FHE job -> chain time its challenge window closes: the payout watch does not re-read it before
        self.fhe_payout_due: dict[int, int] = {}

    def _genesis_hash(self) -> str:
        return bytes(self.net.w3.eth.get_block(0)["hash"]).hex()

    # --- the chain's health ----------------------------------------------------------------------
    def chain_now(self) -> int:
        """The chain's clock, read if the chain answers, else estimated from the last reading."""
        try:
            return self.latest_block()[1]
        except Exception as e:
            if not chain_down(e):
                raise
            return int(time.time() + self._clock_offset)

    def latest_block(self, max_age_s: float = 0.0) -> tuple[int, int]:
        """(number, timestamp) of the latest block: the reading of the probe, the chain watch or a
        clock read if one is at most ``max_age_s`` old, else read now. Why: the node's own loops (the
        probe every second, the watch pass's scan head and its steps' clocks every two seconds) read
        the same block up to four times a second; on four nodes sharing a machine that was a few
        percent of its CPU, for nothing. Only the loops pass an age; every other caller reads fresh."""
        when, number, ts = self._latest
        if time.monotonic() - when > max_age_s:
            number, ts = self.net.latest()
            self._latest = (time.monotonic(), number, ts)
            self._clock_offset = ts - time.time()
        return number, ts

    def chain_problem(self) -> str | None:
        """Why the node cannot settle on its chain right now (None: it can), from the latest probe
        (:meth:`probe_chain`, run every second by the node's prober thread). Answering from the probe,
        never probing in the caller: a busy chain (the embedded one verifying a proof takes seconds)
        must not make ``/health`` slow. A probe that has not come back for ``CHAIN_PROBE_STALE_S`` is a
        chain that does not answer."""
        when, problem = self._probe
        if when == 0.0:
            return self.probe_chain()
        age = time.monotonic() - when
        if age > CHAIN_PROBE_STALE_S:
            return f"chain not answering (last probe {age:.0f} s ago)"
        return problem

    def probe_chain(self) -> str | None:
        """Ask the chain whether the node can settle on it: it answers, it is still the chain history
        the node's records belong to (a reset dev chain has a new genesis block), the market has code.
        The identity (genesis, code) is checked every ``CHAIN_IDENTITY_INTERVAL_S``, at once when the
        latest block number went back, and on every probe while it is wrong."""
        with self._probe_lock:
            try:
                number, _ = self.latest_block()
                checked, problem = self._identity
                if (
                    problem is not None
                    or number < self._probe_head
                    or time.monotonic() - checked >= CHAIN_IDENTITY_INTERVAL_S
                ):
                    problem = self._check_identity()
                    self._identity = (time.monotonic(), problem)
                self._probe_head = number
            except Exception as e:
                if not chain_down(e):
                    raise
                problem = f"chain unreachable ({type(e).__name__})"
            self._probe = (time.monotonic(), problem)
            return problem

    def _check_identity(self) -> str | None:
        if self._genesis_hash() != self.genesis:
            return "chain reset: its genesis block changed since the node started (restart the node)"
        if not self.net.w3.eth.get_code(self.suite.market.contract.address):
            return "no JobMarket code at the configured address"
        return None

    def offer_of(self, model_id: int) -> int | None:
        """This node's offer for ``model_id`` as /info reports it (None: the model's list price).

        Cached: read from the chain once, then kept current by :meth:`follow_registry` from the
        ``OfferSet`` events of this node (every ``CHAIN_WATCH_INTERVAL_S``): an offer changed by
        ``veilproof node offer`` (another process, same key) shows within one chain-watch interval.
        /info is advisory: a client prices a job from the chain itself (``Client.nodes``), and the
        pay-on-proof quote (:meth:`Receipts._order_price`) still reads the chain per order."""
        if model_id not in self._offers:
            self._offers[model_id] = self.suite.nodes.offer(self.address, model_id)
        return self._offers[model_id]

    def scan_chain(self, from_block: int, head: int | None = None) -> ChainScan:
        """The events the chain watch's steps act on, in blocks ``from_block`` to the latest, in ONE
        ``eth_getLogs`` over the watched contracts (registry offers and models, delivery demands,
        quorum attestations): see :func:`veilproof.chain.facade.events_of`. Up to ``head`` (None: the
        head read afresh); a failed read raises (then no step advances its cursor)."""
        if head is None:
            head = self.latest_block()[0]
        wanted: list[tuple[ContractFacade, list[str] | None]] = [
            (self.suite.nodes, ["OfferSet"]),
            (self.suite.models, None),
            (self.suite.market, ["DeliveryDemanded"]),
        ]
        if (quorum := self.suite.quorum) is not None:
            wanted.append((quorum, ["Attested"]))
        return ChainScan(from_block, head, events_of(self.net, wanted, from_block, head))

    def follow_registry(self, from_block: int, scan: ChainScan | None = None) -> tuple[int, list[str]]:
        """Apply registry events since ``from_block`` to what the node caches: this node's offers
        (``OfferSet``: the event carries the new value) and its served models' on-chain records
        (``PriceSet``, ``ModelRetired``, ``ModelTransferred``, ...: the model is read again, so a
        changed price or royalty shows in /info and in pay-on-proof quotes). Events are applied in
        chain order, so a value read before or during the scanned range ends current. Returns (next
        block to scan, what changed). ``scan``: the chain-watch pass's read (None: read here)."""
        scan = self.scan_chain(from_block) if scan is None else scan
        if scan.head < from_block:
            return from_block, []
        changed: list[str] = []
        me = self.address.lower()
        for ev in scan.since(from_block, self.suite.nodes.address):
            if ev.name == "OfferSet" and str(ev.args["node"]).lower() == me:
                mid = int(ev.args["model_id"])
                self._offers[mid] = int(ev.args["price"]) if ev.args["active"] else None
                changed.append(f"offer {mid}")
        touched = {
            int(ev.args["model_id"])
            for ev in scan.since(from_block, self.suite.models.address)
            if "model_id" in ev.args
        }
        for mid in sorted(touched & set(self.models)):
            lm = self.models[mid]
            lm.onchain = self.suite.models.read_model(mid)
            changed.append(f"model {mid}")
        return scan.head + 1, changed

    def _retry_chain(self, fn: Callable[[], T], until: int, what: str) -> T:
        """``fn()``, retried while the chain is unreachable, until chain time ``until`` (a job's
        deadline): a proven result lost to a connection error would be a slash at the deadline."""
        delay = self.retry_interval_s
        while True:
            try:
                return fn()
            except Exception as e:
                if not chain_down(e) or self.chain_now() > until:
                    raise
                log.warning("%s: chain unreachable (%s); retrying in %.0f s", what, type(e).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _decode_input(self, encrypted_input: bytes, lm: LoadedModel) -> np.ndarray:
        """The ZK input: decrypted with the node's key, parsed, checked against the model's shape.
        Admission decodes to check the commitment; work decodes again from the stored envelope (the
        plaintext is never stored)."""
        try:
            with phase("decrypt"):
                plain = decrypt_for_node(bytes(self.account.key), encrypted_input)
                x = np.asarray(json.loads(plain), dtype=np.float64)
        except (InputError, ValueError, TypeError) as e:
            raise BadInput(f"encrypted_input: cannot decrypt or parse ({type(e).__name__})") from e
        shape = tuple(lm.require_zk().input_shape)
        if x.size != int(np.prod(shape)) or not np.all(np.isfinite(x)):
            raise BadInput(f"input: expected {int(np.prod(shape))} finite numbers (shape {shape})")
        return x.reshape(shape)

    def zk_model_registered(self, model_id: int, max_age_s: float = 0.0) -> bool:
        """Whether the market's ZK verifier has the model's VKA (else every proof of it fails on chain).

        ``max_age_s``: a "yes" read less than that long ago is reused (two calls, ~20 ms, saved per
        admission). Only a "yes" is cached, and a stale one cannot cost anyone: if the verifier lost the
        model meanwhile, the node's pre-sign ``eth_call`` of its submit fails, and it declines the job
        (``reject_job``: the client is refunded at once, nobody is slashed)."""
        from veilproof.chain.facade import ZERO_ADDRESS
        from veilproof.chain.zk_verifier_adapter import ZkVerifierAdapter

        seen = self._registered_seen.get(model_id)
        if seen is not None and time.monotonic() - seen < max_age_s:
            return True
        verifier = self.suite.market.zk_verifier()
        if int(verifier, 16) == int(ZERO_ADDRESS, 16):
            return False
        try:
            registered = ZkVerifierAdapter(self.net, verifier).is_registered(model_id)
        except ContractReverted:
            return False  # not an adapter: the node cannot tell, so it does not take the risk
        if registered:
            self._registered_seen[model_id] = time.monotonic()
        else:
            self._registered_seen.pop(model_id, None)
        return registered

    def _enqueue(self, job_id: int, mode: int, slot: Reservation | None = None) -> None:
        """Queue a recorded job for work on ``slot`` (implemented by :class:`veilproof.node.work.Work`)."""
        raise NotImplementedError
