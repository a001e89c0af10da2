"""A network under load: anvil, K node processes, 4 client processes, N paid jobs, then the books.

Why here and not in ``bench/``: the benchmark (``bench/network.py``) and the end-to-end correctness
check (``tests/e2e/test_network_load.py``) run the same network; only what they read from the
result differs (throughput and latency vs. "every paid job settled or refunded, nobody honest lost").

Everything is real: anvil, the suite, ``veilproof.node.runner`` processes over HTTP, and client
*processes* (``python -m veilproof.demo.load --client SPEC.json``) that use the production
:class:`~veilproof.client.Client`. Each client process runs one thread per account (so the per-job
approve + open of today's JobMarket path needs no nonce juggling) and takes jobs from its plan until
the plan is empty. Some clients cheat; see :data:`ROLES`.

How a job is paid is a *settlement strategy* (:data:`STRATEGIES`): one function per way of paying,
``onchain`` (the per-job JobMarket escrow, the proof verified on chain per job) and ``receipts``
(pay-on-proof on ReceiptMarket, docs/settlement.md: the client verifies the proof locally and signs a
receipt, the node settles receipts in batches; FHE jobs stay on JobMarket, FHE on ReceiptMarket is not
built). The post-run book-keeping (finalize, refund, claims, deposits back) is per strategy too
(:data:`CLOSERS`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from eth_account import Account
from eth_account.signers.local import LocalAccount

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, Deployment, ReceiptParams, SuiteParams
from veilproof.chain.job_market import JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.network import Network, Receipt
from veilproof.chain.receipt_market import Order, ReceiptMarket
from veilproof.chain.suite import Suite
from veilproof.client import Client
from veilproof.client.client import PaidOrder
from veilproof.client.errors import NodeUnavailable
from veilproof.client.node_api import NodeApi
from veilproof.client.publish import publish_model
from veilproof.client.selection import NodeOffer, SelectionPolicy
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.errors import ChainError, ContractReverted
from veilproof.node.config import ServedModel, prover_threads_for
from veilproof.protocol.api import JobReport, OrderAccepted, OrderReport, WireOrder, ZkOrderRequest

PRICE = 2 * ONE_VEIL
SLASH = 50 * ONE_VEIL
NODE_STAKE_VEIL = 300
#: ReceiptMarket for the ``receipts`` settlement: short windows (the run moves the chain clock, not
#: the wall clock), the load's slash, no protocol fee (as ``SuiteParams.dev``); the default claim
#: surcharge and demand bond.
RECEIPT_PARAMS = ReceiptParams(
    max_deadline=1800, claim_window=600, response_window=600, withdraw_delay=4000,
    slash_amount=SLASH, fee_bps=0,
)  # fmt: skip

# --- what each job does --------------------------------------------------------------------------
# (what each means on ReceiptMarket, the ``receipts`` settlement, in brackets)
HONEST = "honest"  # open, send, wait, check the result against the chain (ZK) / decrypt + accept (FHE)
# [order, proof verified locally, receipt; the node settles it in a batch]
LAZY = "lazy"  # open, send, walk away: never fetches the result (ZK settles on submit; FHE by finalize)
# [never fetches the delivery, never signs a receipt: the node claims with the proof after the deadline]
VANISH = "vanish"  # open and vanish before sending the input: refunded after the deadline, nobody slashed
# [deposits and signs the order, never sends it: nothing owed, the deposit withdrawable after the delay]
BOGUS_CHALLENGE = "bogus_challenge"  # an honest ZK job, then tries to farm a slash with challenge_zk
# [a receipted job, then challenge / claim / demand / withdraw against it: each must revert]

#: Per client role, the behaviour of its ZK and FHE jobs, by job number: a cheater alternates.
ROLES: dict[str, Callable[[str, int], str]] = {
    "honest": lambda mode, i: HONEST,
    "cheater": lambda mode, i: (BOGUS_CHALLENGE if i % 2 == 0 else LAZY) if mode == "zk" else LAZY,
    "vanisher": lambda mode, i: VANISH if i % 4 == 3 else HONEST,
}
DEFAULT_ROLES = ("honest", "honest", "cheater", "vanisher")


@dataclass
class PlannedJob:
    seq: int
    mode: str  # "zk" | "fhe"
    behaviour: str
    x: list[float]


@dataclass
class JobEvent:
    """One planned job as its client saw it (a JSON line in the client's events file)."""

    client: int
    seq: int
    mode: str
    behaviour: str
    outcome: str  # "settled" | "left" (lazy/vanish, by design) | "failed"
    job_ids: list[int] = field(default_factory=list)
    node: str = ""
    t_start: float = 0.0  # wall clock (time.time()): comparable across processes
    t_end: float = 0.0
    latency_s: float | None = None  # open -> settled as the client sees it (honest jobs)
    error_kind: str = ""
    error: str = ""
    attacks: list[dict[str, str]] = field(default_factory=list)  # what a cheater tried, and how it ended
    abandoned: list[int] = field(default_factory=list)  # jobs opened for an attack, never sent to the node
    market: str = "job"  # "job" (JobMarket) | "receipt" (ReceiptMarket, pay-on-proof)
    # pay-on-proof orders this job signed: {"hash", "client", "node", "nonce", "deadline", "max_price"}
    orders: list[dict[str, Any]] = field(default_factory=list)


class WalkedAway(Exception):
    """A lazy or vanishing client leaves the job (not a node failure: the client does not retry).
    ``job_id`` names a JobMarket job; a pay-on-proof order left is ``order`` (its hash) instead,
    with ``wire`` when the order was never sent."""

    def __init__(self, job_id: int = 0, order: str = "", wire: WireOrder | None = None) -> None:
        super().__init__(f"client left job {job_id}" if job_id else f"client left order {order}")
        self.job_id, self.order, self.wire = job_id, order, wire


def _order_record(o: Order, order_hash: str) -> dict[str, Any]:
    return {
        "hash": order_hash, "client": o.client, "node": o.node, "nonce": o.nonce,
        "deadline": o.deadline, "max_price": o.max_price,
    }  # fmt: skip


class _LeavingApi(NodeApi):
    """A node's API as a client that leaves a pay-on-proof order sees it: gone before sending the
    order (``at="submit"``), or right after the node accepted it (``at="wait"``)."""

    def __init__(self, endpoint: str, http: Any, at: str) -> None:
        super().__init__(endpoint, http=http)
        self.at = at

    def submit_order(self, request: ZkOrderRequest) -> OrderAccepted:
        if self.at == "submit":
            raise WalkedAway(wire=request.order)
        return super().submit_order(request)

    def wait_order(self, order_hash: str, timeout: float, interval: float = 0.5) -> OrderReport:
        if self.at == "wait":
            raise WalkedAway(order=order_hash)
        return super().wait_order(order_hash, timeout, interval)


class RecordingClient(Client):
    """The production client, noting the pay-on-proof orders a node accepted for it (``orders``) and the
    last order it paid by receipt (``paid``): what the books and the bogus challenges need."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.orders: list[dict[str, Any]] = []
        self.paid: PaidOrder | None = None

    def _remember_order(self, order: Order, order_hash: str, acceptance_sig: bytes) -> None:
        self.orders.append(_order_record(order, order_hash))
        super()._remember_order(order, order_hash, acceptance_sig)

    def pay_receipt(self, paid: PaidOrder, offer: NodeOffer) -> str:
        self.paid = paid
        return super().pay_receipt(paid, offer)


class LazyClient(RecordingClient):
    """Sends the input, then never asks for the result (pay-on-proof: never fetches the delivery, so
    never signs a receipt)."""

    def _wait(self, api: NodeApi, job_id: int, say: Callable[[str], None]) -> JobReport | None:
        raise WalkedAway(job_id)

    def _api(self, offer: NodeOffer) -> NodeApi:
        return _LeavingApi(offer.endpoint, self.http, "wait")


class VanishingClient(RecordingClient):
    """Opens the job (escrow paid) and is gone before sending the input (pay-on-proof: deposits and
    signs the order, never sends it)."""

    def _api(self, offer: NodeOffer) -> NodeApi:
        return _LeavingApi(offer.endpoint, self.http, "submit")

    def _open_job(
        self,
        m: OnchainModel,
        offer: NodeOffer,
        commitment: int,
        mode: JobMode,
        eval_keys_hash: str | None = None,
    ) -> tuple[int, str]:
        job_id, _tx = super()._open_job(m, offer, commitment, mode, eval_keys_hash)
        raise WalkedAway(job_id)


#: How long a client process reuses a node's ``/info`` in-flight count (see :class:`NodeLoads`).
NODE_LOAD_TTL_S = 1.0


class NodeLoads:
    """Each node's in-flight count as a client process last read it from ``/info``, reused for
    ``ttl_s`` by all of the process's threads; a job a thread sends counts at once (+1 on the node it
    picked), so threads picking within one reading still spread.

    Why: every thread read every node's ``/info`` before each job (nodes x jobs requests, ~a third of
    a node's HTTP requests under load); within a second a count is as good as fresh."""

    def __init__(self, ttl_s: float = NODE_LOAD_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, float]] = {}  # endpoint -> (monotonic time read, load)

    def get(self, endpoint: str, read: Callable[[], float]) -> float:
        """The node's load: the cached count if younger than ``ttl_s``, else ``read()`` (and cached)."""
        with self._lock:
            cached = self._seen.get(endpoint)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        load = read()
        with self._lock:
            self._seen[endpoint] = (time.monotonic(), load)
        return load

    def picked(self, endpoint: str) -> None:
        """A thread is sending a job to this node: count it until the next reading."""
        with self._lock:
            if endpoint in self._seen:
                when, load = self._seen[endpoint]
                self._seen[endpoint] = (when, load + 1)


