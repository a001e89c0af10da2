"""Economic simulation of a subnet: does any attack of issue #12 pay better than honest work?

Runs many epochs of a market with nodes, validators and clients following fixed strategies, settles
each epoch's emissions with the exact Python mirror of ``Rewards.vy``
(:func:`veilproof.incentives.yuma.epoch_step`, or the contracts themselves with ``--on-chain``), and
books for every actor its **profit**::

    profit = earnings (emissions + job fees + challenger shares + penalties received)
             - compute (what it spent running models, audits, re-executions)
             - slashes (slashes and penalties it paid)
             - gas (every transaction it sent, at ``gas_veil_per_mgas``)

so a cheater that saves compute is credited for the saving, not only compared on earnings.

The protocol is modelled *as fixed by issue #12* (:class:`Protocol`, all flags on); turning a flag
off models today's hole, which is how the tests show that each fix (and each tuned parameter) is
what makes its attack lose. Fixes and the attack each closes:

================================  ==============================================================
``require_start``                 item 6: a submit needs ``start_job``, a missed deadline is
                                  always slashable (``lazy`` node)
``eval_key_commitment``           item 1: the client commits its evaluation-key hash at open, so
                                  a garbage FHE result is disputable (``fhe_garbage``)
``registered_vka_only``           item 2: ``open_job`` needs a registered verifier key, the node
                                  verifies locally before it signs (``slash_farmer`` client)
``reserve_before_start``          item 3: the node reserves a worker before ``start_job`` or
                                  calls ``reject_job`` (honest nodes under a burst)
``quorum_snapshot``               item 4: quorum over a stake snapshot, attesters locked, refuted
                                  attestations penalised (``quorum_griefer``)
``eviction``                      item 7: a higher stake replaces the lowest validator / node
                                  (``sybil_validator``, ``sybil_node``)
``weighted_ratings``              reputation: a rating weighs what the node was paid for a
                                  verified job (``rep_self_dealer``)
``receipt_proof_claim``           pay-on-proof (#14): a node holding a valid proof but no receipt
                                  claims after the deadline, verified on chain, max price +
                                  ``claim_surcharge`` from the deposit (``withholder`` client)
``receipt_claim_after_deadline``  #14: a proof claim only after the order's deadline, so a node
                                  cannot race the receipt for the max price (``racer`` node)
``receipt_client_verifies``       #14: the client verifies the proof locally before it signs a
                                  receipt and challenges a bad one (``wrong_proof`` node)
``receipt_demand``                #14: a client demands an accepted, undelivered order with a bond;
                                  no answer → slash (``no_show`` node)
``receipt_resolve_checks_paid``   #14: ``resolve`` hands a paid order's bond to the node instead of
                                  slashing it (``griefer`` client)
``receipt_withdraw_delay``        #14: ``withdraw_delay`` > max deadline + both windows, so a
                                  deposit outlives every claim on it (``escaper`` client)
================================  ==============================================================

The pay-on-proof market (``ReceiptMarket.vy``, docs/settlement.md) is simulated beside the subnet,
with its own actors (``receipt_node:*``, ``receipt_client:*``) and its own random stream, so adding
it changes none of the subnet's numbers: every client orders from every node in turn (the same mix
for every strategy), a node's income is the split of what the client paid, its costs the prover and
the gas of ``settle`` (batched), ``claim_with_proof``, ``resolve``, ``collect``; a client's earnings
are the value of the valid answers it got (the list price), its costs what it paid and its gas.

Strategies (``NODE_STRATEGIES``, ``VALIDATOR_STRATEGIES``, ``CLIENT_STRATEGIES`` describe each).
Detection of FHE cheats: an audit (a validator's known-answer query, indistinguishable from a
client's, ``audit_rate`` of FHE jobs) always sees a wrong answer; a user job on a deterministic
circuit (``deterministic_share``) is re-executed with probability ``reexec_rate``. Both lead to a
slash only when the job committed its evaluation keys (otherwise nothing on chain can show the
result is wrong, and the node only loses score).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from veilproof.chain.deploy import (
    NODE_MIN_STAKE_VEIL,
    ONE_VEIL,
    PROTOCOL_FEE_BPS,
    SLASH_VEIL,
    ReceiptParams,
    SuiteParams,
)
from veilproof.errors import InputError
from veilproof.incentives.deploy import FALSE_ATTEST_BPS, VALIDATOR_MIN_STAKE_VEIL
from veilproof.incentives.yuma import (
    MAX_NODES,
    MAX_VALIDATORS,
    SCALE,
    EpochResult,
    YumaParams,
    epoch_step,
    to_uint16_weights,
)

VEIL = 10**18
_RP = ReceiptParams()  # ReceiptMarket's deploy values

NODE_STRATEGIES: dict[str, str] = {
    "honest": "serves every job it takes with the committed model; reserves a worker before "
    "start_job and rejects what it cannot run",
    "fhe_garbage": "posts random FHE results (and hashes): saves all FHE compute; serves ZK honestly",
    "fhe_cheater": "runs a cheaper model on cheat_fraction of its FHE jobs on non-deterministic "
    "circuits, where only audits can catch it",
    "zk_swapper": "runs a cheaper model on cheat_fraction of its ZK jobs (no valid proof exists)",
    "lazy": "never calls start_job (so missed deadlines cannot be slashed) and lets the jobs it "
    "cannot serve expire",
    "burst_refuser": "takes every job on chain (start_job) and refuses the ones beyond its capacity",
    "rep_self_dealer": "a mediocre node (clients rate it dealer_quality) that self-deals jobs "
    "rated 100 to lift its score to dealer_target and draw clients from better nodes",
    "sybil_node": "registers to take a node slot, serves nothing; colluding / sybil validators give "
    "it top weight",
}
VALIDATOR_STRATEGIES: dict[str, str] = {
    "honest": "audits (pays for known-answer queries and re-executions), scores nodes by what it "
    "measured and the public record of caught cheats, attests true re-executions",
    "copier": "skips audits; commits the previous epoch's public consensus (commit-reveal hides "
    "this epoch's weights)",
    "random_weights": "skips audits; commits random weights",
    "colluding": "honest, but gives the sybil nodes top weight (cartel below kappa)",
    "quorum_griefer": "honest weights, plus attests false re-execution hashes against honest FHE "
    "nodes to force disputes (40% of stake: today enough with the unbond trick)",
    "sybil_validator": "minimum-stake registrations racing for the 16 validator slots, voting for "
    "the sybil nodes",
}
CLIENT_STRATEGIES: dict[str, str] = {
    "honest": "pays for answers it uses (reference: profit 0)",
    "slash_farmer": "opens ZK jobs on models whose verifier key is not registered, to take the "
    "challenger share of honest nodes' slashes",
}

RECEIPT_NODE_STRATEGIES: dict[str, str] = {
    "honest": "proves every order it accepts, settles receipts in batches, claims with the proof "
    "(after the deadline) when a client withholds its receipt, answers demands",
    "wrong_proof": "delivers a wrong proof (a cheaper model) on every order, hoping for a receipt",
    "no_show": "accepts orders and delivers nothing on rm_no_show_fraction of them (saves the prover)",
    "racer": "claims every order with its proof at once, racing the client's receipt for the max "
    "price + the surcharge",
}
RECEIPT_CLIENT_STRATEGIES: dict[str, str] = {
    "honest": "verifies each proof locally and signs a receipt for what it got",
    "withholder": "takes valid results and never signs a receipt",
    "griefer": "signs the receipt, then demands delivery anyway (hoping the node misses the response "
    "window and is slashed, the client taking the challenger share)",
    "escaper": "withholds receipts and asks for its deposit back at once, to leave before a claim",
    "tight_withholder": "withholds receipts and keeps each deposit at exactly the max prices of its "
    "open orders, so the surcharges of the first claims eat the cover of the last ones",
}

# Gas per transaction (docs/gas.md, embedded py-evm; submit_zk includes a typical EZKL verify).
GAS = {
    "open_job": 320_000,
    "start_job": 60_000,
    "reject_job": 50_000,
    "submit_zk": 450_000,
    "submit_fhe": 154_000,
    "challenge": 203_000,
    "refund": 66_000,
    "failed_tx": 40_000,
    "rate": 150_000,
    "register": 280_000,
    "attest": 200_000,
    "weights": 380_000,  # commit + reveal
    # ReceiptMarket (docs/gas.md, bench/gas.py --zk; claims with a real EZKL proof)
    "rm_deposit": 80_665,  # first deposit of a (client, node) pair
    "rm_topup": 46_465,
    "rm_settle": 28_650,  # per receipt, batches of 20 receipts of 20 clients
    "rm_settle_one": 82_131,  # a receipt settled alone (to answer a demand)
    "rm_claim": 1_056_296,  # claim_with_proof, real proof
    "rm_demand": 108_460,
    "rm_resolve_paid": 34_742,
    "rm_resolve_slash": 141_376,
    "rm_challenge": 178_877,
    "rm_request_withdraw": 70_378,
    "rm_withdraw": 44_950,
    "rm_collect": 38_264,
}


@dataclass(frozen=True)
class Protocol:
    """Which fixes of issue #12 are in force (all on: the protocol as fixed)."""

    require_start: bool = True
    eval_key_commitment: bool = True
    registered_vka_only: bool = True
    reserve_before_start: bool = True
    quorum_snapshot: bool = True
    eviction: bool = True
    weighted_ratings: bool = True
    # pay-on-proof (ReceiptMarket, issue #14)
    receipt_proof_claim: bool = True
    receipt_claim_after_deadline: bool = True
    receipt_client_verifies: bool = True
    receipt_demand: bool = True
    receipt_resolve_checks_paid: bool = True
    receipt_withdraw_delay: bool = True

    @classmethod
    def today(cls) -> Protocol:
        """The protocol before the fixes (every hole of issue #12 open)."""
        return cls(**{k: False for k in asdict(cls())})


