"""Stateful property test of the whole market under attack: honest and cheating nodes, clients,
validators and an attacker take random actions against the real contracts, and after every step an
honest party has lost nothing and nobody was paid for a result that does not verify.

The parties (each run deploys a fresh suite: Token, ModelRegistry, NodeRegistry, JobMarket, EZKL's
reusable Halo2 verifier behind the ZkVerifierAdapter, Rewards and FheQuorum as the FHE arbiter):

* two **honest nodes**: take a job on chain only when they can serve it and then submit (a real
  proof, or the true FHE output hash under the client's keys, serving the ciphertext off chain),
  otherwise reject it; before signing a ZK claim they ``eth_call`` their submit under the job's
  verifier (and reject the job if it fails); a signed claim may stay outstanding until the next
  time step; they answer every delivery demand on chain before its due time;
* a **cheating node**: starts jobs it never finishes, submits corrupted or edited proofs, proofs of
  another input, signs invalid claims for the client, posts wrong FHE outputs (whose bytes it holds
  and can deliver), withholds outputs, answers delivery demands with other bytes or not at all,
  submits without starting, unbonds;
* two **clients**: open ZK jobs (a provable input, or one the nodes cannot prove; for a model whose
  VKA the current verifier does not know, which must revert) and FHE jobs, challenge the claims
  they were handed, accept FHE outputs that decrypt right, demand outputs on chain (honestly: one
  they did not get; greedily: one they have), refund after the deadline, withdraw;
* the **owners**: the market owner swaps ``zk_verifier`` while claims are outstanding (to a second
  real adapter, or to one that rejects every proof); the model owner registers VKAs with it;
* three **honest validators** (the quorum's stake majority): re-execute every submitted FHE job
  before its window closes and attest the hashes that differ;
* an **attacker**: a validator with a quarter of the stake who attests against honest results,
  unbonds and re-registers, disputes directly, finalizes early, forges claims, and opens jobs.

ZK proofs are real: one EZKL proof of the example MLP is made per session (``mlp_proof``), and the
pool holds it plus invalid variants (edited output, flipped proof byte); a job is provable when its
input commitment is the proof's. FHE submissions are hashes; the truth of a job is a hash the
machine derives from its input.

Invariants after every step:
  * the token supply is conserved (no mint after setup) and every token is at a known address;
  * ``token.balanceOf(market) == escrowed + sum(pending)``, and ``escrowed`` is the sum of the prices
    of unfinished jobs plus the delivery bonds of demanded ones;
  * escrow leaves each job exactly once: every market credit is matched to one job's one end, and a
    finished job never changes status;
  * an honest node is never slashed; the cheater is slashed only for a job it cheated on;
  * no node is paid for a result that fails verification: a settled ZK job holds the valid proof of
    its own input, a settled FHE job the true output (and, once the contract binds them, the
    client's keys); a settled ZK job was never checked by the rejecting verifier;
  * each ZK job keeps the verifier it was opened under (an owner's swap reaches new jobs only);
  * a delivery bond goes to the node only with its pay (a node slashed for the job returns it), and a
    greedy demand gets nothing out of an honest node.

Runs: ``make test`` a few hundred steps (derandomized, see ``tests/conftest.py``);
``make fuzz`` many more (``VEILPROOF_STATEFUL_EXAMPLES`` / ``VEILPROOF_STATEFUL_STEPS``).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hypothesis import HealthCheck, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from market_actions import FIXTURES, Moves, Reader, revert, snapshot

from veilproof.chain import Network, compile_contract
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite, deploy_zk_verifier
from veilproof.chain.job_market import JobMarket, JobMode, JobStatus
from veilproof.chain.node_registry import job_price
from veilproof.chain.suite import Suite
from veilproof.client.publish import publish_model
from veilproof.errors import ContractReverted
from veilproof.incentives.deploy import IncentiveParams, deploy_incentives

pytestmark = pytest.mark.slow

ONE = ONE_VEIL
PRICE = 10 * ONE
ROYALTY_BPS = 1_500
SLASH = 50 * ONE
NODE_STAKE = 300 * ONE
MIN_STAKE = 100 * ONE
WINDOW = 3_600
MAX_DEADLINE = 86_400
UNBOND = 7 * 86_400
VALIDATOR_STAKE = 1_000 * ONE
BOND = ONE  # a client's bond to demand an FHE output on chain (set here: deploy defaults may change)
SUITE = SuiteParams.dev(
    min_stake=MIN_STAKE, unbond_delay=UNBOND, challenger_bps=5_000, slash_amount=SLASH,
    max_deadline=MAX_DEADLINE, challenge_window=WINDOW, delivery_bond=BOND,
)  # fmt: skip
INCENTIVES = IncentiveParams(validator_min_stake=VALIDATOR_STAKE, unbond_delay=UNBOND, quorum_bps=6_667)
MARGIN = 60  # an honest node takes a job only with this much time left (it then submits at once)
FINAL = (JobStatus.SETTLED, JobStatus.REFUNDED, JobStatus.SLASHED)
FHE_SERVER = keccak(b"fhe server.zip")
ZERO32 = b"\x00" * 32
# The cheating node's moves on its open jobs (drawn by the job's mode); "start" is a cheat when the
# node then never submits (it is slashed at the deadline), "reject" the one honest way out.
ZK_CHEATS = ("start", "bad_proof", "valid_proof", "claim_bad", "claim_other_input", "reject")
# "withhold": the right output hash, the ciphertext never served nor delivered (paid by finalize
# unless the client demands it on chain).
FHE_CHEATS = ("start", "wrong_fhe", "wrong_keys", "right_fhe", "withhold", "reject")
ZERO_ADDRESS = "0x" + "00" * 20


# --- the ZK pool: one real proof, and the ways to break it ----------------------------------------
@dataclass(frozen=True)
class ZkPool:
    package: Any  # veilproof.models.ModelPackage (published with the model)
    commitment: int  # instances[0] of the valid proof: the provable input's commitment
    proof: bytes
    instances: tuple[int, ...]
    bad: tuple[tuple[str, bytes, tuple[int, ...]], ...]  # (kind, proof, instances) that must not verify

    def is_valid_for(self, commitment: int, proof: bytes, instances: list[int] | tuple[int, ...]) -> bool:
        return commitment == self.commitment and proof == self.proof and tuple(instances) == self.instances


@pytest.fixture(scope="session")
def zk_pool(mlp, mlp_proof) -> ZkPool:  # type: ignore[no-untyped-def]
    p = mlp_proof.proof
    proof, inst = bytes(p.proof_bytes), tuple(int(v) for v in p.instances)
    edited = list(inst)
    edited[1] = (edited[1] + 1024) % (2**254)  # another answer, same proof
    flipped = bytearray(proof)
    flipped[100] ^= 0x01
    bad = (("edited_output", proof, tuple(edited)), ("flipped_byte", bytes(flipped), inst))
    return ZkPool(mlp.package, inst[0], proof, inst, bad)


# --- the ghost: what the machine knows each job should be -----------------------------------------
@dataclass
class Ghost:
    job_id: int
    client: LocalAccount
    node: LocalAccount
    mode: JobMode
    price: int
    deadline: int
    commitment: int
    keys: bytes  # FHE: the client's evaluation-key hash
    provable: bool  # ZK: the pool has a valid proof of this input
    model_id: int = 0
    verifier: str = ZERO_ADDRESS  # ZK: the market's zk_verifier when the job opened
    claims: list[tuple[tuple[int, ...], bytes, str, bool]] = field(
        default_factory=list
    )  # (inst, proof, sig, valid)
    cheated: bool = False  # the node did something slashable on this job
    status: JobStatus = JobStatus.OPEN  # as of the last check
    checked_paid: bool = False
    to_submit: bool = False  # ZK, honest node: claim signed and handed over, submit not yet sent
    # FHE output delivery
    posted_ct: bytes | None = None  # the output ciphertext whose sha256 the node posted (None: unknown bytes)
    received: bool = False  # the node served the output off chain to the client
    demanded: bool = False  # the client called claim_not_delivered
    greedy: bool = False  # ... although it had received the output
    due: int = 0
    delivered: bool = False  # the node answered with deliver_output
    bond_booked: bool = False  # the ghost's books credited the bond to its final owner
    answers: bool = True  # the node answers a delivery demand (honest: always; the cheater: its pick)
    accepted: bool = False  # the client accepted the FHE output

    @property
    def true_ct(self) -> bytes:
        """The output ciphertext an honest evaluation gives (deterministic in the input)."""
        return b"fhe output of " + self.commitment.to_bytes(32, "big")

    offer_royalty: int | None = None  # opened on the node's own offer: the owner's royalty fixed at open

    @property
    def true_output(self) -> bytes:
        """Its hash, as posted on chain (sha256: what deliver_output checks the bytes against)."""
        return sha256(self.true_ct).digest()

    @property
    def bond_held(self) -> bool:
        """The client's delivery bond is in escrow (demanded, job not ended, not yet paid out)."""
        return self.demanded and not self.delivered and self.status not in FINAL