def least_loaded(http_timeout: float, rng: random.Random, loads: NodeLoads | None = None) -> SelectionPolicy:
    """Least busy node first (its ``/info`` in-flight count, through ``loads``: read at most every
    ``NODE_LOAD_TTL_S``; random among equals): what a client that wants latency does, and it spreads
    load across nodes. Unreachable nodes go last."""
    from veilproof.protocol.http import http_client

    http = http_client(http_timeout)
    book = NodeLoads() if loads is None else loads

    def policy(offers: list[NodeOffer]) -> list[NodeOffer]:
        def read(o: NodeOffer) -> float:
            try:
                return float(NodeApi(o.endpoint, http=http).info().inflight)
            except NodeUnavailable:
                return float("inf")

        keyed = [(book.get(o.endpoint, functools.partial(read, o)), rng.random(), o) for o in offers]
        ranked = [o for _, _, o in sorted(keyed, key=lambda t: (t[0], t[1]))]
        if ranked:
            book.picked(ranked[0].endpoint)
        return ranked

    return policy


@dataclass
class JobContext:
    """One client thread: its account, and a client per behaviour (all paying from that account)."""

    index: int
    suite: Suite
    account: LocalAccount
    home: Path
    zk_model: int
    fhe_model: int
    deadline_s: int
    vanish_deadline_s: int
    job_timeout: float
    rng: random.Random
    loads: NodeLoads | None = None  # the process's node loads, shared by its threads (None: own)
    _clients: dict[str, RecordingClient] = field(default_factory=dict)

    def client(self, behaviour: str) -> RecordingClient:
        if behaviour not in self._clients:
            cls = {LAZY: LazyClient, VANISH: VanishingClient}.get(behaviour, RecordingClient)
            deadline = self.vanish_deadline_s if behaviour == VANISH else self.deadline_s
            self._clients[behaviour] = cls(
                self.suite, self.account, self.home, deadline_s=deadline, poll_interval=0.2,
                job_timeout=self.job_timeout, selection=least_loaded(30.0, self.rng, self.loads),
            )  # fmt: skip
        return self._clients[behaviour]


def _bogus_challenges(ctx: JobContext, job_id: int, node: str) -> tuple[list[dict[str, str]], list[int]]:
    """A client that got its answer tries to get the honest node slashed anyway, with the node's signed
    claim of the settled job: (1) on that job with a changed output; (2) replayed on a new job it opens
    with the same node and the same input commitment, which it then abandons (refunded after the
    deadline; the node never took it). Both must revert. Returns the attempts and the abandoned job."""
    market, honest = ctx.suite.market, ctx.client(HONEST)
    offer = next(o for o in honest.nodes(ctx.zk_model) if o.address == node)
    with NodeApi(offer.endpoint) as api:
        claim = api.job(job_id).zk
    if claim is None:
        return [{"attack": "challenge_zk", "result": "no claim to challenge with"}], []
    inst = [int(h, 16) for h in claim.instances]
    proof = bytes.fromhex(claim.proof.removeprefix("0x"))
    sig = bytes.fromhex(claim.node_signature.removeprefix("0x"))
    tampered = [*inst[:-1], (inst[-1] + 1) % (1 << 254)]
    commitment = market.read_job(job_id).input_commitment.to_bytes(32, "big")
    price = ctx.suite.models.read_model(ctx.zk_model).price
    deadline = ctx.suite.net.now() + ctx.vanish_deadline_s
    replay_job, _ = honest.payer.open_job(ctx.zk_model, node, commitment, JobMode.ZK, deadline, price)
    out = []
    for name, target, instances in (
        ("tampered output on the settled job", job_id, tampered),
        ("claim replayed on a new open job", replay_job, inst),
    ):
        try:
            honest.payer.call(market.challenge_zk_call(target, instances, proof, sig))
            out.append({"attack": name, "result": "ACCEPTED"})
        except ContractReverted as e:
            out.append({"attack": name, "result": f"reverted: {e.reason}"})
    return out, [replay_job]


def onchain_job(ctx: JobContext, job: PlannedJob) -> JobEvent:
    """Today's settlement: each job is opened, paid and settled on chain by itself (JobMarket)."""
    ev = JobEvent(ctx.index, job.seq, job.mode, job.behaviour, "failed", t_start=time.time())
    model = ctx.zk_model if job.mode == "zk" else ctx.fhe_model
    t0 = time.perf_counter()
    try:
        res = ctx.client(job.behaviour).infer(model, job.x, private=job.mode == "fhe")
        ev.latency_s = time.perf_counter() - t0
        ev.outcome, ev.job_ids, ev.node = "settled", [res.job_id], res.node
        ev.job_ids += [a["job_id"] for a in res.attempts if "job_id" in a]
        if job.behaviour == BOGUS_CHALLENGE:
            ev.attacks, ev.abandoned = _bogus_challenges(ctx, res.job_id, res.node)
    except WalkedAway as e:
        ev.outcome, ev.job_ids = "left", [e.job_id]
    except Exception as e:  # a failure is a result of the benchmark: record it, keep going
        ev.error_kind, ev.error = type(e).__name__, str(e)[:400]
        details = getattr(e, "details", None) or {}
        ids = [details["job_id"]] if "job_id" in details else []
        ids += [a["job_id"] for a in getattr(e, "attempts", []) if "job_id" in a]
        ev.job_ids = ids
    ev.t_end = time.time()
    return ev