@dataclass
class SimConfig:
    """A subnet and its parameters. Defaults are the recommended (tuned) values."""

    epochs: int = 200
    seed: int = 0
    protocol: Protocol = field(default_factory=Protocol)
    nodes: dict[str, int] = field(
        default_factory=lambda: {
            "honest": 20,
            "fhe_garbage": 3,
            "fhe_cheater": 3,
            "zk_swapper": 3,
            "lazy": 3,
            "burst_refuser": 3,
            "rep_self_dealer": 3,
            "sybil_node": 28,
        }
    )
    validators: dict[str, int] = field(
        default_factory=lambda: {
            "honest": 8,
            "copier": 2,
            "random_weights": 1,
            "colluding": 2,
            "quorum_griefer": 2,
            "sybil_validator": 16,
        }
    )
    clients: dict[str, int] = field(default_factory=lambda: {"honest": 1, "slash_farmer": 2})
    # pay-on-proof market (ReceiptMarket): its own nodes and clients, deploy values of ReceiptParams
    receipt_nodes: dict[str, int] = field(
        default_factory=lambda: {"honest": 8, "wrong_proof": 2, "no_show": 2, "racer": 2}
    )
    receipt_clients: dict[str, int] = field(
        default_factory=lambda: {
            "honest": 8,
            "withholder": 2,
            "griefer": 2,
            "escaper": 2,
            "tight_withholder": 2,
        }
    )
    rm_jobs_per_epoch: float = 28.0  # orders per client per epoch, spread over every node
    rm_max_price_factor: float = 1.2  # the order's maxPrice over the quoted price the receipt pays
    rm_slash: float = _RP.slash_amount / ONE_VEIL
    rm_demand_bond: float = _RP.demand_bond / ONE_VEIL
    rm_claim_surcharge: float = _RP.claim_surcharge / ONE_VEIL
    rm_fee_bps: int = _RP.fee_bps
    rm_no_show_fraction: float = 0.3
    # the node's acceptance check (ReceiptMarket.check_order) reserves max_price + claim_surcharge
    # per unsettled order; not built (it reserves max_price only), so False
    rm_reserve_surcharge: bool = False
    # stake shares of validator groups (of the non-sybil validators' total); the rest is drawn
    colluding_stake_share: float = 0.15
    griefer_stake_share: float = 0.42
    # deploy values: the same constants the production deploy uses (veilproof.chain.deploy)
    validator_min_stake: float = float(VALIDATOR_MIN_STAKE_VEIL)
    node_min_stake: float = float(NODE_MIN_STAKE_VEIL)  # covers two slashes
    max_validators: int = MAX_VALIDATORS
    max_nodes: int = MAX_NODES
    # market
    emission: float = 2_000.0  # VEIL per epoch
    price: float = 10.0  # VEIL per job
    royalty: float = 0.15  # model owner's share of the price (after the fee)
    fee_bps: int = PROTOCOL_FEE_BPS  # protocol fee to the treasury
    compute_cost: float = 4.0  # honest compute per job
    cheap_cost: float = 1.0  # compute of a substituted (cheaper-model) job
    gas_veil_per_mgas: float = 0.1  # VEIL per million gas
    jobs_per_epoch: int = 20  # user jobs offered to an average node
    capacity_factor: float = 1.5  # what a node can run, in units of jobs_per_epoch
    fhe_share: float = 0.5
    deterministic_share: float = 0.5  # FHE jobs on byte-deterministic circuits (re-executable)
    outage_prob: float = 0.2  # per node per epoch: capacity drops to 10-60%
    burst_prob: float = 0.1  # per epoch: demand spikes
    burst_factor: float = 3.0
    # slashing and detection (tuned)
    slash: float = float(SLASH_VEIL)  # per caught cheat / missed deadline (node stake must cover it)
    challenger_share: float = 0.5
    audit_rate: float = 0.01  # FHE jobs that are validator audits (3.4x the break-even rate)
    reexec_rate: float = 0.02  # deterministic user FHE jobs re-executed by validators
    audit_compute: float = 1.0  # validator's own cost per audit (encrypt, decrypt), besides the price
    reexec_cost: float = 4.0  # one re-execution
    # share of audit and re-execution costs refunded to the validators who paid them (from the
    # protocol fee): audits are a public good a copier free-rides on; not built yet, so 0
    audit_subsidy: float = 0.0
    caught_memory: int = 24  # epochs a caught node keeps a zero score at honest validators
    expiry_penalty: float = 1.0  # score lost per unit of expired-job share (validators' policy)
    false_attest_bps: int = FALSE_ATTEST_BPS  # penalty of a refuted attestation, of the attested stake
    cheat_fraction: float = 0.3  # fhe_cheater / zk_swapper
    griefs_per_epoch: int = 2  # false attestations a griefer group tries per epoch
    farm_jobs_per_epoch: int = 5  # per slash-farming client
    node_quality: float = 95.0  # how clients rate every other node (equal: strategies compare)
    dealer_quality: float = 70.0  # the self-dealer's real service, as its clients rate it
    dealer_target: float = 97.0  # the score it buys its way up to
    rep_temperature: float = 5.0  # score points for a factor e in demand
    rep_decay: float = 0.8  # reputation EMA factor per epoch
    probe_noise: float = 0.05
    kappa_bps: int = 5_000
    alpha_bps: int = 1_000

    @property
    def node_fee(self) -> float:
        """What a node receives for a settled job."""
        return self.price * (1 - self.fee_bps / 10_000) * (1 - self.royalty)

    def gas(self, tx: str, n: float = 1.0) -> float:
        return GAS[tx] * n * self.gas_veil_per_mgas / 1e6

    def validate(self) -> SimConfig:
        """Raise :class:`InputError` naming the first parameter out of range; returns ``self``."""
        for name in (
            "audit_rate",
            "audit_subsidy",
            "reexec_rate",
            "fhe_share",
            "deterministic_share",
            "outage_prob",
            "burst_prob",
            "cheat_fraction",
            "challenger_share",
            "royalty",
            "rm_no_show_fraction",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise InputError(name, "a fraction between 0 and 1", v)
        for name in (
            "slash",
            "price",
            "compute_cost",
            "cheap_cost",
            "emission",
            "audit_compute",
            "reexec_cost",
            "gas_veil_per_mgas",
            "rm_jobs_per_epoch",
            "rm_slash",
            "rm_demand_bond",
            "rm_claim_surcharge",
        ):
            if getattr(self, name) < 0:
                raise InputError(name, "a non-negative amount of VEIL", getattr(self, name))
        if self.epochs < 1:
            raise InputError("epochs", "at least 1", self.epochs)
        if not 0 <= self.fee_bps <= 10_000:
            raise InputError("fee_bps", "basis points between 0 and 10000", self.fee_bps)
        for kind, pop, known in (
            ("nodes", self.nodes, NODE_STRATEGIES),
            ("validators", self.validators, VALIDATOR_STRATEGIES),
            ("clients", self.clients, CLIENT_STRATEGIES),
            ("receipt_nodes", self.receipt_nodes, RECEIPT_NODE_STRATEGIES),
            ("receipt_clients", self.receipt_clients, RECEIPT_CLIENT_STRATEGIES),
        ):
            for s, c in pop.items():
                if s not in known or c < 0:
                    raise InputError(f"{kind}.{s}", f"a count >= 0 of one of {sorted(known)}", c)
        if self.nodes.get("honest", 0) < 1 or self.validators.get("honest", 0) < 1:
            raise InputError("population", "at least one honest node and one honest validator")
        if self.rm_max_price_factor < 1.0:
            raise InputError(
                "rm_max_price_factor", "at least 1 (maxPrice >= the price)", self.rm_max_price_factor
            )
        if not 0 <= self.rm_fee_bps <= 10_000:
            raise InputError("rm_fee_bps", "basis points between 0 and 10000", self.rm_fee_bps)
        receipts = any(self.receipt_nodes.values()) or any(self.receipt_clients.values())
        if receipts and min(self.receipt_nodes.get("honest", 0), self.receipt_clients.get("honest", 0)) < 1:
            raise InputError(
                "receipt population", "at least one honest receipt node and one honest receipt client"
            )
        return self


@dataclass
class Account:
    """Running totals of one actor (VEIL)."""

    earnings: float = 0.0
    compute: float = 0.0
    slashes: float = 0.0
    gas: float = 0.0

    @property
    def profit(self) -> float:
        return self.earnings - self.compute - self.slashes - self.gas


@dataclass
class Node:
    idx: int  # index in the subnet (admitted nodes only), -1 if locked out
    strategy: str
    latency: float
    stake: float
    acct: Account = field(default_factory=Account)
    quality: float = 95.0  # the score its real clients give it (0-100)
    caught_epoch: int = -(10**9)
    rep_w: float = 0.0  # decayed sum of rating weights
    rep_ws: float = 0.0  # decayed sum of weight x score

    @property
    def score(self) -> float:
        """The weighted average rating, 0-100 (what ``Client`` ranks offers by)."""
        return self.rep_ws / self.rep_w if self.rep_w > 0 else 0.0


@dataclass
class Validator:
    vid: str
    strategy: str
    stake: int  # wei
    admitted: bool = True
    acct: Account = field(default_factory=Account)


@dataclass
class Client:
    strategy: str
    acct: Account = field(default_factory=Account)


@dataclass
class Row:
    strategy: str  # "node:fhe_garbage"
    unit: str
    count: int
    earnings: float
    compute: float
    slashes: float
    gas: float
    profit: float
    vs_honest: float  # profit - honest profit (same group, same unit)
    pct_of_honest: float  # profit / honest profit (nan if honest profit is 0)


@dataclass
class SimResult:
    config: SimConfig
    rows_: list[Row]
    history: dict[str, list[float]]  # label → mean cumulative profit after each epoch
    locked_out: dict[str, int]  # label → actors that never got a slot
    minted: float = 0.0
    chain_checks: int = 0  # epochs cross-checked on the real contracts

    def rows(self) -> list[Row]:
        return self.rows_

    def final(self) -> dict[str, float]:
        """Profit per strategy label (per node / per 1000 VEIL staked / per client)."""
        return {r.strategy: r.profit for r in self.rows_}

    def losers(self) -> list[str]:
        """Cheating strategies whose profit is *not* below honest (empty when the economics hold)."""
        f = self.final()
        return [k for k in f if not k.endswith(":honest") and f[k] >= f[k.split(":")[0] + ":honest"]]

    def cheaters_lose(self) -> bool:
        return not self.losers()

    def to_json(self) -> dict[str, object]:
        return {
            "epochs": self.config.epochs,
            "seed": self.config.seed,
            "protocol": asdict(self.config.protocol),
            "params": {
                k: v
                for k, v in asdict(self.config).items()
                if k not in ("protocol", "nodes", "validators", "clients")
            },
            "population": {
                "nodes": self.config.nodes,
                "validators": self.config.validators,
                "clients": self.config.clients,
            },
            "rows": [asdict(r) for r in self.rows_],
            "locked_out": self.locked_out,
            "cheaters_lose": self.cheaters_lose(),
            "minted": self.minted,
            "chain_checked_epochs": self.chain_checks,
        }


EpochSettler = Callable[
    [int, list[str], dict[str, list[int]], dict[str, int], list[bool], dict[str, int]], EpochResult
]


def _mirror_settler(params: YumaParams) -> EpochSettler:
    def settle(
        epoch: int,
        committed: list[str],
        revealed: dict[str, list[int]],
        stakes: dict[str, int],
        eligible: list[bool],
        bonds: dict[str, int],
    ) -> EpochResult:
        return epoch_step(committed, revealed, stakes, eligible, bonds, params)

    return settle


def _admit(candidates: list[tuple[float, int]], cap: int, eviction: bool) -> set[int]:
    """Which candidates (stake, arrival order) hold a slot: the highest stakes with eviction
    (a higher stake replaces the lowest, as Bittensor does), else the first ``cap`` to arrive."""
    if eviction:
        order = sorted(candidates, key=lambda c: (-c[0], c[1]))
    else:
        order = sorted(candidates, key=lambda c: c[1])
    return {c[1] for c in order[:cap]}


def population(cfg: SimConfig) -> tuple[random.Random, list[Node], list[Validator]]:
    """Nodes and validators from ``cfg.seed``, with the slots they won.

    Sybils register first (they race for the slots); the others arrive later. With ``eviction``
    the highest stakes hold the slots, else the first comers. Admitted nodes are shuffled (an
    index hints nothing) and numbered 0..n-1, locked-out ones follow with ``idx = -1``.
    ``validators`` lists the admitted ones first, in commit order. Returns the generator too: the
    simulation continues the same random stream.
    """
    rng = random.Random(cfg.seed)
    p = cfg.protocol
    cands: list[Node] = []
    for strategy in sorted(cfg.nodes, key=lambda s: s != "sybil_node"):
        for _ in range(cfg.nodes[strategy]):
            if strategy == "sybil_node":
                stake = cfg.node_min_stake if p.eviction else 0.0  # today: no stake needed
            else:
                stake = cfg.node_min_stake * rng.uniform(1.0, 3.0)
            lat = rng.uniform(0.8, 1.0)
            q = cfg.dealer_quality if strategy == "rep_self_dealer" else cfg.node_quality
            cands.append(Node(-1, strategy, latency=lat, stake=stake, quality=q))
    keep = _admit([(nd.stake, i) for i, nd in enumerate(cands)], cfg.max_nodes, p.eviction)
    nodes = [nd for i, nd in enumerate(cands) if i in keep]
    rng.shuffle(nodes)
    for j, nd in enumerate(nodes):
        nd.idx = j
    locked = [nd for i, nd in enumerate(cands) if i not in keep]

    # validators: sybils first (min stake), then the rest with drawn stakes; group shares fixed
    vcands: list[tuple[str, float]] = []
    for strategy in sorted(cfg.validators, key=lambda s: s != "sybil_validator"):
        for _ in range(cfg.validators[strategy]):
            if strategy == "sybil_validator":
                vcands.append((strategy, cfg.validator_min_stake))
            else:
                vcands.append((strategy, cfg.validator_min_stake * rng.uniform(2.0, 6.0)))
    fixed = ("colluding", "quorum_griefer", "sybil_validator")
    free = sum(s for k, s in vcands if k not in fixed)
    free_share = max(1e-9, 1.0 - cfg.colluding_stake_share - cfg.griefer_stake_share)
    for group, share in (
        ("colluding", cfg.colluding_stake_share),
        ("quorum_griefer", cfg.griefer_stake_share),
    ):
        members = [i for i, (k, _) in enumerate(vcands) if k == group]
        for i in members:
            vcands[i] = (group, free * share / free_share / len(members))
    vkeep = _admit([(s, i) for i, (_, s) in enumerate(vcands)], cfg.max_validators, p.eviction)
    validators = [
        Validator(f"v{i}", k, int(s * VEIL), admitted=i in vkeep) for i, (k, s) in enumerate(vcands)
    ]
    validators.sort(key=lambda v: not v.admitted)
    return rng, nodes + locked, validators


def run(cfg: SimConfig, settler: EpochSettler | None = None) -> SimResult:
    """Simulate ``cfg.epochs`` epochs; ``settler`` replaces the mirror (e.g. the real contracts)."""
    params = YumaParams(
        emission=int(cfg.emission * VEIL),
        kappa_bps=cfg.kappa_bps,
        alpha_bps=cfg.alpha_bps,
        miss_penalty_bps=100,
    )
    settle = settler or _mirror_settler(params)
    cfg.validate()
    p = cfg.protocol
    rng, all_nodes, all_validators = population(cfg)
    nodes = [nd for nd in all_nodes if nd.idx >= 0]
    validators = [v for v in all_validators if v.admitted]
    clients = [Client(s) for s, c in cfg.clients.items() for _ in range(c)]
    rnodes = [Client(s) for s, c in cfg.receipt_nodes.items() for _ in range(c)]
    rclients = [Client(s) for s, c in cfg.receipt_clients.items() for _ in range(c)]
    # the pay-on-proof market draws from its own stream: the subnet's numbers do not move
    rm_rng = random.Random(f"receipts-{cfg.seed}")
    rm_served: dict[tuple[int, int], int] = {}  # orders per (node, client) pair so far
    for c in rclients:  # one first deposit per (client, node) pair
        c.acct.gas += cfg.gas("rm_deposit", len(rnodes))
    n = len(nodes)
    serving = [nd for nd in nodes if nd.strategy != "sybil_node"]
    # griefers and slash farmers pick their victims among all serving nodes (any node's honest
    # result can be attacked), so their penalties and slashes favour or hurt no strategy
    victims = [nd for nd in serving if nd.strategy != "lazy"]
    sybil_idx = {nd.idx for nd in nodes if nd.strategy == "sybil_node"}
    auditors = [v for v in validators if v.strategy in ("honest", "colluding", "quorum_griefer")]
    attesters = [v for v in validators if v.strategy in ("honest", "colluding")]
    audit_stake = sum(v.stake for v in auditors) or 1
    attest_stake = sum(v.stake for v in attesters) or 1
    total_vstake = sum(v.stake for v in validators) or 1
    griefers = [v for v in validators if v.strategy == "quorum_griefer"]
    griefer_stake = sum(v.stake for v in griefers)
    min_stake = int(cfg.validator_min_stake * VEIL)
    fee = cfg.node_fee

    # one-off registration gas; locked-out actors pay it and get nothing else
    for nd in all_nodes:
        nd.acct.gas += cfg.gas("register")
    for v in all_validators:
        v.acct.gas += cfg.gas("register")

    bonds: dict[str, int] = {}
    last_consensus: list[int] = [0] * n
    history: dict[str, list[float]] = {}
    minted = 0
    eligible = [True] * n
    for nd in serving:  # a history of ordinary ratings before the simulation starts
        nd.rep_w = cfg.jobs_per_epoch * (fee if p.weighted_ratings else 1.0)
        nd.rep_ws = nd.rep_w * nd.quality

    for epoch in range(cfg.epochs):
        burst = rng.random() < cfg.burst_prob
        avail = [0.0] * n
        caught_now = [0] * n
        expired_share = [0.0] * n
        audit_spend = 0.0  # paid by auditors pro rata stake
        audit_income = 0.0  # refunds + challenger shares of caught audits
        attest_income = 0.0  # challenger shares of re-execution disputes, to attesters
        attest_cost = 0.0

        # --- demand: at equal prices clients prefer the better reputation (the client's
        # rank_offers sorts by price, then the 0-100 score); softened: share ~ exp(score / T)
        pull = {nd.idx: math.exp((nd.score - 100.0) / cfg.rep_temperature) for nd in serving}
        pull_total = sum(pull.values()) or 1.0
        demand_total = cfg.jobs_per_epoch * len(serving) * (cfg.burst_factor if burst else 1.0)
        rated = {nd.idx: [0.0, 0.0] for nd in serving}  # this epoch's (weight, weight x score)
        for nd in serving:
            a = 1.0 if rng.random() >= cfg.outage_prob else rng.uniform(0.1, 0.6)
            avail[nd.idx] = a
            offered = _poisson_round(demand_total * pull[nd.idx] / pull_total, rng)
            capacity = round(cfg.jobs_per_epoch * cfg.capacity_factor * a)
            s = nd.strategy
            acct = nd.acct
            served = min(offered, capacity)
            if s == "burst_refuser" or (s == "honest" and not p.reserve_before_start):
                # takes every job on chain before it knows it has a worker, refuses the excess
                refused_started = offered - served
                if s == "honest":  # today's node: 19 of 40 refused jobs had been started (measured)
                    refused_started = round(refused_started * 19 / 40)
                acct.gas += cfg.gas("start_job", served + refused_started)
                acct.slashes += cfg.slash * refused_started
                caught_now[nd.idx] += refused_started
                expired_share[nd.idx] = refused_started / max(1, offered)
            elif s == "lazy":  # no start_job, no reject_job: what it cannot serve expires
                expired_share[nd.idx] = (offered - served) / max(1, offered)
            else:
                acct.gas += cfg.gas("start_job", served) + cfg.gas("reject_job", offered - served)
            for _ in range(served):
                fhe = rng.random() < cfg.fhe_share
                audit = fhe and rng.random() < cfg.audit_rate
                det = fhe and rng.random() < cfg.deterministic_share
                reexec = det and not audit and rng.random() < cfg.reexec_rate
                if audit:
                    audit_spend += cfg.price + cfg.audit_compute
                if reexec:
                    attest_cost += cfg.reexec_cost  # one validator re-executes the disclosed job
                cheat, cost = _job_choice(s, fhe, det, cfg, rng)
                acct.compute += cost
                if s == "lazy" and p.require_start:
                    acct.gas += cfg.gas("failed_tx")  # a submit without start_job reverts: unpaid
                    continue
                if not fhe and cheat:  # no valid proof for the committed model: the job expires
                    if p.require_start:  # ... after start_job, so the refund slashes
                        acct.slashes += cfg.slash
                        caught_now[nd.idx] += 1
                    continue
                acct.gas += cfg.gas("submit_fhe" if fhe else "submit_zk")
                if cheat and (audit or reexec):  # a wrong FHE answer is seen: the node loses score
                    caught_now[nd.idx] += 1
                    if p.eval_key_commitment:  # ... and, with the key hash on chain, its stake
                        acct.slashes += cfg.slash
                        if audit:
                            audit_income += cfg.price + cfg.slash * cfg.challenger_share
                        else:  # the quorum re-executes and attests, then disputes
                            attest_cost += cfg.reexec_cost * len(attesters)
                            attest_income += cfg.slash * cfg.challenger_share
                        continue
                acct.earnings += fee
                w = fee if p.weighted_ratings else 1.0  # the client rates what it got
                rated[nd.idx][0] += w
                rated[nd.idx][1] += w * nd.quality
            if s == "rep_self_dealer":
                # enough self-dealt 100-ratings to lift its score to dealer_target
                real = rated[nd.idx][0] / (fee if p.weighted_ratings else 1.0)
                k = math.ceil(max(1.0, real) * (cfg.dealer_target - nd.quality) / (100.0 - cfg.dealer_target))
                if p.weighted_ratings:
                    # a rating counts what the node was paid for a verified job: each fake is a
                    # real, proven job at the full price; the protocol fee and gas are lost
                    acct.compute += k * cfg.compute_cost
                    acct.gas += cfg.gas("open_job", k) + cfg.gas("start_job", k)
                    acct.gas += cfg.gas("submit_zk", k) + cfg.gas("rate", k)
                    acct.earnings -= k * cfg.price * cfg.fee_bps / 10_000
                    w = k * fee
                else:  # 1-wei price, own model with 100% royalty, faked output: gas only
                    acct.gas += cfg.gas("open_job", k) + cfg.gas("submit_fhe", k) + cfg.gas("rate", k)
                    w = float(k)
                rated[nd.idx][0] += w
                rated[nd.idx][1] += w * 100.0
        for nd in serving:
            nd.rep_w = cfg.rep_decay * nd.rep_w + rated[nd.idx][0]
            nd.rep_ws = cfg.rep_decay * nd.rep_ws + rated[nd.idx][1]
            if caught_now[nd.idx]:
                nd.caught_epoch = epoch

        # --- audits and re-executions: paid by the validators who do them, pro rata stake
        # (audit jobs are ordinary paid jobs for the nodes, already booked above)
        # (``audit_subsidy``: the share the treasury reimburses from the protocol fee)
        kept = 1.0 - cfg.audit_subsidy
        for v in auditors:
            share = v.stake / audit_stake
            v.acct.compute += audit_spend * share * kept
            v.acct.earnings += audit_income * share
        for v in attesters:
            share = v.stake / attest_stake
            v.acct.compute += attest_cost * share * kept
            v.acct.earnings += attest_income * share

        # --- griefers: false attestations against honest FHE results
        gstake = sum(v.stake for v in griefers) / VEIL
        for _ in range(cfg.griefs_per_epoch if griefers and victims else 0):
            victim = rng.choice(victims)
            for v in griefers:
                v.acct.gas += cfg.gas("attest")
            if not p.quorum_snapshot and 5 * griefer_stake + min_stake >= 2 * total_vstake:
                # today: attest, unbond (the live total drops to T - A), then a min-stake newcomer
                # attests: (A + m) / (T - A + m) >= 2/3
                victim.acct.slashes += cfg.slash
                for v in griefers:
                    v.acct.earnings += cfg.slash * cfg.challenger_share * v.stake / VEIL / gstake
            elif p.quorum_snapshot:  # refuted once the window closes: penalty paid to the accused
                pen = gstake * cfg.false_attest_bps / 10_000
                victim.acct.earnings += pen
                for v in griefers:
                    v.acct.slashes += pen * v.stake / VEIL / gstake

        # --- slash-farming clients
        for c in clients:
            if c.strategy != "slash_farmer":
                continue
            for _ in range(cfg.farm_jobs_per_epoch):
                if p.registered_vka_only or not victims:
                    c.acct.gas += cfg.gas("failed_tx")  # open_job reverts: model not registered
                    continue
                victim = rng.choice(victims)
                c.acct.gas += cfg.gas("open_job") + cfg.gas("challenge")
                c.acct.earnings += cfg.slash * cfg.challenger_share
                victim.acct.compute += cfg.compute_cost  # it proved, signed, its submit reverted
                victim.acct.slashes += cfg.slash
                victim.acct.gas += cfg.gas("start_job") + cfg.gas("failed_tx")

        # --- the pay-on-proof market
        _receipt_epoch(cfg, rm_rng, rnodes, rclients, rm_served)

        # --- weights
        weights: dict[str, list[int]] = {}
        for v in validators:
            v.acct.gas += cfg.gas("weights")
            if v.strategy == "copier":
                row = to_uint16_weights([c / SCALE for c in last_consensus])
                if not any(row):
                    row = [1] * n  # first epoch: nothing to copy yet
            elif v.strategy == "random_weights":
                row = [rng.randrange(0, 65_536) for _ in range(n)]
            else:
                scores = []
                for nd in nodes:
                    j = nd.idx
                    if j in sybil_idx or epoch - nd.caught_epoch < cfg.caught_memory:
                        scores.append(0.0)
                        continue
                    sc = max(0.0, avail[j] + rng.gauss(0, cfg.probe_noise)) * nd.latency
                    sc *= max(0.0, 1.0 - cfg.expiry_penalty * expired_share[j])
                    scores.append(sc * rng.uniform(0.95, 1.05))
                if v.strategy in ("colluding", "sybil_validator"):
                    top = max(scores) if scores else 1.0
                    for j in sybil_idx:
                        scores[j] = top or 1.0
                row = to_uint16_weights(scores)
            weights[v.vid] = row
        stakes = {v.vid: v.stake for v in validators}
        res = settle(epoch, [v.vid for v in validators], weights, stakes, eligible, bonds)
        bonds.update(res.bonds)
        last_consensus = res.consensus
        minted += res.minted
        for j, amt in enumerate(res.node_emission):
            nodes[j].acct.earnings += amt / VEIL
        for v in validators:
            v.acct.earnings += res.validator_emission.get(v.vid, 0) / VEIL
            v.acct.slashes += res.penalties.get(v.vid, 0) / VEIL  # missed reveals (none here)
        _record(history, all_nodes, all_validators, clients, rnodes, rclients)

    return SimResult(
        cfg,
        _rows(all_nodes, all_validators, clients, rnodes, rclients),
        history,
        locked_out={
            **_count("node", [nd.strategy for nd in all_nodes if nd.idx < 0]),
            **_count("validator", [v.strategy for v in all_validators if not v.admitted]),
        },
        minted=minted / VEIL,
    )


def _receipt_epoch(
    cfg: SimConfig,
    rng: random.Random,
    rnodes: list[Client],
    rclients: list[Client],
    served: dict[tuple[int, int], int],
) -> None:
    """One epoch of the pay-on-proof market. Demand is drawn once per epoch and every client sends
    the same number of orders to every node: each client meets the same mix of nodes and each node
    the same mix of clients, so a strategy's profit differs from honest only by what it does."""
    if not rnodes or not rclients:
        return
    per_pair = _poisson_round(cfg.rm_jobs_per_epoch / len(rnodes) * rng.uniform(0.5, 1.5), rng)
    for nd in rnodes:
        nd.acct.gas += cfg.gas("rm_collect")
    for ci, c in enumerate(rclients):
        for j, nd in enumerate(rnodes):
            for _ in range(per_pair):
                served[j, ci] = served.get((j, ci), 0) + 1
                _receipt_job(cfg, nd, c, served[j, ci])
        used = len(rnodes) if per_pair else 0
        c.acct.gas += cfg.gas("rm_topup", used)  # keeps each deposit above its open orders
        if c.strategy == "escaper":  # asks for every deposit back as soon as it has its results
            c.acct.gas += cfg.gas("rm_request_withdraw", used) + cfg.gas("rm_withdraw", used)


def _receipt_job(cfg: SimConfig, nd: Client, c: Client, k: int) -> None:
    """Book one order of client ``c`` to node ``nd`` (the pair's ``k``-th order): who pays, who is paid,
    who is slashed, and the gas of each transaction, following ReceiptMarket.vy.

    A client's earnings are the value of the valid answer it got (the list price) minus what it
    paid for it (0 for a receipt at the list price); a lost demand bond is booked as a slash."""
    p = cfg.protocol
    na, ca = nd.acct, c.acct
    price, maxp = cfg.price, cfg.price * cfg.rm_max_price_factor
    royalty = cfg.price * cfg.royalty  # the owner's amount each order binds (list price x royalty)

    def keep(paid: float) -> float:
        """The node's part of a price: all but the owner's fixed royalty, less the fee on it (#14)."""
        return (paid - royalty) * (1 - cfg.rm_fee_bps / 10_000)

    share = cfg.rm_slash * cfg.challenger_share
    claim_paid = maxp + cfg.rm_claim_surcharge  # a proof claim: max price + surcharge (all to the node)

    def claimed() -> None:
        na.gas += cfg.gas("rm_claim")
        na.earnings += keep(maxp) + cfg.rm_claim_surcharge
        ca.earnings += price - claim_paid

    f = cfg.rm_no_show_fraction
    if nd.strategy == "no_show" and math.floor(k * f) > math.floor((k - 1) * f):
        # accepted (signed Acceptance), nothing delivered: after the deadline the client demands
        if p.receipt_demand:  # no answer in the response window: resolve slashes, bond back
            ca.gas += cfg.gas("rm_demand") + cfg.gas("rm_resolve_slash")
            ca.earnings += share
            na.slashes += cfg.rm_slash
        return
    if nd.strategy == "wrong_proof":
        na.compute += cfg.cheap_cost
        if p.receipt_client_verifies:  # local verify fails: no receipt; the signed Delivery slashes
            ca.gas += cfg.gas("rm_challenge")
            ca.earnings += share
            na.slashes += cfg.rm_slash
        else:  # a client that pays on delivery pays for a wrong answer (worth nothing)
            na.earnings += keep(price)
            na.gas += cfg.gas("rm_settle")
            ca.earnings -= price
        return
    na.compute += cfg.compute_cost  # a valid proof
    if nd.strategy == "racer":
        if not p.receipt_claim_after_deadline:  # its claim lands before the client's receipt
            claimed()
            return
        na.gas += cfg.gas("failed_tx")  # "claim too early"; then paid as any node
    if c.strategy == "tight_withholder" and p.receipt_proof_claim and not cfg.rm_reserve_surcharge:
        # a deposit of exactly sum(max_price): each claim takes max_price + surcharge until the
        # rest is below a max price ("deposit short"); the node gets the whole deposit for the
        # orders, i.e. max_price per answer on average, and proves on chain for M / (M + s) of them
        paid_share = maxp / claim_paid
        na.gas += cfg.gas("rm_claim", paid_share)
        na.earnings += (keep(maxp) + cfg.rm_claim_surcharge) * paid_share
        ca.earnings += price - maxp
        return
    if c.strategy in ("withholder", "escaper", "tight_withholder"):
        if c.strategy == "escaper" and not p.receipt_withdraw_delay:
            na.gas += cfg.gas("failed_tx")  # the deposit left before the claim window opened
            ca.earnings += price
        elif p.receipt_proof_claim:  # after the deadline, inside the claim window
            claimed()
        else:  # only a receipt pays: the answer is free
            ca.earnings += price
        return
    na.earnings += keep(price)  # the receipt, settled in a batch
    na.gas += cfg.gas("rm_settle")
    if c.strategy == "griefer":  # demands the order it got (and signed a receipt for)
        ca.gas += cfg.gas("rm_demand")
        na.gas += cfg.gas("rm_settle_one") - cfg.gas("rm_settle")  # settles this receipt at once
        if p.receipt_resolve_checks_paid:  # the order is paid: the bond goes to the node
            na.gas += cfg.gas("rm_resolve_paid")
            na.earnings += cfg.rm_demand_bond
            ca.slashes += cfg.rm_demand_bond
        else:  # a resolve that ignores the payment slashes the node that delivered
            ca.gas += cfg.gas("rm_resolve_slash")
            ca.earnings += share
            na.slashes += cfg.rm_slash


def _poisson_round(x: float, rng: random.Random) -> int:
    """Integer with mean ``x`` (floor plus a Bernoulli remainder): demand without rounding bias."""
    base = math.floor(x)
    return base + (1 if rng.random() < x - base else 0)


def _job_choice(
    strategy: str, fhe: bool, det: bool, cfg: SimConfig, rng: random.Random
) -> tuple[bool, float]:
    """(cheats on this job, compute it spends). The FHE cheater knows which circuits are
    deterministic (the model kind is public) and cheats only where re-execution cannot catch it."""
    if strategy == "fhe_garbage" and fhe:
        return True, 0.0
    if strategy == "fhe_cheater" and fhe and not det and rng.random() < cfg.cheat_fraction:
        return True, cfg.cheap_cost
    if strategy == "zk_swapper" and not fhe and rng.random() < cfg.cheat_fraction:
        return True, cfg.cheap_cost
    return False, cfg.compute_cost


def _count(kind: str, strategies: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in strategies:
        out[f"{kind}:{s}"] = out.get(f"{kind}:{s}", 0) + 1
    return out


def _groups(
    nodes: list[Node],
    validators: list[Validator],
    clients: list[Client],
    rnodes: list[Client],
    rclients: list[Client],
) -> dict[str, tuple[list[Account], float, str]]:
    """label → (accounts, divisor, unit): nodes per node, validators per 1000 VEIL staked."""
    out: dict[str, tuple[list[Account], float, str]] = {}
    for s in NODE_STRATEGIES:
        g = [nd.acct for nd in nodes if nd.strategy == s]
        if g:
            out[f"node:{s}"] = (g, float(len(g)), "VEIL per node")
    for s in VALIDATOR_STRATEGIES:
        vg = [v for v in validators if v.strategy == s]
        if vg:
            k = sum(v.stake for v in vg) / VEIL / 1000
            out[f"validator:{s}"] = ([v.acct for v in vg], k, "VEIL per 1000 VEIL staked")
    for s in CLIENT_STRATEGIES:
        cg = [c.acct for c in clients if c.strategy == s]
        if cg:
            out[f"client:{s}"] = (cg, float(len(cg)), "VEIL per client")
    for kind, actors, known in (
        ("receipt_node", rnodes, RECEIPT_NODE_STRATEGIES),
        ("receipt_client", rclients, RECEIPT_CLIENT_STRATEGIES),
    ):
        for s in known:
            ag = [a.acct for a in actors if a.strategy == s]
            if ag:
                unit = "VEIL per node" if kind == "receipt_node" else "VEIL per client"
                out[f"{kind}:{s}"] = (ag, float(len(ag)), unit)
    return out


def _record(
    history: dict[str, list[float]],
    nodes: list[Node],
    validators: list[Validator],
    clients: list[Client],
    rnodes: list[Client],
    rclients: list[Client],
) -> None:
    for label, (accts, div, _) in _groups(nodes, validators, clients, rnodes, rclients).items():
        history.setdefault(label, []).append(sum(a.profit for a in accts) / div)


def _rows(
    nodes: list[Node],
    validators: list[Validator],
    clients: list[Client],
    rnodes: list[Client],
    rclients: list[Client],
) -> list[Row]:
    raw: dict[str, tuple[str, int, float, float, float, float, float]] = {}
    for label, (accts, div, unit) in _groups(nodes, validators, clients, rnodes, rclients).items():
        raw[label] = (
            unit,
            len(accts),
            sum(a.earnings for a in accts) / div,
            sum(a.compute for a in accts) / div,
            sum(a.slashes for a in accts) / div,
            sum(a.gas for a in accts) / div,
            sum(a.profit for a in accts) / div,
        )
    rows = []
    for label, (unit, count, e, c, s, g, prof) in raw.items():
        ref = raw.get(label.split(":")[0] + ":honest")
        hp = ref[6] if ref else 0.0
        pct = 100.0 * prof / hp if hp > 0 else float("nan")
        rows.append(Row(label, unit, count, e, c, s, g, prof, prof - hp, pct))
    return rows


def plot(result: SimResult, path: str) -> str:
    """Profit per strategy, one panel per kind of actor, honest in green (small PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [
        k
        for k in ("node", "validator", "client", "receipt_node", "receipt_client")
        if any(r.strategy.startswith(k + ":") for r in result.rows())
    ]
    cols = min(3, len(kinds))
    nrows = math.ceil(len(kinds) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.0 * nrows + 0.4), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[len(kinds) :]:
        ax.set_visible(False)
    for ax, kind in zip(flat, kinds, strict=False):
        rows = [r for r in result.rows() if r.strategy.startswith(kind + ":")]
        labels = [r.strategy.split(":")[1] for r in rows]
        vals = [r.profit for r in rows]
        colors = [
            "tab:green" if lb == "honest" else ("tab:red" if v < 0 else "tab:orange")
            for lb, v in zip(labels, vals, strict=True)
        ]
        ax.barh(labels, vals, color=colors)
        ax.axvline(0, color="grey", lw=0.6)
        ax.invert_yaxis()
        if kind in ("node", "receipt_node"):  # slashes make node losses span orders of magnitude
            ax.set_xscale("symlog", linthresh=1000)
        ax.set_title(f"{kind}s: profit ({rows[0].unit})", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(
        f"profit after {result.config.epochs} epochs, seed {result.config.seed} "
        f"(green honest, orange below honest, red negative)",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def small_config(epochs: int = 3, seed: int = 0) -> SimConfig:
    """A subnet small enough to settle on the real contracts in under a minute."""
    return SimConfig(
        epochs=epochs,
        seed=seed,
        nodes={
            "honest": 6,
            "fhe_garbage": 1,
            "fhe_cheater": 1,
            "zk_swapper": 1,
            "lazy": 1,
            "sybil_node": 2,
        },
        validators={
            "honest": 3,
            "copier": 1,
            "random_weights": 1,
            "colluding": 1,
            "sybil_validator": 1,
        },
        griefer_stake_share=0.0,
    )


def today(cfg: SimConfig | None = None) -> SimConfig:
    """``cfg`` (default: the defaults) with every fix of issue #12 off and the deploy values from
    before the tuning, kept as :meth:`SuiteParams.dev` (slash 50 VEIL, node stake 100 VEIL, no fee)."""
    old = SuiteParams.dev()
    return replace(
        cfg or SimConfig(),
        protocol=Protocol.today(),
        slash=old.slash_amount / ONE_VEIL,
        node_min_stake=old.min_stake / ONE_VEIL,
        fee_bps=old.fee_bps,
    )