@dataclass
class View:
    """Everything the invariants read, taken in one call after each step (``Reader``)."""

    supply: int
    escrowed: int
    balance: dict[str, int]
    pending: dict[str, int]
    status: dict[int, JobStatus]
    slashed: dict[str, int]
    now: int
    submitted_at: dict[int, int]
    verifier: dict[int, int]  # the verifier each job recorded at opening (an address as an int)


# Preconditions read only the ghost and the last view (no chain calls): a rule is drawn only when it
# has something to act on.
def _has_jobs(self: MarketUnderAttack) -> bool:
    return bool(self.jobs)


def _has(*statuses: JobStatus, mode: JobMode | None = None, who: str | None = None) -> Any:
    def check(self: MarketUnderAttack) -> bool:
        return any(
            self.view.status.get(g.job_id) in statuses
            and (mode is None or g.mode == mode)
            and (who is None or (who == "honest") == self._honest(g.node))
            for g in self.jobs.values()
        )

    return check


def _has_expired(self: MarketUnderAttack) -> bool:
    return any(
        self.view.status.get(g.job_id) == JobStatus.OPEN and g.deadline < self.view.now
        for g in self.jobs.values()
    )


def _has_finalizable(self: MarketUnderAttack) -> bool:
    v = self.view
    return any(
        st == JobStatus.SUBMITTED and v.submitted_at[j] + WINDOW <= v.now and self._finalizable(j, v.now)
        for j, st in v.status.items()
    )


def _has_honest_work(self: MarketUnderAttack) -> bool:
    """A claim an honest node handed out and has not submitted, or a demand it has not answered.
    (A named function: Hypothesis reads a lambda precondition's source to report a failure.)"""
    return any(g.to_submit or (g.demanded and not g.delivered) for g in self.jobs.values())


def _has_claims(self: MarketUnderAttack) -> bool:
    return any(g.claims for g in self.jobs.values())