def _bogus_receipt_challenges(ctx: JobContext, paid: PaidOrder) -> list[dict[str, str]]:
    """A client that verified its result and signed the receipt tries, with everything it holds (the
    order, the node's acceptance and signed delivery), to get the honest node slashed or not paid for
    that order: challenge the delivery (as delivered, and with a changed output), replay the node's
    delivery signature on another order with the same input, claim the order's proof itself, demand
    the delivered order, take back the deposit the receipt is paid from. Each must revert (before
    anything is mined: the gas estimate runs the call); returns the attempts."""
    rm = ctx.suite.receipts
    assert rm is not None and paid.delivery is not None
    acct, o, d = ctx.account, paid.order, paid.delivery
    inst = [int(h, 16) for h in d.instances]
    proof = bytes.fromhex(d.proof.removeprefix("0x"))
    sig = bytes.fromhex(d.node_signature.removeprefix("0x"))
    tampered = [*inst[:-1], (inst[-1] + 1) % (1 << 254)]
    other = dataclasses.replace(o, nonce=o.nonce + (1 << 64))  # never sent to the node: off chain only
    attempts: tuple[tuple[str, Callable[[], object]], ...] = (
        ("challenge of the delivered order", lambda: rm.challenge(o, inst, proof, sig, sender=acct)),
        ("challenge with a changed output", lambda: rm.challenge(o, tampered, proof, sig, sender=acct)),
        ("delivery replayed on another order", lambda: rm.challenge(other, inst, proof, sig, sender=acct)),
        (
            "claim_with_proof by the client",
            lambda: rm.claim_with_proof(o, rm.sign_order(o, acct), inst, proof, sender=acct),
        ),
        ("demand of the delivered order", lambda: rm.demand(o, paid.acceptance_sig, sender=acct)),
        ("withdraw the deposit at once", lambda: rm.withdraw(o.node, sender=acct)),
    )
    out = []
    for name, attempt in attempts:
        try:
            attempt()
            out.append({"attack": name, "result": "ACCEPTED"})
        except ContractReverted as e:
            out.append({"attack": name, "result": f"reverted: {e.reason}"})
    return out


def receipts_job(ctx: JobContext, job: PlannedJob) -> JobEvent:
    """Pay-on-proof (ReceiptMarket): a ZK job is an order the client signs, paid from its deposit by the
    receipt it signs after verifying the proof locally; the node settles receipts in batches. FHE jobs
    stay on JobMarket (:func:`onchain_job`): FHE on ReceiptMarket is not built (a demand could not be
    answered without the output ciphertext on chain)."""
    if job.mode == "fhe":
        return onchain_job(ctx, job)
    ev = JobEvent(
        ctx.index, job.seq, job.mode, job.behaviour, "failed", t_start=time.time(), market="receipt"
    )
    client = ctx.client(job.behaviour)
    client.orders, client.paid = [], None
    t0 = time.perf_counter()
    try:
        res = client.infer(ctx.zk_model, job.x, eager=False)
        ev.latency_s = time.perf_counter() - t0
        ev.outcome, ev.node = "settled", res.node  # receipted: the node settles it in a batch later
        if job.behaviour == BOGUS_CHALLENGE and client.paid is not None:
            ev.attacks = _bogus_receipt_challenges(ctx, client.paid)
    except WalkedAway as e:
        ev.outcome = "left"
        if e.wire is not None:  # vanished: signed (and deposited) but never sent
            o = Order(**e.wire.fields())
            rm = ctx.suite.receipts
            assert rm is not None
            client.orders.append(_order_record(o, "0x" + rm.order_hash(o).hex()))
        if e.order:
            client._forget_order(e.order)  # gone for good: it will not demand what it walked away from
    except Exception as e:  # a failure is a result of the benchmark: record it, keep going
        ev.error_kind, ev.error = type(e).__name__, str(e)[:400]
    ev.orders = list(client.orders)
    ev.node = ev.node or (ev.orders[-1]["node"] if ev.orders else "")
    ev.t_end = time.time()
    return ev


Strategy = Callable[[JobContext, PlannedJob], JobEvent]
#: settlement mode -> how a client runs one job (and :data:`CLOSERS`: how the run's jobs are closed).
STRATEGIES: dict[str, Strategy] = {"onchain": onchain_job, "receipts": receipts_job}