@dataclass
class World:
    """One deployment and its parties, made once per test; each run reverts the chain to it."""

    net: Network
    pool: ZkPool
    owner: LocalAccount
    honest_nodes: list[LocalAccount]
    cheater: LocalAccount
    clients: list[LocalAccount]
    honest_validators: list[LocalAccount]
    attacker: LocalAccount
    finalizer: LocalAccount
    everyone: list[LocalAccount]
    m: Moves
    model_id: int
    contracts: list[str]
    supply: int
    reader: Reader
    unregistered_model: int  # ZK-committed, its VKA on no adapter (until its owner registers it)
    verifiers: dict[
        str, str
    ]  # name -> address: "adapter", "adapter2" (fresh), "rejecting" (owner's bad pick)
    snap: Any = None

    @classmethod
    def create(cls, net: Network, pool: ZkPool) -> World:
        from veilproof.chain.fhe_quorum import FheQuorum
        from veilproof.chain.rewards import Rewards
        from veilproof.zk import evm

        (owner, *accts) = net.new_accounts(11)
        honest_nodes, cheater, clients = accts[0:2], accts[2], accts[3:5]
        honest_validators, attacker = accts[5:8], accts[8]
        d = deploy_suite(net, owner, SUITE)
        v = evm.compile_reusable_verifier()
        deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
        suite = Suite.attach(net, d)
        # The verifiers the market owner may swap to while claims are outstanding: a second real
        # adapter (its own Halo2 verifier, nothing registered yet) and one that rejects every proof.
        halo2 = net.deploy_bytecode(v.abi, v.bytecode, sender=owner, label="Halo2VerifierReusable2")
        adapter2 = net.deploy("ZkVerifierAdapter", d.models, halo2.address, sender=owner)
        rej = compile_contract(FIXTURES / "RejectingVerifier.vy")
        rejecting = net.deploy_bytecode(rej.abi, rej.bytecode, sender=owner, label="RejectingVerifier")
        verifiers = {
            "adapter": d.extra["zk_adapter"], "adapter2": adapter2.address, "rejecting": rejecting.address,
        }  # fmt: skip
        # Everything is minted before Rewards becomes the token's only minter: the supply is fixed.
        for a in (*honest_nodes, cheater):
            suite.token.mint(a.address, NODE_STAKE + 100 * ONE, sender=owner)
        for a in clients:
            suite.token.mint(a.address, 2_000 * ONE, sender=owner)
        for a in honest_validators:
            suite.token.mint(a.address, VALIDATOR_STAKE, sender=owner)
        suite.token.mint(attacker.address, VALIDATOR_STAKE + 500 * ONE, sender=owner)
        addrs = deploy_incentives(net, owner, d, INCENTIVES)
        m = Moves(suite, Rewards(net, addrs["rewards"]), FheQuorum(net, addrs["fhe_quorum"]))
        model_id = publish_model(
            suite, owner, name="mlp", price=PRICE, royalty_bps=ROYALTY_BPS,
            onnx_hash=pool.package.commitments()["onnx_hash"], zk=pool.package,
            fhe_client_hash=keccak(b"client.zip").hex(), fhe_server_hash=FHE_SERVER.hex(),
        ).model_id  # fmt: skip
        # The same circuit under a second id, committed in ModelRegistry but registered with no
        # adapter: a ZK job for it must not open (#12 item 2: no proof could ever verify).
        com = {k: bytes.fromhex(str(h).removeprefix("0x")) for k, h in pool.package.commitments().items()}
        unregistered = suite.models.registered_model_id(
            suite.models.register_model(
                "mlp-unregistered", PRICE, ROYALTY_BPS, com["onnx_hash"], [], [], ZERO32, sender=owner
            )
        )
        suite.models.set_zk_commitment(
            unregistered, com["zk_settings_hash"], com["zk_vka_digest"], com["zk_srs_hash"],
            sender=owner,
        )  # fmt: skip
        for n in (*honest_nodes, cheater):
            suite.nodes.register(
                f"http://{n.address[:10]}.test", b"\x02" + keccak(n.address.encode()), [model_id, unregistered],
                sender=n,
            )  # fmt: skip
            m.stake_node(n, NODE_STAKE)
        for c in clients:
            m.approve_market(c)
        for val in (*honest_validators, attacker):
            m.register_validator(val, VALIDATOR_STAKE)
        contracts = [suite.market.address, suite.nodes.address, m.rewards.address, m.quorum.address]
        w = cls(
            net, pool, owner, honest_nodes, cheater, clients, honest_validators, attacker, accts[9],
            [owner, *accts], m, model_id, contracts, m.supply(), Reader(net, owner), unregistered, verifiers,
        )  # fmt: skip
        w.snap = snapshot(net)
        return w

    def reset(self) -> None:
        revert(self.net, self.snap)
        self.snap = snapshot(self.net)  # anvil's evm_revert consumes its snapshot


class MarketUnderAttack(RuleBasedStateMachine):
    world: World

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        w.reset()  # every run starts from the same deployment
        self.m, self.owner, self.model_id, self.reader = w.m, w.owner, w.model_id, w.reader
        self.honest_nodes, self.cheater, self.clients = w.honest_nodes, w.cheater, w.clients
        self.honest_validators, self.attacker, self.finalizer = w.honest_validators, w.attacker, w.finalizer
        self.everyone, self.contracts, self.supply, self.pool = w.everyone, w.contracts, w.supply, w.pool
        self.jobs: dict[int, Ghost] = {}
        self.credited: Counter[str] = Counter()  # what the market owes each account, by the ghost's books
        self.withdrawn: Counter[str] = Counter()
        self.keys_bound = Moves.keys_bound_at_open()
        self.unregistered_model, self.verifiers = w.unregistered_model, w.verifiers
        self.verifier = w.verifiers["adapter"]  # the market's zk_verifier (new ZK jobs are bound to it)
        self.registered = {(w.verifiers["adapter"], w.model_id)}  # (adapter, model) pairs with a VKA
        self.stats: Counter[str] = Counter()
        self.fee_bps, self.treasury = self.m.suite.market.fee_bps(), self.m.suite.market.treasury()
        self.view, self.view_block = self._read(), self.m.net.w3.eth.block_number

    def _read(self) -> View:
        s, m = self.m.suite, self.m
        addrs = [a.address for a in self.everyone]
        holders = addrs + self.contracts
        nodes = [n.address for n in (*self.honest_nodes, self.cheater)]
        ids = list(self.jobs)
        words = self.reader.read(
            [(s.token, "totalSupply", (), None), (s.market, "escrowed", (), None)]
            + [(s.token, "balanceOf", (a,), None) for a in holders]
            + [(s.market, "pending", (a,), None) for a in addrs]
            + [(s.market, "job", (j,), "status") for j in ids]
            + [(s.nodes, "node", (n,), "slashed_total") for n in nodes]
            + [(s.market, "job", (j,), "submitted_at") for j in ids]
            + [(s.market, "job", (j,), "verifier") for j in ids]
        )
        supply, escrowed, rest = words[0], words[1], words[2:]
        bal, rest = rest[: len(holders)], rest[len(holders) :]
        pend, rest = rest[: len(addrs)], rest[len(addrs) :]
        stat, rest = rest[: len(ids)], rest[len(ids) :]
        slashed, rest = rest[: len(nodes)], rest[len(nodes) :]
        sub, ver = rest[: len(ids)], rest[len(ids) :]
        del m
        return View(
            supply, escrowed, dict(zip(holders, bal, strict=True)), dict(zip(addrs, pend, strict=True)),
            {j: JobStatus(v) for j, v in zip(ids, stat, strict=True)}, dict(zip(nodes, slashed, strict=True)),
            self.m.net.now(), dict(zip(ids, sub, strict=True)), dict(zip(ids, ver, strict=True)),
        )  # fmt: skip

    # ------------------------------------------------------------------------------ helpers
    def _try(self, label: str, fn: Any, *args: Any) -> bool:
        """A move a party may be refused: True if the chain took it."""
        try:
            fn(*args)
        except ContractReverted as e:
            self.stats[f"{label} refused: {e.reason}"] += 1
            return False
        self.stats[label] += 1
        return True

    def _pick(
        self,
        i: int,
        *statuses: JobStatus,
        mode: JobMode | None = None,
        node: LocalAccount | None = None,
        honest: bool | None = None,
    ) -> Ghost | None:
        """The ``i``-th job (cyclically) among those in ``statuses`` / of ``mode`` / of ``node``."""
        live = [
            g for g in self.jobs.values()
            if (not statuses or self.view.status[g.job_id] in statuses) and (mode is None or g.mode == mode)
            and (node is None or g.node == node) and (honest is None or self._honest(g.node) == honest)
        ]  # fmt: skip
        return live[i % len(live)] if live else None

    def _honest(self, node: LocalAccount) -> bool:
        return node in self.honest_nodes

    def _finalizable(self, job_id: int, now: int) -> bool:
        """No demanded output is still due (else ``finalize`` waits for its due time)."""
        g = self.jobs[job_id]
        return not g.demanded or g.delivered or g.due <= now

    def _knows(self, verifier: str, model_id: int) -> bool:
        """Whether ``verifier`` has the model's VKA (the rejecting one says yes to every model)."""
        return verifier == self.verifiers["rejecting"] or (verifier, model_id) in self.registered

    def _verifiable(self, g: Ghost) -> bool:
        """A ZK job the pool's proof settles: its input is the proof's, under a verifier that checks."""
        return g.provable and g.verifier != self.verifiers["rejecting"]

    # ------------------------------------------------------------------------------ clients
    @initialize(
        jobs=st.lists(
            st.tuples(
                st.integers(0, 1), st.integers(0, 2), st.booleans(), st.booleans(), st.sampled_from([5_000, 40_000]),
                st.booleans(),
            ),
            min_size=3, max_size=6,
        )
    )  # fmt: skip
    def some_jobs_are_open(self, jobs: list[tuple[int, int, bool, bool, int, bool]]) -> None:
        """Start each run with a few jobs, some already served by an honest node, so that every party
        has something to act on (a claim to challenge, an FHE output to demand)."""
        for c, n, zk, provable, ttl, served in jobs:
            before = len(self.jobs)
            self.open_job(c, n, zk, provable, ttl, False)
            g = self.jobs[max(self.jobs)] if len(self.jobs) > before else None
            if served and g is not None and self._honest(g.node):
                self._serve(g, submit_now=g.mode == JobMode.FHE)
            elif served and g is not None:  # the cheater posts a right or a wrong FHE output / proof
                self._cheat(g, 1 + 3 * c, provable, zk)  # wrong_fhe / withhold (ZK: bad proof, other input)
        self.view, self.view_block = self._read(), self.m.net.w3.eth.block_number

    @rule(
        c=st.integers(0, 1), n=st.integers(0, 2), zk=st.booleans(), provable=st.booleans(),
        ttl=st.sampled_from([900, 5_000, 40_000]), unregistered=st.sampled_from([False, False, True]),
    )  # fmt: skip
    def open_job(self, c: int, n: int, zk: bool, provable: bool, ttl: int, unregistered: bool) -> None:
        client, node = self.clients[c], [*self.honest_nodes, self.cheater][n]
        if not self.m.suite.nodes.is_active(node.address):
            return
        model = self.unregistered_model if zk and unregistered else self.model_id
        verifier = self.verifier if zk else ZERO_ADDRESS
        deadline = self.m.net.now() + ttl
        seq = len(self.jobs)
        if zk:
            commitment = self.pool.commitment if provable else int.from_bytes(keccak(b"x%d" % seq)[1:], "big")
            keys = ZERO32
        else:
            commitment = int.from_bytes(keccak(b"ct%d" % seq), "big")
            keys = keccak(b"eval keys of %s" % client.address.encode())
        mode = JobMode.ZK if zk else JobMode.FHE
        known = not zk or self._knows(verifier, model)
        offer = self.m.suite.nodes.offer(node.address, model)  # #14: the node's own price, if any
        price = job_price(PRICE, ROYALTY_BPS, offer)  # the client's quote, its max_price
        if self.m.balance(client.address) < price:
            return
        try:
            job_id = self.m.open_job(
                client, model, node.address, commitment.to_bytes(32, "big"), mode, deadline, price, keys
            )
        except ContractReverted as e:
            # #12 item 2: a ZK job for a model its verifier has no VKA for could never be proven,
            # so an honest node's claim on it would be slashable: it must not open at all.
            assert not known and e.reason == "model not registered", f"open refused: {e.reason}"
            self.stats["open refused: model not registered"] += 1
            return
        assert known, f"a ZK job opened for model {model}, whose VKA its verifier {verifier} does not know"
        self.jobs[job_id] = Ghost(
            job_id, client, node, mode, price, deadline, commitment, keys, zk and provable, model, verifier,
            offer_royalty=None if offer is None else PRICE * ROYALTY_BPS // 10_000,
        )  # fmt: skip
        self.stats["open"] += 1

    @rule(c=st.integers(0, 1), zk=st.booleans(), provable=st.booleans(), ttl=st.sampled_from([5_000, 40_000]))
    def client_hires_the_cheater(self, c: int, zk: bool, provable: bool, ttl: int) -> None:
        self.open_job(c, 2, zk, provable, ttl, False)

    @precondition(_has_expired)
    @rule(i=st.integers(0, 1_000))
    def client_refunds_after_deadline(self, i: int) -> None:
        """A client is always refunded a job that has no result after its deadline."""
        expired = [
            g for g in self.jobs.values() if self.view.status[g.job_id] == JobStatus.OPEN and g.deadline < self.view.now
        ]  # fmt: skip
        g = expired[i % len(expired)]
        self.m.refund(g.client, g.job_id)
        self.stats["refund"] += 1

    @precondition(_has_claims)
    @rule(i=st.integers(0, 1_000), k=st.integers(0, 10))
    def client_challenges_a_claim(self, i: int, k: int) -> None:
        """The client takes a claim its node signed to challenge_zk: pays off only if it is invalid."""
        g = self._pick(i, mode=JobMode.ZK)
        if g is None or not g.claims:
            return
        inst, proof, sig, valid = g.claims[k % len(g.claims)]
        ok = self._try("challenge", self.m.challenge_zk, g.client, g.job_id, inst, proof, sig)
        if ok:
            assert not valid, f"job {g.job_id}: a valid claim got its node slashed"
        elif not valid and self.view.status[g.job_id] == JobStatus.OPEN:
            raise AssertionError(f"job {g.job_id}: an invalid signed claim could not be challenged")

    @precondition(_has(JobStatus.SUBMITTED, mode=JobMode.FHE))
    @rule(i=st.integers(0, 1_000))
    def client_accepts_a_correct_fhe_output(self, i: int) -> None:
        """The client decrypts the output: it accepts only the true one (and waits otherwise)."""
        g = self._pick(i, JobStatus.SUBMITTED, mode=JobMode.FHE)
        if g is not None and self.m.job(g.job_id).output_ct_hash == g.true_output.hex():
            self.m.accept(g.client, g.job_id)
            g.accepted = True
            self.stats["accept"] += 1

    @rule(k=st.integers(0, 10))
    def withdraw(self, k: int) -> None:
        """Anyone pulls what the market owes it; a validator also its share of slash rewards."""
        who = self.everyone[k % len(self.everyone)]
        if who in self.honest_validators and self.m.quorum_pending(who.address):
            self.m.claim_quorum(who)
            self.stats["validator claim"] += 1
        owed = self.m.market_pending(who.address)
        if owed:
            before = self.m.balance(who.address)
            self.m.withdraw(who)
            assert self.m.balance(who.address) == before + owed
            self.withdrawn[who.address] += owed
            self.stats["withdraw"] += 1

    # ------------------------------------------------------------------------------ nodes
    @precondition(_has(JobStatus.OPEN, who="honest"))
    @rule(i=st.integers(0, 1_000), submit_now=st.booleans())
    def honest_node_serves(self, i: int, submit_now: bool) -> None:
        """Honest: take the job only if it can serve it in time, then submit at once; else reject."""
        g = self._pick(i, JobStatus.OPEN, honest=True)
        if g is not None:
            self._serve(g, submit_now)

    def _serve(self, g: Ghost, submit_now: bool) -> None:
        if self.m.job(g.job_id).started_at:
            return
        if self.m.net.now() + MARGIN >= g.deadline:
            return  # too late to take it: the client refunds, nobody is slashed
        if g.mode == JobMode.ZK and not g.provable:
            self.m.reject(g.node, g.job_id)
            self.stats["honest reject"] += 1
            return
        self.m.start_job(g.node, g.job_id)
        if g.mode == JobMode.ZK:
            p = self.pool
            # The node runs its submit as an eth_call under the job's verifier before it signs
            # (#12 item 2): it never hands over a claim the chain would reject.
            try:
                self.m.check_submit_zk(g.node, g.job_id, p.instances, p.proof)
            except ContractReverted as e:
                assert not self._verifiable(g), f"job {g.job_id}: a valid proof failed the check: {e.reason}"
                self.m.reject(g.node, g.job_id)
                self.stats[f"honest reject after check: {e.reason}"] += 1
                return
            assert self._verifiable(g), f"job {g.job_id}: the check passed a proof its verifier rejects"
            g.claims.append(
                (p.instances, p.proof, self.m.sign_claim(g.node, g.job_id, p.instances, p.proof), True)
            )
            if submit_now:
                self.m.submit_zk(g.node, g.job_id, p.instances, p.proof)
            else:  # the claim is outstanding until the submit is mined (owner swaps, client challenges)
                g.to_submit = True
                self.stats["honest claim outstanding"] += 1
        else:
            self.m.submit_fhe(
                g.node, g.job_id, g.keys, g.commitment.to_bytes(32, "big"), g.true_output, FHE_SERVER
            )
            g.posted_ct, g.received = g.true_ct, True  # and serves the ciphertext off chain
        self.stats["honest serve"] += 1

    def _honest_nodes_act(self) -> None:
        """Live honest nodes, before any time passes: submit the claims they handed out and answer
        every delivery demand on their jobs (the node's demand watcher)."""
        for g in self.jobs.values():
            if g.node == self.cheater and g.demanded and g.answers and not g.delivered:
                self._cheater_delivers(g, "other")  # bytes it did not post: refused
                self._cheater_delivers(g, "posted")  # delivery proves the bytes are there, not right
            if not self._honest(g.node):
                continue
            if g.to_submit:
                self.m.submit_zk(g.node, g.job_id, self.pool.instances, self.pool.proof)
                g.to_submit = False
                self.stats["honest submit of outstanding claim"] += 1
            if g.demanded and not g.delivered and self.m.job(g.job_id).status == JobStatus.SUBMITTED:
                assert g.posted_ct is not None
                self.m.deliver_output(g.node, g.job_id, g.posted_ct)
                g.delivered = True
                self.stats["honest deliver"] += 1

    @precondition(_has_honest_work)
    @rule()
    def honest_nodes_act(self) -> None:
        self._honest_nodes_act()

    @precondition(_has(JobStatus.OPEN, who="cheater"))
    @rule(i=st.integers(0, 1_000), c=st.integers(0, 1_000), k=st.integers(0, 1), serve=st.booleans())
    def cheater_acts(self, i: int, c: int, k: int, serve: bool) -> None:
        g = self._pick(i, JobStatus.OPEN, node=self.cheater)
        if g is not None:
            self._cheat(g, c, k, serve)

    def _cheat(self, g: Ghost, c: int, k: int, serve: bool) -> None:
        """The cheater's move on its open job ``g``: ``c`` picks the cheat (and whether it takes the job
        first), ``k`` the bad proof, ``serve`` whether it serves an FHE output off chain and answers a
        demand for it on chain (with the bytes it posted; else with other bytes, refused)."""
        how = (ZK_CHEATS if g.mode == JobMode.ZK else FHE_CHEATS)[c % 6]
        n, p, job = self.cheater, self.pool, g.job_id
        if (
            how not in ("start", "reject")
            and (c // 6) % 2 == 0
            and self._try("cheater start", self.m.start_job, n, job)
        ):
            g.cheated = True  # takes the job first (else its submit is refused), as a paid cheat must
        if how == "start":
            if self._try("cheater start", self.m.start_job, n, job):
                g.cheated = True  # taken on chain and (maybe) never finished: slashable at the deadline
        elif how == "bad_proof":
            _, proof, inst = p.bad[k]
            assert not self._try("cheater bad proof", self.m.submit_zk, n, job, inst, proof)
        elif how == "valid_proof":  # a real proof: settles only if it is the job's input
            if self._try("cheater real proof", self.m.submit_zk, n, job, p.instances, p.proof):
                assert g.mode == JobMode.ZK and self._verifiable(g), (
                    f"job {g.job_id}: a proof of another input settled"
                )
        elif how in ("claim_bad", "claim_other_input") and g.mode == JobMode.ZK:
            _, proof, inst = p.bad[k] if how == "claim_bad" else ("", p.proof, p.instances)
            valid = p.is_valid_for(g.commitment, proof, inst) and self._verifiable(g)
            g.claims.append((inst, proof, self.m.sign_claim(n, job, inst, proof), valid))
            g.cheated |= not valid
        elif how in ("wrong_fhe", "wrong_keys", "right_fhe", "withhold") and g.mode == JobMode.FHE:
            # wrong_keys: evaluated under keys the client never made, so the output decrypts to
            # nothing and no validator can re-execute it (#12 item 1)
            # a wrong output it can still deliver (delivery proves availability, not correctness)
            ct = g.true_ct if how in ("right_fhe", "withhold") else b"garbage %d" % job
            out = sha256(ct).digest()
            keys = keccak(b"keys nobody has") if how == "wrong_keys" else g.keys
            if how == "wrong_keys" and not self.keys_bound:
                return  # today's open_job takes no key hash, so this cheat is paid: on once the contract binds keys
            if self._try(
                f"cheater fhe {how}",
                self.m.submit_fhe,
                n,
                job,
                keys,
                g.commitment.to_bytes(32, "big"),
                out,
                FHE_SERVER,
            ):
                g.cheated |= how != "right_fhe"
                g.posted_ct = ct
                g.received = serve and how != "withhold"  # it may withhold the ciphertext off chain
                g.answers = how != "withhold" and (serve or k == 0)  # and answer a demand, or let it lapse
        elif how == "reject":
            self._try("cheater reject", self.m.reject, n, job)

    @rule(n=st.integers(0, 2), how=st.sampled_from(["free", "cheap", "dear", "clear"]))
    def node_prices(self, n: int, how: str) -> None:
        """Any node sets, changes or clears its own price (#14); open jobs keep what they escrowed."""
        node = [*self.honest_nodes, self.cheater][n]
        nodes = self.m.suite.nodes
        if how == "clear":
            if nodes.offer(node.address, self.model_id) is not None:
                nodes.clear_offer(self.model_id, sender=node)
                self.stats["node clears offer"] += 1
            return
        nodes.set_offer(self.model_id, {"free": 0, "cheap": PRICE // 3, "dear": 2 * PRICE}[how], sender=node)
        self.stats["node sets offer"] += 1

    @rule(
        n=st.integers(0, 2),
        how=st.sampled_from(["unbond_10", "unbond_50", "unbond_200", "stake_50", "withdraw"]),
    )
    def node_moves_stake(self, n: int, how: str) -> None:
        """Any node unbonds (it stays slashable until released), stakes more, or takes released stake."""
        node = [*self.honest_nodes, self.cheater][n]
        info = self.m.node(node.address)
        if how.startswith("unbond_") and info.stake >= int(how[7:]) * ONE:
            self.m.unbond_node(node, int(how[7:]) * ONE)
            self.stats["node unbond"] += 1
        elif how == "stake_50" and self.m.balance(node.address) >= 50 * ONE:
            self.m.stake_node(node, 50 * ONE)
            self.stats["node stake"] += 1
        elif how == "withdraw" and info.unbonding and self.m.net.now() >= info.unbond_release:
            self.m.withdraw_unbonded_node(node)
            self.stats["node withdraw unbonded"] += 1

    # ------------------------------------------------------------------------------ validators
    def _honest_validators_audit(self) -> None:
        """Honest validators re-execute every submitted FHE job in its window and attest a mismatch."""
        now = self.m.net.now()
        for g in self.jobs.values():
            if g.mode != JobMode.FHE or self.view.status[g.job_id] != JobStatus.SUBMITTED:
                continue
            job = self.m.job(g.job_id)
            if job.status != JobStatus.SUBMITTED or now >= job.submitted_at + WINDOW:
                continue
            if job.output_ct_hash == g.true_output.hex() or job.eval_keys_hash != g.keys.hex():
                continue  # agrees; or posted under keys no validator holds: nothing to re-execute
            for v in self.honest_validators:
                if self.m.job(g.job_id).status != JobStatus.SUBMITTED:
                    break
                if not self.m.quorum.attested(g.job_id, v.address):
                    self.m.attest(v, g.job_id, g.true_output)
                    self.stats["honest attest"] += 1

    @precondition(_has(JobStatus.SUBMITTED, mode=JobMode.FHE))
    @rule(i=st.integers(0, 1_000), same=st.booleans())
    def attacker_attests(self, i: int, same: bool) -> None:
        """Against any submitted FHE job, honest or not, with a made-up hash (or the true one)."""
        g = self._pick(i, JobStatus.SUBMITTED, mode=JobMode.FHE)
        if g is not None:
            h = g.true_output if same else keccak(b"attacker says %d" % g.job_id)
            self._try("attacker attest", self.m.attest, self.attacker, g.job_id, h)

    @rule(how=st.sampled_from(["unbond_all", "unbond_half", "withdraw", "register", "claim"]))
    def attacker_moves_stake(self, how: str) -> None:
        a, v = self.attacker, self.m.validator(self.attacker.address)
        if how == "unbond_all" and v.stake:
            self._try("attacker unbond", self.m.unbond_validator, a, v.stake)
        elif how == "unbond_half" and v.stake:
            self._try("attacker unbond", self.m.unbond_validator, a, v.stake // 2)
        elif how == "withdraw":
            self._try("attacker withdraw", self.m.withdraw_unbonded_validator, a)
        elif how == "register":
            # At most a quarter of the stake: the quorum's trust assumption is that honest validators
            # hold two thirds (an attacker above a third can block disputes; above two thirds, win them).
            amount = min(self.m.balance(a.address), VALIDATOR_STAKE)
            self._try("attacker register", self.m.register_validator, a, amount)
        elif how == "claim":
            self._try("attacker claim", self.m.claim_quorum, a)

    # ------------------------------------------------------------------------------ attacker, anyone
    @precondition(_has_jobs)
    @rule(
        i=st.integers(0, 1_000),
        how=st.sampled_from(["finalize", "dispute", "forged_claim", "refund", "start"]),
    )
    def attacker_meddles(self, i: int, how: str) -> None:
        g = self._pick(i)
        if g is None:
            return
        a, job = self.attacker, g.job_id
        if how == "finalize":  # anyone may finalize, but only after the window
            job_now = self.m.job(job)
            ok = self._try("finalize", self.m.finalize, a, job)
            if ok:
                assert (
                    job_now.status == JobStatus.SUBMITTED
                    and self.m.net.now() >= job_now.submitted_at + WINDOW
                    and self._finalizable(job, self.m.net.now())
                )
        elif how == "dispute":
            assert not self._try("attacker dispute", self.m.dispute_directly, a, job)
        elif how == "forged_claim":  # a claim the attacker signed itself, in the node's name
            inst, proof = self.pool.bad[0][2], self.pool.bad[0][1]
            sig = self.m.sign_claim(a, job, inst, proof)
            assert not self._try("forged challenge", self.m.challenge_zk, g.client, job, inst, proof, sig)
        elif how == "refund":
            assert not self._try("attacker refund", self.m.refund, a, job)
        elif how == "start":
            assert not self._try("attacker start", self.m.start_job, a, job)
        elif how == "early_refund" and self.view.now + 5 < g.deadline:  # the client itself, too early
            assert not self._try("early refund", self.m.refund, g.client, job)

    @rule(seconds=st.sampled_from([30, 600, WINDOW, 20_000, UNBOND]))
    def time_passes(self, seconds: int) -> None:
        self._honest_nodes_act()  # live nodes submit and deliver before their deadlines
        self._honest_validators_audit()  # live validators act inside every window
        self.m.advance(seconds)

    # ------------------------------------------------------------------------------ FHE delivery
    @precondition(_has(JobStatus.SUBMITTED, mode=JobMode.FHE))
    @rule(i=st.integers(0, 1_000), greedy=st.booleans())
    def client_demands_the_output(self, i: int, greedy: bool) -> None:
        """An honest client demands on chain an output it did not get; a greedy one also one it has
        (it must lose its bond to a node that delivers, and never gain)."""
        mine = [
            g for g in self.jobs.values()
            if self.view.status[g.job_id] == JobStatus.SUBMITTED and g.mode == JobMode.FHE and g.received == greedy
        ]  # fmt: skip
        if not mine:
            return
        g = mine[i % len(mine)]
        sub_at, now = self.view.submitted_at[g.job_id], self.m.net.now()
        if self._try("demand", self.m.claim_not_delivered, g.client, g.job_id):
            assert not g.demanded and not g.delivered and now < sub_at + WINDOW, (
                f"job {g.job_id}: demand taken"
            )
            g.demanded, g.greedy = True, g.received
            g.due = self.m.delivery(g.job_id).due
            g.cheated |= g.node == self.cheater  # it may leave the demand unanswered: a slash then
        else:
            assert g.demanded or g.delivered or now + 2 >= sub_at + WINDOW, f"job {g.job_id}: demand refused"

    @precondition(_has(JobStatus.SUBMITTED, mode=JobMode.FHE, who="cheater"))
    @rule(i=st.integers(0, 1_000), what=st.sampled_from(["posted", "true", "other"]))
    def cheater_delivers(self, i: int, what: str) -> None:
        """The cheater answers a demand (or not) with the bytes it posted, the true output, or other bytes."""
        g = self._pick(i, JobStatus.SUBMITTED, mode=JobMode.FHE, node=self.cheater)
        if g is not None:
            self._cheater_delivers(g, what)

    def _cheater_delivers(self, g: Ghost, what: str) -> None:
        ct = {"posted": g.posted_ct, "true": g.true_ct, "other": b"other bytes %d" % g.job_id}[what]
        assert ct is not None
        now = self.m.net.now()
        if self._try(f"cheater deliver {what}", self.m.deliver_output, self.cheater, g.job_id, ct):
            assert ct == g.posted_ct, f"job {g.job_id}: bytes that are not the posted output were delivered"
            assert not g.delivered and (not g.demanded or now < g.due), f"job {g.job_id}: late delivery"
            g.delivered = True
        else:
            assert ct != g.posted_ct or g.delivered or (g.demanded and now + 2 >= g.due), (
                f"job {g.job_id}: the posted output could not be delivered"
            )

    # ------------------------------------------------------------------------------ owners
    @rule(how=st.sampled_from(["adapter", "adapter2", "rejecting", "register", "register_unregistered"]))
    def owners_act(self, how: str) -> None:
        """#12 item 2: the market owner swaps ``zk_verifier`` while claims are outstanding, even to one
        that rejects every proof (jobs already open keep the verifier they were opened under); or the
        model owner registers a VKA with the second adapter (once per adapter and model)."""
        if not how.startswith("register"):
            self.m.set_zk_verifier(self.owner, self.verifiers[how])
            self.verifier = self.verifiers[how]
            self.stats[f"swap to {how}"] += 1
            return
        model_id = self.unregistered_model if how == "register_unregistered" else self.model_id
        a2 = self.verifiers["adapter2"]
        if self._try(
            "register vka", self.m.register_vka, self.owner, a2, model_id, self.pool.package.vka_words
        ):
            assert (a2, model_id) not in self.registered, "a VKA registered twice"
            self.registered.add((a2, model_id))

    @precondition(_has_finalizable)
    @rule(i=st.integers(0, 1_000))
    def anyone_finalizes(self, i: int) -> None:
        """Anyone settles an FHE job whose window has passed undisputed."""
        v = self.view
        ready = [
            j
            for j, st in v.status.items()
            if st == JobStatus.SUBMITTED
            and v.submitted_at[j] + WINDOW <= v.now
            and self._finalizable(j, v.now)
        ]
        if not ready:
            return
        self.m.finalize(self.finalizer, ready[i % len(ready)])
        self.stats["finalize"] += 1

    # ------------------------------------------------------------------------------ invariants
    @invariant()
    def invariants_hold(self) -> None:
        """One read of the whole state after each step, then every check against the ghost."""
        block = self.m.net.w3.eth.block_number
        if block != self.view_block:  # nothing was mined: nothing changed
            self.view, self.view_block = self._read(), block
        self.tokens_are_conserved()
        self.market_holds_exactly_escrow_plus_pending()
        self.escrow_leaves_each_job_once_and_only_to_its_parties()
        self.honest_nodes_are_never_slashed()
        self.the_cheater_is_slashed_only_for_its_cheats()
        self.nobody_is_paid_for_a_result_that_does_not_verify()
        self.each_zk_job_keeps_the_verifier_it_opened_under()
        self.a_delivery_bond_goes_to_the_node_only_with_its_pay()

    def tokens_are_conserved(self) -> None:
        v = self.view
        assert v.supply == self.supply, "tokens minted or burnt"
        assert sum(v.balance.values()) == self.supply, "tokens at an unknown address"

    def market_holds_exactly_escrow_plus_pending(self) -> None:
        v = self.view
        assert v.balance[self.m.suite.market.address] == v.escrowed + sum(v.pending.values())
        prices = sum(g.price for g in self.jobs.values() if v.status[g.job_id] not in FINAL)
        bonds = sum(BOND for g in self.jobs.values() if self._bond_in_escrow(g, v.status[g.job_id]))
        assert v.escrowed == prices + bonds, (
            "escrow is not the open jobs' prices plus the held delivery bonds"
        )

    def escrow_leaves_each_job_once_and_only_to_its_parties(self) -> None:
        """The ghost's books: each job that ends credits its parties once; the market owes exactly that."""
        v = self.view
        for g in self.jobs.values():
            status = v.status[g.job_id]
            self._book_bond(g, status)
            if g.status in FINAL:
                assert status == g.status, f"job {g.job_id} left {g.status.name} for {status.name}"
                continue
            g.status = status
            if status == JobStatus.SETTLED:
                # JobMarket._settle: a list-price job pays the fee first and splits the rest by
                # royalty_bps; an offer job (#14) pays the owner the royalty fixed at open, the fee on the rest
                if g.offer_royalty is None:
                    fee = g.price * self.fee_bps // 10_000
                    royalty = (g.price - fee) * ROYALTY_BPS // 10_000
                else:
                    royalty = g.offer_royalty
                    fee = (g.price - royalty) * self.fee_bps // 10_000
                self.credited[g.node.address] += g.price - fee - royalty
                self.credited[self.owner.address] += royalty
                self.credited[self.treasury] += fee
            elif status in (JobStatus.REFUNDED, JobStatus.SLASHED):
                self.credited[g.client.address] += g.price
        for a, owed in v.pending.items():
            assert owed == self.credited[a] - self.withdrawn[a], (
                f"{a} is owed {owed}, the books say {self.credited[a] - self.withdrawn[a]}: escrow or a "
                "delivery bond went to the wrong party"
            )

    # The delivery bond's path: in escrow from the demand until the job ends; then the node's if it
    # delivered and the job settled, else back to the client.
    def _bond_in_escrow(self, g: Ghost, status: JobStatus) -> bool:
        return g.demanded and status not in FINAL

    def _book_bond(self, g: Ghost, status: JobStatus) -> None:
        if g.demanded and not g.bond_booked and status in FINAL:
            earner = g.node if g.delivered and status == JobStatus.SETTLED else g.client
            self.credited[earner.address] += BOND
            g.bond_booked = True

    def each_zk_job_keeps_the_verifier_it_opened_under(self) -> None:
        """#12 item 2: an owner's swap of ``zk_verifier`` never reaches a job already open."""
        for g in self.jobs.values():
            if g.mode == JobMode.ZK:
                assert self.view.verifier[g.job_id] == int(g.verifier, 16), (
                    f"job {g.job_id}: verifier changed"
                )

    def a_delivery_bond_goes_to_the_node_only_with_its_pay(self) -> None:
        """A demanded output that never came is never paid for (unless the client accepted it); a
        client who demanded an output loses its bond only to a node that delivered it and is paid
        for the job (the books above, checked against ``pending``: a node slashed for the job, e.g. for
        delivering bytes the quorum refuted, returns it); a greedy client, which had the output, never
        gets its bond, the price or a slash out of an honest node."""
        for g in self.jobs.values():
            if not g.demanded:
                continue
            status = self.view.status[g.job_id]
            if status == JobStatus.SETTLED and not g.delivered:
                assert g.accepted, f"job {g.job_id}: paid although the output it was asked for never came"
            if g.greedy and self._honest(g.node):
                assert status in (JobStatus.SUBMITTED, JobStatus.SETTLED), (
                    f"job {g.job_id}: a greedy demand paid"
                )

    def honest_nodes_are_never_slashed(self) -> None:
        for n in self.honest_nodes:
            assert self.view.slashed[n.address] == 0, f"honest node {n.address} slashed"
        for g in self.jobs.values():
            if g.status == JobStatus.SLASHED:
                assert not self._honest(g.node), f"job {g.job_id}: honest node slashed"

    def the_cheater_is_slashed_only_for_its_cheats(self) -> None:
        cheats = sum(1 for g in self.jobs.values() if g.node == self.cheater and g.cheated)
        assert self.view.slashed[self.cheater.address] <= cheats * SLASH

    def nobody_is_paid_for_a_result_that_does_not_verify(self) -> None:
        p = self.pool
        good_out = JobMarket.output_hash(p.instances)
        for g in self.jobs.values():
            if g.status != JobStatus.SETTLED or g.checked_paid:
                continue
            job = self.m.job(g.job_id)
            if g.mode == JobMode.ZK:
                assert g.commitment == p.commitment and job.output_hash == good_out, g.job_id
                assert job.verifier != self.verifiers["rejecting"], f"job {g.job_id}: settled unverified"
                assert job.proof_hash == JobMarket.proof_hash(p.proof), g.job_id
            else:
                assert job.output_ct_hash == g.true_output.hex(), (
                    f"job {g.job_id}: paid for a wrong FHE output"
                )
                if self.keys_bound:
                    assert job.eval_keys_hash == g.keys.hex(), f"job {g.job_id}: paid under keys nobody has"
            g.checked_paid = True  # a settled job never changes (checked above): read it once

    def teardown(self) -> None:
        """Every job ends; everyone withdraws; the market is empty. Nothing can be stuck."""
        if not hasattr(self, "m"):
            return
        m = self.m
        self._honest_nodes_act()
        self._honest_validators_audit()
        m.advance(MAX_DEADLINE + 2 * WINDOW + 10)
        for g in self.jobs.values():
            job = m.job(g.job_id)
            if job.status == JobStatus.OPEN:
                m.refund(g.client, g.job_id)
            elif job.status == JobStatus.SUBMITTED:
                m.finalize(self.finalizer, g.job_id)
        self.invariants_hold()
        for a in self.everyone:
            if m.market_pending(a.address):
                m.withdraw(a)
        assert m.escrowed() == 0 and m.balance(m.suite.market.address) == 0
        if os.environ.get("VEILPROOF_STATEFUL_STATS"):
            print(dict(sorted(self.stats.items())))


def run(net: Network, zk_pool: ZkPool, examples: int, steps: int) -> None:
    MarketUnderAttack.world = World.create(net, zk_pool)
    run_state_machine_as_test(
        MarketUnderAttack,
        settings=settings(
            max_examples=examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.debug if os.environ.get("VEILPROOF_STATEFUL_STATS") else Verbosity.normal,
        ),
    )


def test_market_under_attack(net: Network, zk_pool: ZkPool) -> None:
    """A few hundred steps per ``make test``: on anvil (fast EVM, real proof checks in milliseconds)
    most of them; on the embedded py-evm chain, where each Halo2 verification takes seconds, a few
    runs to keep both backends honest. ``make fuzz`` raises both."""
    embedded = net.kind == "embedded"
    examples = int(os.environ.get("VEILPROOF_STATEFUL_EXAMPLES", "3" if embedded else "15"))
    steps = int(os.environ.get("VEILPROOF_STATEFUL_STEPS", "25" if embedded else "40"))
    run(net, zk_pool, examples, steps)