# --- the client process ----------------------------------------------------------------------------
def client_main(spec_path: Path) -> int:
    """Run one client process's plan (``python -m veilproof.demo.load --client SPEC.json``)."""
    warnings.simplefilter("ignore")
    spec = json.loads(spec_path.read_text())
    suite = Suite.attach(connect(spec["chain_url"]), Deployment.load(Path(spec["deployment_file"])))
    jobs: queue.Queue[PlannedJob] = queue.Queue()
    for j in spec["jobs"]:
        jobs.put(PlannedJob(**j))
    strategy = STRATEGIES[spec["settlement"]]
    lock = threading.Lock()
    events = open(spec["events"], "a")  # noqa: SIM115 - closed below, after the threads
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    loads = NodeLoads()
    # every (behaviour, mode) this process's threads may meet: any thread may take any of its jobs
    kinds = sorted({(j.behaviour, j.mode) for j in jobs.queue})
    warm = threading.Barrier(len(spec["keys"]), action=lambda: _start_signal(spec))

    def worker(t: int, key: str) -> None:
        ctx = JobContext(
            spec["index"], suite, Account.from_key(key), Path(spec["home"]) / f"t{t}",
            spec["zk_model"], spec["fhe_model"], spec["deadline_s"], spec["vanish_deadline_s"],
            spec["job_timeout"], random.Random(spec["seed"] * 1000 + t), loads,
        )  # fmt: skip
        for behaviour, mode in kinds:
            fhe = mode == "fhe"
            ctx.client(behaviour).prepare(ctx.fhe_model if fhe else ctx.zk_model, private=fhe)
        warm.wait()
        while not stop.is_set():
            try:
                job = jobs.get_nowait()
            except queue.Empty:
                return
            ev = strategy(ctx, job)
            with lock:
                events.write(json.dumps(asdict(ev)) + "\n")
                events.flush()

    threads = [threading.Thread(target=worker, args=(t, k), daemon=True) for t, k in enumerate(spec["keys"])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    events.close()
    return 0


def _start_signal(spec: dict[str, Any]) -> None:
    """Every thread of this client process is warm: say so (``spec["ready"]``) and wait for the
    harness's go (``spec["go"]``), so that no client's start-up (imports, artifact downloads, FHE key
    generation: once per client, not per job) runs inside the load window of the others."""
    if "ready" not in spec:
        return
    Path(spec["ready"]).touch()
    t_end = time.monotonic() + float(spec.get("go_timeout", 600))
    while not Path(spec["go"]).exists():
        if time.monotonic() > t_end:
            raise TimeoutError(f"no go from the harness within {spec.get('go_timeout', 600)}s")
        time.sleep(0.05)


# --- models ---------------------------------------------------------------------------------------------
@dataclass
class LoadModels:
    """The ZK MLP (logrows 11) and the FHE logistic regression, built into one artifact store."""

    zk_package: Any  # veilproof.models.ModelPackage
    zk_inputs: np.ndarray
    fhe_bundle: Any  # veilproof.fhe.FheBundle
    fhe_inputs: np.ndarray
    store_root: Path


def build_models(root: Path, zk_package: Any = None, zk_inputs: np.ndarray | None = None) -> LoadModels:
    """Build (or reuse cached) example models; a test passes its session's ZK package to save time."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.fhe_examples import build_bundle, load_dataset
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    if zk_package is None:
        from veilproof.models import build_zk_package
        from veilproof.models.examples import build_example

        ex = build_example("breast_cancer_mlp", root / "examples")
        store = ArtifactStore(root / "store")
        zk_package = build_zk_package(ex.onnx_path, ex.calibration_path, store, name="breast_cancer_mlp")
        zk_inputs = ex.x_test
    store = zk_package.store
    data = load_dataset()
    bundle = build_bundle("logreg", store, data)
    assert zk_inputs is not None
    return LoadModels(zk_package, np.asarray(zk_inputs), bundle, np.asarray(data.x_test), store.root)


# --- the run ----------------------------------------------------------------------------------------
@dataclass
class LoadConfig:
    jobs: int = 30
    nodes: int = 2
    clients: int = 4
    roles: tuple[str, ...] = DEFAULT_ROLES
    fhe_share: float = 0.3
    inflight_per_node: int = 3  # client threads in all = nodes * this: enough to keep every node busy
    workers: int = 1
    settlement: str = "onchain"
    settle_batch: int = 20  # receipts: a node settles once it holds this many receipts (node default)
    deadline_s: int = 600
    vanish_deadline_s: int = 20
    challenge_window: int = 20
    job_timeout: float = 600.0
    timeout: float = 3600.0  # the whole load phase
    seed: int = 0


@dataclass
class _Proc:
    role: str
    name: str
    proc: subprocess.Popen[bytes]


class CpuMeter:
    """CPU seconds per process tree (psutil): sampled while it runs, so children that exit (prover
    workers) still count up to their last sample. A process already running at a tree's first sample
    counts from that sample (a node's prover and FHE processes, warmed while the node started, spent
    seconds importing and loading packages before the load: that is start-up, not per job); one
    started later counts from zero."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.roots: dict[str, tuple[str, int, bool]] = {}
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.owner: dict[int, str] = {}
        self._sampled_at = float("-inf")

    def add(self, name: str, role: str, pid: int, *, children: bool = True) -> None:
        """Meter ``pid`` (and, with ``children``, every process it starts) as ``name``."""
        self.roots[name] = (role, pid, children)

    #: Seconds between two readings (walking the process tree reads all of /proc, and the harness's own
    #: CPU shares the machine with the load); ``sample(force=True)`` reads at once.
    EVERY_S = 1.0

    def sample(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._sampled_at < self.EVERY_S:
            return
        self._sampled_at = now
        for name, (_, pid, children) in self.roots.items():
            try:
                root = self.psutil.Process(pid)
                procs = [root, *(root.children(recursive=True) if children else [])]
            except self.psutil.Error:
                continue
            first_sample = pid not in self.first
            for p in procs:
                try:
                    t = p.cpu_times()
                except self.psutil.Error:
                    continue
                s = t.user + t.system
                self.first.setdefault(p.pid, s if first_sample else 0.0)
                self.last[p.pid] = s
                self.owner.setdefault(p.pid, name)

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = dict.fromkeys(self.roots, 0.0)
        for pid, name in self.owner.items():
            out[name] += self.last[pid] - self.first[pid]
        return out

    def roots_only(self, role: str) -> float:
        """CPU seconds of the root processes of ``role`` alone (a node's own process, without its
        prover and FHE processes): what the node adds around the engine."""
        return sum(
            self.last[pid] - self.first[pid]
            for name, (r, pid, _) in self.roots.items()
            if r == role and pid in self.last
        )

    def by_role(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, s in self.seconds().items():
            role = self.roots[name][0]
            out[role] = out.get(role, 0.0) + s
        return out


def _plan(cfg: LoadConfig, models: LoadModels, rng: random.Random) -> list[list[PlannedJob]]:
    """Jobs dealt round-robin to the clients; ZK or FHE by ``fhe_share``; behaviour by client role."""
    per: list[list[PlannedJob]] = [[] for _ in range(cfg.clients)]
    counts: list[dict[str, int]] = [{"zk": 0, "fhe": 0} for _ in range(cfg.clients)]
    for seq in range(cfg.jobs):
        c = seq % cfg.clients
        mode = "fhe" if rng.random() < cfg.fhe_share else "zk"
        xs = models.fhe_inputs if mode == "fhe" else models.zk_inputs
        x = np.asarray(xs[rng.randrange(len(xs))], dtype=np.float64).ravel().tolist()
        behaviour = ROLES[cfg.roles[c % len(cfg.roles)]](mode, counts[c][mode])
        counts[c][mode] += 1
        per[c].append(PlannedJob(seq, mode, behaviour, x))
    return per


Progress = Callable[[dict[str, Any]], None]


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A ``kill`` of the run cleans up like Ctrl-C does (the finally blocks run)."""

    def handler(*_: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_load(
    cfg: LoadConfig,
    models: LoadModels,
    *,
    root: Path | None = None,
    progress: Progress | None = None,
    keep: bool = False,
) -> dict[str, Any]:
    """Start everything, run the plan, close every job, check the books; stop and clean up always.

    Returns the measurements (throughput, latency, gas, CPU, failures) and ``checks`` (each paid
    job's end state against its behaviour, stakes, conservation of VEIL)."""
    from veilproof.chain.dev.anvil import start_anvil
    from veilproof.zk import evm

    if cfg.settlement not in STRATEGIES:
        raise ValueError(f"settlement: expected one of {sorted(STRATEGIES)}, got {cfg.settlement!r}")
    own_root = root is None
    root = Path(tempfile.mkdtemp(prefix="vp-load-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    anvil = None
    lnet: LocalNetwork | None = None
    clients: list[_Proc] = []
    say = progress or (lambda _d: None)
    try:
        with _sigterm_as_interrupt():
            t_setup = time.perf_counter()
            anvil = start_anvil()
            v = evm.compile_reusable_verifier()
            params = SuiteParams.dev(
                slash_amount=SLASH, max_deadline=3600, challenge_window=cfg.challenge_window
            )
            receipts = RECEIPT_PARAMS if cfg.settlement == "receipts" else None
            lnet = LocalNetwork.start(
                root / "net", anvil.url, params=params, verifier=(v.abi, v.bytecode), receipts=receipts
            )
            pkg, bundle = models.zk_package, models.fhe_bundle
            zk_id = publish_model(
                lnet.suite, lnet.owner, name="mlp", price=PRICE, royalty_bps=2_000,
                onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg,
            ).model_id  # fmt: skip
            fhe_id = publish_model(
                lnet.suite, lnet.owner, name="logreg-fhe", price=PRICE, royalty_bps=2_000,
                onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
                fhe_server_hash=bundle.server_zip_hash,
            ).model_id  # fmt: skip
            served = [
                ServedModel(zk_id, zk_package=pkg.manifest_digest),
                ServedModel(fhe_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash),
            ]
            nodes = [
                lnet.start_node(
                    f"node{i}",
                    served,
                    artifacts_dir=models.store_root,
                    stake_veil=NODE_STAKE_VEIL,
                    wait=False,
                    workers=cfg.workers,
                    queue_limit=max(8, 2 * cfg.inflight_per_node),
                    # one EZKL thread per prover when the provers of all nodes fill the cores
                    config={
                        "settle_batch": cfg.settle_batch,
                        "prover_threads": prover_threads_for(cfg.nodes * cfg.workers),
                    },
                )  # fmt: skip
                for i in range(cfg.nodes)
            ]
            for n in nodes:
                lnet.wait_ready(n)
            rng = random.Random(cfg.seed)
            plan = _plan(cfg, models, rng)
            threads_total = max(cfg.clients, cfg.nodes * cfg.inflight_per_node)
            keys: list[list[LocalAccount]] = []
            for c in range(cfg.clients):
                n_threads = max(1, threads_total // cfg.clients + (c < threads_total % cfg.clients))
                n_threads = min(n_threads, max(1, len(plan[c])))
                # threads share their client's queue, so any account may take all of its jobs, and a
                # cheater opens a second job per bogus challenge (refunded only after the run)
                budget = 2 * (len(plan[c]) + 1) * PRICE // ONE_VEIL + 10
                if receipts is not None:  # deposits of 10 orders' worth with each node, held until settled
                    budget += cfg.nodes * 10 * (PRICE + receipts.claim_surcharge) // ONE_VEIL
                keys.append([lnet.new_funded(budget) for _ in range(n_threads)])
            book = _Books.open(
                lnet, [a.address for ks in keys for a in ks], [n.account.address for n in nodes]
            )
            meter = CpuMeter()
            meter.add("anvil", "anvil", anvil.proc.pid)
            for n in nodes:
                assert n.proc is not None
                meter.add(n.name, "node", n.proc.pid)
            meter.add("harness", "harness", os.getpid(), children=False)
            start_block = lnet.net.w3.eth.block_number + 1
            setup_s = time.perf_counter() - t_setup
            # --- load --------------------------------------------------------------------------
            t0 = time.time()
            for c in range(cfg.clients):
                spec = {
                    "index": c, "chain_url": anvil.url, "deployment_file": str(lnet.deployment_file),
                    "zk_model": zk_id, "fhe_model": fhe_id, "home": str(root / "clients" / str(c)),
                    "events": str(root / f"events-{c}.jsonl"), "keys": ["0x" + a.key.hex() for a in keys[c]],
                    "jobs": [asdict(j) for j in plan[c]], "settlement": cfg.settlement,
                    "deadline_s": cfg.deadline_s, "vanish_deadline_s": cfg.vanish_deadline_s,
                    "job_timeout": cfg.job_timeout, "seed": cfg.seed * 100 + c,
                    "ready": str(root / f"ready-{c}"), "go": str(root / "go"), "go_timeout": cfg.timeout,
                }  # fmt: skip
                spec_path = root / f"client-{c}.json"
                spec_path.write_text(json.dumps(spec))
                log = open(root / f"client-{c}.log", "ab")  # noqa: SIM115 - owned by the child
                p = subprocess.Popen(
                    [sys.executable, "-m", "veilproof.demo.load", "--client", str(spec_path)],
                    stdout=log, stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONWARNINGS": "ignore"},
                )  # fmt: skip
                role = cfg.roles[c % len(cfg.roles)]
                clients.append(_Proc(role, f"client{c}", p))
            # Clients start and warm up (imports, artifacts, FHE keys) before the load: a client is a
            # long-lived process, and one client's start-up must not be billed to the others' jobs.
            # Their CPU is metered from the go on.
            t_warm_end = time.monotonic() + cfg.timeout
            while not all((root / f"ready-{c}").exists() for c in range(cfg.clients)):
                dead = [c.name for c in clients if c.proc.poll() is not None]
                if dead:
                    tail = (root / f"client-{dead[0][6:]}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"client process(es) {dead} ended during warm-up:\n{tail}")
                if time.monotonic() > t_warm_end:
                    raise TimeoutError(f"clients not warm within {cfg.timeout:.0f}s; see {root}/client-*.log")
                time.sleep(0.1)
            client_warmup_s = time.time() - t0
            for cp in clients:
                meter.add(f"{cp.name}-{cp.role}", "client", cp.proc.pid)
            meter.sample(force=True)
            t0 = time.time()
            (root / "go").touch()
            events: list[JobEvent] = []
            event_tail = _EventTail(root, cfg.clients)
            deadline = time.monotonic() + cfg.timeout
            last_tick = 0.0
            while True:
                meter.sample()
                events = event_tail.read()
                running = [c for c in clients if c.proc.poll() is None]
                if time.monotonic() - last_tick >= 1.0:
                    last_tick = time.monotonic()
                    say(_progress_line(events, cfg.jobs, time.time() - t0))
                if not running:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"load phase over {cfg.timeout:.0f}s; see {root}/client-*.log")
                time.sleep(0.5)
            bad = [c.name for c in clients if c.proc.returncode != 0]
            if bad:
                tail = (root / f"client-{bad[0][6:]}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"client process(es) {bad} failed:\n{tail}")
            # the lazy clients' jobs are still being proven: the load ends when the nodes are done
            t_clients = time.time()
            t_end = _wait_computed(lnet.suite, events, meter, deadline, nodes)
            meter.sample(force=True)
            cpu = meter.seconds()
            cpu_roles = meter.by_role()
            cpu["node main processes"] = meter.roots_only("node")
            # from the first job opened (client processes have started and imported their libraries)
            t_first = min((e.t_start for e in events), default=t0)
            window = t_end - t_first
            # --- close every job (time may be moved on now: the load is over) --------------------
            keys_by_addr = {str(a.address).lower(): a for ks in keys for a in ks}
            close_log = CLOSERS[cfg.settlement](lnet, nodes, keys_by_addr, events)
            # gas counts the closing transactions too (finalize, refunds): they are part of the jobs' cost
            end_block = lnet.net.w3.eth.block_number
            gas = _gas(lnet, start_block, end_block)
            checks = book.check(lnet, events, nodes, keys_by_addr)
            summary = _summary(
                cfg,
                events,
                window,
                t_clients - t0,
                t_first - t0,
                setup_s,
                gas,
                cpu,
                cpu_roles,
                checks,
                close_log,
            )
            summary["client_warmup_s"] = client_warmup_s
            return summary
    finally:
        for cp in clients:
            if cp.proc.poll() is None:
                cp.proc.terminate()
        for cp in clients:
            try:
                cp.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                cp.proc.kill()
        if lnet is not None:
            lnet.stop()
        if anvil is not None:
            anvil.stop()
        if own_root and not keep:
            shutil.rmtree(root, ignore_errors=True)


class _EventTail:
    """The clients' event files, read as they grow: each call parses only the lines written since the
    last one. Why: the harness re-read and re-parsed every file twice a second, all of the run's events
    each time (quadratic in the run: ~9 CPU s of a 1,000-job run, counted against the network on the
    same cores)."""

    def __init__(self, root: Path, n: int) -> None:
        self.paths = [root / f"events-{c}.jsonl" for c in range(n)]
        self.offsets = [0] * n
        self.seen: list[JobEvent] = []

    def read(self) -> list[JobEvent]:
        for i, p in enumerate(self.paths):
            if not p.exists():
                continue
            with p.open("rb") as f:
                f.seek(self.offsets[i])
                data = f.read()
            end = data.rfind(b"\n") + 1  # a line being written is left for the next call
            self.offsets[i] += end
            for line in data[:end].splitlines():
                with contextlib.suppress(ValueError):  # not an event (a torn write)
                    self.seen.append(JobEvent(**json.loads(line)))
        return list(self.seen)


def _progress_line(events: list[JobEvent], total: int, elapsed: float) -> dict[str, Any]:
    done = len(events)
    settled = sum(e.outcome == "settled" for e in events)
    failed = sum(e.outcome == "failed" for e in events)
    return {
        "done": done, "total": total, "settled": settled, "failed": failed, "elapsed": elapsed,
        "per_min": 60 * settled / elapsed if elapsed > 0 else 0.0,
    }  # fmt: skip


def _wait_computed(
    suite: Suite, events: list[JobEvent], meter: CpuMeter, deadline: float, nodes: list[NodeProcess]
) -> float:
    """Wall time at which every job handed to a node (all but the vanished ones) left OPEN on chain,
    and every pay-on-proof order a lazy client left was delivered (its node says finished)."""
    todo = {j for e in events if e.behaviour == LAZY for j in e.job_ids}
    orders = {(o["node"].lower(), o["hash"]) for e in events if e.behaviour == LAZY for o in e.orders}
    apis = {str(n.account.address).lower(): NodeApi(n.endpoint, timeout=10) for n in nodes}
    t_last = max((e.t_end for e in events), default=time.time())
    try:
        while (todo or orders) and time.monotonic() < deadline:
            meter.sample()
            for j in list(todo):
                if suite.market.read_job(j).status != JobStatus.OPEN:
                    todo.discard(j)
                    t_last = max(t_last, time.time())
            for node, h in list(orders):
                with contextlib.suppress(NodeUnavailable):
                    if apis[node].order(h).state.finished:
                        orders.discard((node, h))
                        t_last = max(t_last, time.time())
            if todo or orders:
                time.sleep(0.5)
    finally:
        for api in apis.values():
            api.close()
    return t_last


def close_onchain(
    lnet: LocalNetwork,
    nodes: list[NodeProcess],
    keys: dict[str, LocalAccount],
    events: list[JobEvent] | None = None,
) -> list[str]:
    """Close what clients left behind on the per-job market: submitted FHE jobs nobody accepted are
    finalized by their node's own maintenance loop once the challenge window has passed (waited
    for, bounded; a job its node leaves is finalized here and logged "by the harness"), and open
    jobs past their deadline are refunded by their client (the vanished client coming back for its
    escrow). The chain clock is moved on instead of waiting."""
    suite, net = lnet.suite, lnet.net
    market = suite.market
    jobs = [market.read_job(i) for i in range(1, market.job_count() + 1)]
    by_node = {str(n.account.address).lower(): n.account for n in nodes}
    log: list[str] = []
    window = market.challenge_window()
    latest = max([j.submitted_at + window for j in jobs if j.status == JobStatus.SUBMITTED], default=0)
    latest = max([latest, *[j.deadline + 1 for j in jobs if j.status == JobStatus.OPEN]])
    if latest:
        net.advance_to(latest + 1)
    submitted = [j.job_id for j in jobs if j.status == JobStatus.SUBMITTED]
    t_end = time.monotonic() + 60
    while submitted and time.monotonic() < t_end:
        submitted = [i for i in submitted if market.read_job(i).status == JobStatus.SUBMITTED]
        time.sleep(0.5)
    for j in jobs:
        if j.status == JobStatus.SUBMITTED:
            if j.job_id in submitted:
                market.finalize(j.job_id, sender=by_node[j.node.lower()])
                log.append(f"job {j.job_id}: finalized by the harness (its node did not)")
            else:
                log.append(f"job {j.job_id}: finalized by its node (client never accepted)")
        elif j.status == JobStatus.OPEN:
            market.refund(j.job_id, sender=keys[j.client.lower()])
            log.append(f"job {j.job_id}: refunded to its client after the deadline")
    return log


def close_receipts(
    lnet: LocalNetwork,
    nodes: list[NodeProcess],
    keys: dict[str, LocalAccount],
    events: list[JobEvent] | None = None,
    timeout: float = 180.0,
) -> list[str]:
    """Close a ``receipts`` run: the FHE jobs on JobMarket as :func:`close_onchain` does; then every
    pay-on-proof order its node delivered must end paid, by the node itself: held receipts settled in a
    batch, withheld ones claimed with the proof (``claim_with_proof``, after the order's deadline). The
    chain clock is moved past the open orders' deadlines (never more than half a claim window past one
    still unpaid, so no claim is pushed out of its window), and the nodes' loops are waited for,
    bounded by ``timeout`` (an order still unpaid then is logged, and the books report it). Last, every
    client takes its unspent deposits back (``request_withdraw``, the delay, ``withdraw``): what the
    vanished orders did not spend stays the client's."""
    log = close_onchain(lnet, nodes, keys)
    rm = lnet.suite.receipts
    assert rm is not None
    net = lnet.net
    apis = {str(n.account.address).lower(): NodeApi(n.endpoint, timeout=10) for n in nodes}
    owed: list[dict[str, Any]] = []
    try:
        for e in events or []:
            for o in e.orders:
                try:
                    if apis[o["node"].lower()].order(o["hash"]).delivery is not None:
                        owed.append(o)
                except NodeUnavailable:  # never accepted (vanished, refused): nothing owed
                    continue
    finally:
        for api in apis.values():
            api.close()

    def unpaid() -> list[dict[str, Any]]:
        return [o for o in owed if not rm.nonce_used(o["client"], o["node"], o["nonce"])]

    window = rm.param("claim_window")
    t0 = time.monotonic()
    pending = unpaid()
    while pending and time.monotonic() < t0 + timeout:
        now = net.now()
        later = [o["deadline"] for o in pending if o["deadline"] >= now]
        due = [o["deadline"] for o in pending if o["deadline"] < now]
        if later and (not due or min(later) + 1 < min(due) + window // 2):
            try:
                net.advance_to(min(later) + 1)
            except ChainError as e:  # anvil refused the timestamp while the nodes kept mining: next loop
                log.append(f"time travel refused, tried again: {e}"[:200])
        time.sleep(0.5)
        pending = unpaid()
    log.append(
        f"{len(owed) - len(pending)} of {len(owed)} delivered orders paid by their nodes "
        f"(receipts settled, proofs claimed) {time.monotonic() - t0:.0f} s after the load"
    )
    log += [f"order {o['hash'][:14]}: NOT paid after {timeout:.0f} s" for o in pending]
    requests: list[tuple[LocalAccount, str, int]] = []
    for acct in keys.values():
        for n in nodes:
            node = str(n.account.address)
            left = rm.deposit_of(acct.address, node)
            if left:
                rm.request_withdraw(node, left, sender=acct)
                requests.append((acct, node, left))
    if requests:
        net.advance_to(net.now() + rm.param("withdraw_delay") + 1)
        for acct, node, left in requests:
            rm.withdraw(node, sender=acct)
            log.append(
                f"client {acct.address[:10]}: {left / ONE_VEIL:g} VEIL of unspent deposit with node "
                f"{node[:10]} withdrawn after the delay"
            )
    return log


Closer = Callable[[LocalNetwork, list[NodeProcess], dict[str, LocalAccount], list[JobEvent]], list[str]]
CLOSERS: dict[str, Closer] = {"onchain": close_onchain, "receipts": close_receipts}


#: How a pay-on-proof order of each client behaviour must end (a failed job may end any way).
_ORDER_END_BY_BEHAVIOUR: dict[str, set[str]] = {
    HONEST: {"receipt"},
    BOGUS_CHALLENGE: {"receipt"},
    LAZY: {"claim"},
    VANISH: {"unpaid"},
}


@dataclass
class _Books:
    """VEIL holdings at the start: wallet balance + what the markets owe (pending, deposits) per party."""

    parties: dict[str, str]  # address -> "client" | "node" | "owner" | "treasury"
    start: dict[str, int]
    stakes: dict[str, int]
    nodes: list[str]

    @classmethod
    def open(cls, lnet: LocalNetwork, clients: list[str], nodes: list[str]) -> _Books:
        d = lnet.suite.deployment
        parties = {a: "client" for a in clients} | {a: "node" for a in nodes}
        parties[lnet.owner.address] = "owner"
        treasury = getattr(d, "treasury", None) or lnet.owner.address
        parties.setdefault(treasury, "treasury")
        start = {a: _holding(lnet.suite, a, nodes) for a in parties}
        return cls(parties, start, _stakes(lnet.suite, nodes), nodes)

    def check(
        self,
        lnet: LocalNetwork,
        events: list[JobEvent],
        nodes: list[NodeProcess],
        keys: dict[str, LocalAccount],
    ) -> dict[str, Any]:
        """Every job's end state against what its client did; no honest node slashed; VEIL conserved."""
        market = lnet.suite.market
        jobs = {i: market.read_job(i) for i in range(1, market.job_count() + 1)}
        expect: dict[int, tuple[str, set[JobStatus]]] = {}
        for e in events:
            for i in e.job_ids:
                want = {JobStatus.REFUNDED} if e.behaviour == VANISH else {JobStatus.SETTLED}
                if e.outcome == "failed":
                    want = {JobStatus.SETTLED, JobStatus.REFUNDED}  # a failed attempt: refunded or paid
                expect[i] = (e.behaviour, want)
            for i in e.abandoned:
                expect[i] = (f"{e.behaviour} (abandoned)", {JobStatus.REFUNDED})
        wrong: list[str] = []
        for i, j in jobs.items():
            what, want = expect.get(i, ("opened by no planned job", set()))
            if j.status not in want:
                wrong.append(f"job {i} ({what}): {j.status_name}")
        stakes = _stakes(lnet.suite, list(self.stakes))
        slashed = {a: self.stakes[a] - s for a, s in stakes.items() if s != self.stakes[a]}
        attacks_won = [a for e in events for a in e.attacks if a["result"] == "ACCEPTED"]
        end = {a: _holding(lnet.suite, a, self.nodes) for a in self.parties}
        delta = {a: end[a] - self.start[a] for a in self.parties}
        settled_value = sum(j.price for j in jobs.values() if j.status == JobStatus.SETTLED)
        client_paid = -sum(d for a, d in delta.items() if self.parties[a] == "client")
        earned = sum(d for a, d in delta.items() if self.parties[a] != "client")
        out: dict[str, Any] = {
            "jobs_on_chain": len(jobs),
            "by_status": _count(j.status_name for j in jobs.values()),
            "wrong_end_state": wrong,
            "nodes_slashed": slashed,
            "attacks_accepted": attacks_won,
            "escrowed_left": market.escrowed(),
            "clients_paid": client_paid,
            "settled_value": settled_value,
            "earned_by_nodes_owner_treasury": earned,
            "conserved": client_paid == settled_value == earned and market.escrowed() == 0,
            "ok": not wrong and not slashed and not attacks_won and client_paid == settled_value == earned,
        }
        rm = lnet.suite.receipts
        if rm is None or not any(e.market == "receipt" for e in events):
            return out
        rc = self._check_receipts(lnet, rm, events)
        wrong += rc.pop("wrong")
        # paid in all: JobMarket jobs settled + receipts settled + proofs claimed (price + surcharge)
        out["settled_value"] = settled_value + rc["receipt_value"] + rc["claim_value"]
        out["receipts"] = rc
        out["conserved"] = (
            client_paid == out["settled_value"] == earned
            and market.escrowed() == 0
            and rc["deposits_left"] == 0
            and rc["market_holds"] == rc["pending_in_market"]
            and rc["open_demands"] == 0
        )
        out["ok"] = not wrong and not slashed and not attacks_won and out["conserved"]
        return out

    def _check_receipts(
        self, lnet: LocalNetwork, rm: ReceiptMarket, events: list[JobEvent]
    ) -> dict[str, Any]:
        """Each pay-on-proof order's end against its client's behaviour: receipted -> settled by receipt,
        left by a lazy client -> claimed by its node with the proof, vanished -> never paid, nonce unspent
        (the node never saw it). What the market still holds must be exactly the parties' pending."""
        evs = rm.events_between(0, lnet.net.w3.eth.block_number)
        settled = {
            "0x" + e.args["order_hash"].hex(): int(e.args["price"]) for e in evs if e.name == "ReceiptSettled"
        }
        claimed = {"0x" + e.args["order_hash"].hex() for e in evs if e.name == "ClaimedWithProof"}
        demanded = {"0x" + e.args["order_hash"].hex() for e in evs if e.name == "DeliveryDemanded"}
        resolved = {"0x" + e.args["order_hash"].hex() for e in evs if e.name == "DemandResolved"}
        surcharge = rm.param("claim_surcharge")
        wrong: list[str] = []
        ends: list[str] = []
        known: set[str] = set()
        claim_value = 0
        for e in events:
            for o in e.orders:
                h = o["hash"]
                known.add(h)
                if h in settled:
                    got = "receipt"
                elif h in claimed:
                    got, claim_value = "claim", claim_value + int(o["max_price"]) + surcharge
                elif rm.nonce_used(o["client"], o["node"], int(o["nonce"])):
                    got = "closed unpaid"  # a challenge or an unanswered demand: the node was slashed
                else:
                    got = "unpaid"
                ends.append(got)
                ok = _ORDER_END_BY_BEHAVIOUR.get(e.behaviour, set())
                if e.outcome == "failed":
                    ok = {"receipt", "claim", "unpaid"}
                if got not in ok:
                    wrong.append(f"order {h[:14]} ({e.behaviour}, {e.outcome}): {got}")
        for h in (set(settled) | claimed) - known:
            wrong.append(f"order {h[:14]}: paid, but no planned job signed it")
        deposits = sum(
            rm.deposit_of(a, n) for a, r in self.parties.items() if r == "client" for n in self.nodes
        )
        pending = sum(rm.pending(a) for a in self.parties)
        return {
            "orders": len(ends),
            "orders_by_end": _count(ends),
            "settle_batches": sum(e.name == "BatchSettled" for e in evs),
            "receipts_skipped": sum(e.name == "ReceiptSkipped" for e in evs),
            "receipt_value": sum(settled.values()),
            "claim_value": claim_value,
            "open_demands": len(demanded - resolved),
            "deposits_left": deposits,
            "market_holds": lnet.suite.token.balance_of(rm.address),
            "pending_in_market": pending,
            "wrong": wrong,
        }


def _holding(suite: Suite, a: str, nodes: list[str]) -> int:
    """Wallet + JobMarket pending (+ ReceiptMarket pending and deposits with each node, if deployed)."""
    held = suite.token.balance_of(a) + suite.market.pending(a)
    rm = suite.receipts
    if rm is not None:
        held += rm.pending(a) + sum(rm.deposit_of(a, n) for n in nodes)
    return held


def _stakes(suite: Suite, nodes: list[str]) -> dict[str, int]:
    return {a: suite.nodes.read_node(a).stake for a in nodes}


def _count(xs: Iterator[str] | list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def _gas(lnet: LocalNetwork, start: int, end: int) -> dict[str, Any]:
    """Gas of every transaction mined during the load, from its receipt, by function, and per job
    (each market call carries its job id; ``open_job``'s is in its JobOpened log; a client's
    approve goes with the job it opens next). Pay-on-proof (ReceiptMarket) transactions carry no job:
    they are summed by kind in ``receipts`` (:func:`_receipt_gas`)."""
    net: Network = lnet.net
    s = lnet.suite
    rm = s.receipts
    targets = {
        s.market.address.lower(): s.market.contract,
        s.token.address.lower(): s.token.contract,
        s.nodes.address.lower(): s.nodes.contract,
    }
    if rm is not None:
        targets[rm.address.lower()] = rm.contract
    by_fn: dict[str, list[int]] = {}
    per_job: dict[int, int] = {}
    pending_approve: dict[str, int] = {}
    rm_gas: dict[str, list[tuple[str, int]]] = {}  # ReceiptMarket function -> [(tx hash, gas)]
    total = 0
    for n in range(start, end + 1):
        blk: Any = net.w3.eth.get_block(n, full_transactions=True)
        for tx in blk["transactions"]:
            rc: Any = net.w3.eth.get_transaction_receipt(tx["hash"])
            g = int(rc["gasUsed"])
            total += g
            to = (tx.get("to") or "").lower()
            c = targets.get(to)
            name, args = "other", {}
            if c is not None:
                try:
                    fn, args = c.decode_function_input(tx["input"])
                    name = fn.fn_name
                except ValueError:
                    name = "unknown"
            sender = str(tx["from"]).lower()
            if rm is not None and to == rm.address.lower():
                rm_gas.setdefault(name, []).append(("0x" + bytes(tx["hash"]).hex(), g))
                name = f"receipts.{name}"
            by_fn.setdefault(name, []).append(g)
            if (
                rm is not None
                and name == "approve"
                and str(args.get("spender", "")).lower() == rm.address.lower()
            ):
                rm_gas.setdefault("approve", []).append(("", g))  # for a deposit
                continue
            if name == "approve":
                pending_approve[sender] = pending_approve.get(sender, 0) + g
                continue
            job_id = args.get("job_id")
            if name == "open_job":
                rcpt = Receipt(rc["transactionHash"].hex(), g, n, None, rc)
                ids = s.market.opened_job_ids(rcpt)
                job_id = ids[0] if ids else None
                g += pending_approve.pop(sender, 0)
            if job_id is not None:
                per_job[int(job_id)] = per_job.get(int(job_id), 0) + g
    modes: dict[int, OnchainJob] = {j: s.market.read_job(j) for j in per_job}
    out: dict[str, Any] = {
        "total": total,
        "txs": sum(len(v) for v in by_fn.values()),
        "by_function": {k: {"n": len(v), "mean": int(np.mean(v))} for k, v in sorted(by_fn.items())},
    }
    for mode in (JobMode.ZK, JobMode.FHE):
        vals = [
            g for j, g in per_job.items() if modes[j].mode == mode and modes[j].status == JobStatus.SETTLED
        ]
        if vals:
            out[f"per_settled_{mode.name.lower()}_job"] = {
                "n": len(vals), "mean": int(np.mean(vals)), "p50": int(np.median(vals)),
            }  # fmt: skip
    if rm is not None:
        out["receipts"] = _receipt_gas(rm, rm_gas, start, end)
    return out


def _receipt_gas(
    rm: ReceiptMarket, txs: dict[str, list[tuple[str, int]]], start: int, end: int
) -> dict[str, Any]:
    """Pay-on-proof gas per job: each ``settle`` shared by the receipts it paid (its ReceiptSettled
    logs); the client's side (approve + deposit, request_withdraw + withdraw at the end) and the node's
    ``collect`` shared by every order paid (by receipt or by claim); a proof claim (lazy client) by the
    one order it paid."""
    evs = rm.events_between(start, end)
    paid_in: dict[str, int] = {}
    for e in evs:
        if e.name == "ReceiptSettled":
            paid_in[e.tx_hash] = paid_in.get(e.tx_hash, 0) + 1
    settles = [(paid_in.get(h, 0), g) for h, g in txs.get("settle", [])]
    receipts = sum(k for k, _ in settles)
    settle_gas = sum(g for _, g in settles)
    claims = [g for _, g in txs.get("claim_with_proof", [])]
    paid = receipts + len(claims)

    def total(*names: str) -> int:
        return sum(g for n in names for _, g in txs.get(n, []))

    deposit, withdrawal = total("approve", "deposit"), total("request_withdraw", "withdraw")
    collect = total("collect")
    overhead = (deposit + withdrawal + collect) / paid if paid else 0.0
    per_receipt = settle_gas / receipts if receipts else None
    return {
        "settle_txs": len(settles),
        "receipts_settled": receipts,
        "receipts_per_batch": receipts / len(settles) if settles else None,
        "settle_gas_per_receipt": int(per_receipt) if per_receipt is not None else None,
        "claims": {"n": len(claims), "mean": int(np.mean(claims)) if claims else None},
        "deposit_txs": len(txs.get("deposit", [])),
        "deposit_gas_per_paid_order": int(deposit / paid) if paid else None,  # approve + deposit
        # the clients taking their unspent deposits back at the end (request_withdraw + withdraw)
        "withdrawal_gas_per_paid_order": int(withdrawal / paid) if paid else None,
        "collect_gas_per_paid_order": int(collect / paid) if paid else None,
        # what one receipted ZK job costs on chain, all in: its share of a settle, of the deposits and
        # withdrawals, and of the node's collects
        "per_receipted_zk_job": int(per_receipt + overhead) if per_receipt is not None else None,
        "per_claimed_zk_job": int(np.mean(claims) + overhead) if claims else None,
    }


def _summary(
    cfg: LoadConfig,
    events: list[JobEvent],
    window: float,
    clients_s: float,
    client_start_s: float,
    setup_s: float,
    gas: dict[str, Any],
    cpu: dict[str, float],
    cpu_roles: dict[str, float],
    checks: dict[str, Any],
    close_log: list[str],
) -> dict[str, Any]:
    computed = [e for e in events if e.behaviour != VANISH and e.outcome != "failed"]
    lat = [e.latency_s for e in events if e.latency_s is not None and e.behaviour == HONEST]
    lat_by_mode = {
        m: [e.latency_s for e in events if e.latency_s is not None and e.behaviour == HONEST and e.mode == m]
        for m in ("zk", "fhe")
    }

    def pct(v: list[float], q: float) -> float | None:
        return float(np.percentile(v, q)) if v else None

    failures = _count(f"{e.error_kind}: {e.error[:80]}" for e in events if e.outcome == "failed")
    settled_jobs = checks["by_status"].get("settled", 0)  # JobMarket jobs
    ends = checks.get("receipts", {}).get("orders_by_end", {})
    settled_jobs += ends.get("receipt", 0) + ends.get("claim", 0)  # pay-on-proof orders paid
    paid_gas = gas["total"]
    return {
        "config": asdict(cfg),
        "setup_s": setup_s,
        "window_s": window,
        "clients_s": clients_s,
        "client_start_s": client_start_s,
        "planned": cfg.jobs,
        "computed_jobs": len(computed),
        "computed_by_mode": _count(e.mode for e in computed),
        # receipts settlement: ZK jobs on ReceiptMarket, FHE jobs on JobMarket (FHE receipts: not built)
        "computed_by_market": _count(
            f"{e.mode} on {'ReceiptMarket' if e.market == 'receipt' else 'JobMarket'}" for e in computed
        ),
        "behaviours": _count(e.behaviour for e in events),
        "behaviours_by_market": {
            m: _count(e.behaviour for e in events if e.market == m)
            for m in sorted({e.market for e in events})
        },
        "outcomes": _count(e.outcome for e in events),
        "jobs_per_min": 60 * len(computed) / window if window > 0 else 0.0,
        "latency_s": {
            "n": len(lat),
            "p50": pct(lat, 50),
            "p99": pct(lat, 99),
            "mean": float(np.mean(lat)) if lat else None,
            **{f"{m}_p50": pct(v, 50) for m, v in lat_by_mode.items()},
            **{f"{m}_p99": pct(v, 99) for m, v in lat_by_mode.items()},
        },  # fmt: skip
        "gas": {**gas, "all_in_per_settled_job": paid_gas // settled_jobs if settled_jobs else None},
        "cpu_s": cpu,
        "cpu_s_by_role": cpu_roles,
        "cpu_util_by_role": {r: s / window for r, s in cpu_roles.items()} if window > 0 else {},
        "failures": failures,
        "attacks": _count(f"{a['attack']}: {a['result']}" for e in events for a in e.attacks),
        "closed_after": len(close_log),
        "finalized_by_harness": sum("by the harness" in line for line in close_log),
        "checks": checks,
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--client":
        return client_main(Path(args[1]))
    print("usage: python -m veilproof.demo.load --client SPEC.json  (see bench/network.py)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
