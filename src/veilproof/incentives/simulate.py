"""Economic simulation of a subnet: do cheats earn less than honest work?

Runs many epochs of a market with nodes and validators following fixed strategies, settles each
epoch with the exact Python mirror of ``Rewards.vy`` (:func:`veilproof.incentives.yuma.epoch_step`),
and tallies cumulative earnings: job fees minus compute cost minus slashes plus emissions (nodes);
emissions plus challenger rewards minus audit cost (validators, per 1000 VEIL of stake).

Node strategies
  honest       serves every job with the committed model.
  substitution runs a cheaper model on a fraction of all jobs: on ZK jobs no valid proof exists, so
               the client is refunded and the node slashed; on FHE jobs only an audit or
               re-execution catches it.
  lazy         returns garbage on every job (costs nothing).
  fhe_cheater  cheats only on a fraction of FHE jobs, where it cannot be seen without an audit.
  idle         serves nothing; exists to receive weight from colluding validators (their earnings
               are booked to the colluders).
Validator strategies
  honest       scores nodes from its own availability/latency probes and the public record of
               caught cheats (audits, re-executions), pays for audit queries, earns challenger shares.
  colluding    like honest, but gives its partner (idle) nodes the maximum weight.
  copier       skips auditing; commits the previous epoch's public consensus (commit–reveal binds
               the validator and epoch into the hash, so it cannot copy this epoch's weights).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from veilproof.incentives.yuma import SCALE, EpochResult, YumaParams, epoch_step, to_uint16_weights

VEIL = 10**18
NODE_STRATEGIES = ("honest", "substitution", "lazy", "fhe_cheater")
VALIDATOR_STRATEGIES = ("honest", "colluding", "copier")


@dataclass
class SimConfig:
    epochs: int = 200
    seed: int = 0
    nodes: dict[str, int] = field(
        default_factory=lambda: {"honest": 20, "substitution": 5, "lazy": 5, "fhe_cheater": 5, "idle": 4}
    )
    validators: dict[str, int] = field(default_factory=lambda: {"honest": 10, "colluding": 3, "copier": 3})
    colluding_stake_share: float = 0.2  # of total validator stake (below kappa, as a cartel would be)
    emission: float = 2_000.0  # VEIL per epoch
    price: float = 10.0  # VEIL per job
    royalty: float = 0.15  # model owner's share of the price
    compute_cost: float = 4.0  # honest cost of one job
    cheap_cost: float = 1.0  # cost of a substituted / cheated job
    slash: float = 50.0  # per caught cheat or failed ZK job
    challenger_share: float = 0.5
    jobs_per_epoch: int = 20  # user jobs per node at full availability
    fhe_share: float = 0.5
    cheat_fraction: float = 0.3  # substitution and fhe_cheater
    reexec_rate: float = 0.05  # user FHE jobs re-executed from disclosed ciphertexts
    audits_per_validator: int = 4  # audit queries per honest/colluding validator per epoch
    audit_cost: float = 2.0  # validator's cost per audit (compute to encrypt/decrypt/re-execute)
    outage_prob: float = 0.2  # per node per epoch
    probe_noise: float = 0.05
    kappa_bps: int = 5_000
    alpha_bps: int = 1_000


@dataclass
class Node:
    idx: int
    strategy: str
    latency: float
    earned: float = 0.0
    detect_ema: float = 0.0


@dataclass
class Validator:
    vid: str
    strategy: str
    stake: int  # wei
    earned: float = 0.0


@dataclass
class SimResult:
    config: SimConfig
    history: dict[str, list[float]]  # strategy label → cumulative mean earnings per epoch
    units: dict[str, str]
    counts: dict[str, int]
    minted: float = 0.0
    chain_checks: int = 0  # epochs cross-checked on the real contracts

    def final(self) -> dict[str, float]:
        return {k: v[-1] if v else 0.0 for k, v in self.history.items()}

    def rows(self) -> list[tuple[str, str, int, float, float, float]]:
        """(label, unit, count, cumulative, per epoch, % of honest in its group)."""
        f = self.final()
        out = []
        for label in self.history:
            ref = f["node:honest"] if label.startswith("node:") else f["validator:honest"]
            pct = 100.0 * f[label] / ref if ref else float("nan")
            out.append(
                (label, self.units[label], self.counts[label], f[label], f[label] / self.config.epochs, pct)
            )
        return out

    def cheaters_lose(self) -> bool:
        f = self.final()
        return all(
            f[k] < f["node:honest"] for k in f if k.startswith("node:") and k != "node:honest"
        ) and all(
            f[k] < f["validator:honest"] for k in f if k.startswith("validator:") and k != "validator:honest"
        )


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


def population(cfg: SimConfig) -> tuple[random.Random, list[Node], list[Validator]]:
    """Nodes (shuffled, so a node's index hints nothing) and validators with stakes, from ``cfg.seed``.

    Returns the generator too: the simulation continues the same random stream.
    """
    rng = random.Random(cfg.seed)
    nodes: list[Node] = []
    for strategy, count in cfg.nodes.items():
        for _ in range(count):
            nodes.append(Node(len(nodes), strategy, latency=rng.uniform(0.8, 1.0)))
    rng.shuffle(nodes)
    for j, nd in enumerate(nodes):
        nd.idx = j
    validators: list[Validator] = []
    n_coll = cfg.validators.get("colluding", 0)
    n_other = sum(c for s, c in cfg.validators.items() if s != "colluding")
    raw_stakes = [rng.uniform(2_000, 6_000) for _ in range(n_other)]
    coll_total = sum(raw_stakes) * cfg.colluding_stake_share / max(1e-9, 1 - cfg.colluding_stake_share)
    k = 0
    for strategy, count in cfg.validators.items():
        for _ in range(count):
            if strategy == "colluding":
                stake = coll_total / n_coll
            else:
                stake = raw_stakes[k]
                k += 1
            validators.append(Validator(f"v{len(validators)}", strategy, int(stake * VEIL)))
    return rng, nodes, validators


def run(cfg: SimConfig, settler: EpochSettler | None = None) -> SimResult:
    """Simulate ``cfg.epochs`` epochs; ``settler`` replaces the mirror (e.g. the real contracts)."""
    params = YumaParams(
        emission=int(cfg.emission * VEIL),
        kappa_bps=cfg.kappa_bps,
        alpha_bps=cfg.alpha_bps,
        miss_penalty_bps=100,
    )
    settle = settler or _mirror_settler(params)
    rng, nodes, validators = population(cfg)
    n = len(nodes)
    auditors = [v for v in validators if v.strategy in ("honest", "colluding")]
    partners = {nd.idx for nd in nodes if nd.strategy == "idle"}
    bonds: dict[str, int] = {}
    last_consensus: list[int] = [0] * n
    history: dict[str, list[float]] = {}
    minted = 0
    fee = cfg.price * (1 - cfg.royalty)
    eligible = [True] * n

    for epoch in range(cfg.epochs):
        avail = [1.0 if rng.random() >= cfg.outage_prob else rng.uniform(0.1, 0.6) for _ in range(n)]
        caught = [0] * n
        # --- user jobs
        for nd in nodes:
            if nd.strategy == "idle":
                avail[nd.idx] = 0.0
                continue
            jobs = round(cfg.jobs_per_epoch * avail[nd.idx])
            for _ in range(jobs):
                fhe = rng.random() < cfg.fhe_share
                cheats = _cheats(nd.strategy, fhe, cfg, rng)
                if not cheats:
                    nd.earned += fee - cfg.compute_cost
                    continue
                nd.earned -= 0.0 if nd.strategy == "lazy" else cfg.cheap_cost
                if not fhe or rng.random() < cfg.reexec_rate:
                    nd.earned -= (
                        cfg.slash
                    )  # no valid proof (ZK) or re-execution mismatch (FHE): refund + slash
                    caught[nd.idx] += 1
                else:
                    nd.earned += fee
        # --- audits (FHE queries with known answers, indistinguishable from users)
        workers = [nd for nd in nodes if nd.strategy != "idle" and avail[nd.idx] > 0]
        for v in auditors:
            v.earned -= cfg.audits_per_validator * cfg.audit_cost
            for nd in rng.sample(workers, min(cfg.audits_per_validator, len(workers))):
                if _cheats(nd.strategy, True, cfg, rng):
                    nd.earned -= cfg.slash + (0.0 if nd.strategy == "lazy" else cfg.cheap_cost)
                    v.earned += cfg.slash * cfg.challenger_share
                    caught[nd.idx] += 1
                else:
                    nd.earned += fee - cfg.compute_cost
        for nd in nodes:
            nd.detect_ema = 0.7 * nd.detect_ema + 0.3 * caught[nd.idx]
        # --- weights
        weights: dict[str, list[int]] = {}
        for v in validators:
            if v.strategy == "copier":
                row = to_uint16_weights([c / SCALE for c in last_consensus])
                if not any(row):
                    row = [1] * n  # first epoch: nothing to copy yet
            else:
                scores = [
                    max(0.0, avail[j] + rng.gauss(0, cfg.probe_noise))
                    * nodes[j].latency
                    * rng.uniform(0.95, 1.05)
                    / (1.0 + 10.0 * nodes[j].detect_ema)
                    for j in range(n)
                ]
                if v.strategy == "colluding":
                    top = max(scores) if scores else 1.0
                    for j in partners:
                        scores[j] = top
                row = to_uint16_weights(scores)
            weights[v.vid] = row
        stakes = {v.vid: v.stake for v in validators}
        res = settle(epoch, [v.vid for v in validators], weights, stakes, eligible, bonds)
        bonds.update(res.bonds)
        last_consensus = res.consensus
        minted += res.minted
        for j, amt in enumerate(res.node_emission):
            nodes[j].earned += amt / VEIL
        coll_stake = sum(v.stake for v in validators if v.strategy == "colluding")
        partner_income = sum(res.node_emission[j] for j in partners) / VEIL
        for v in validators:
            v.earned += res.validator_emission.get(v.vid, 0) / VEIL
            if v.strategy == "colluding" and coll_stake:
                v.earned += partner_income * v.stake / coll_stake  # they own the idle nodes
        _record(history, nodes, validators)

    units = {}
    counts = {}
    for label in history:
        kind, strategy = label.split(":")
        units[label] = "VEIL per node" if kind == "node" else "VEIL per 1000 VEIL staked"
        counts[label] = (
            sum(1 for nd in nodes if nd.strategy == strategy)
            if kind == "node"
            else sum(1 for v in validators if v.strategy == strategy)
        )
    return SimResult(cfg, history, units, counts, minted=minted / VEIL)


def _cheats(strategy: str, fhe: bool, cfg: SimConfig, rng: random.Random) -> bool:
    if strategy == "lazy":
        return True
    if strategy == "substitution":
        return rng.random() < cfg.cheat_fraction
    if strategy == "fhe_cheater":
        return fhe and rng.random() < cfg.cheat_fraction
    return False


def _record(history: dict[str, list[float]], nodes: list[Node], validators: list[Validator]) -> None:
    for s in NODE_STRATEGIES:
        group = [nd.earned for nd in nodes if nd.strategy == s]
        if group:
            history.setdefault(f"node:{s}", []).append(sum(group) / len(group))
    for s in VALIDATOR_STRATEGIES:
        vgroup = [v for v in validators if v.strategy == s]
        if vgroup:
            per_k = sum(v.earned for v in vgroup) / (sum(v.stake for v in vgroup) / VEIL / 1000)
            history.setdefault(f"validator:{s}", []).append(per_k)


def plot(result: SimResult, path: str) -> str:
    """Cumulative earnings per strategy, nodes and validators side by side (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, kind in zip(axes, ("node", "validator"), strict=True):
        for label, series in result.history.items():
            if label.startswith(kind + ":"):
                ax.plot(range(1, len(series) + 1), series, label=label.split(":")[1])
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel("epoch")
        ax.set_ylabel(result.units[f"{kind}:honest"])
        ax.set_title(f"cumulative earnings: {kind}s")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def small_config(epochs: int = 3, seed: int = 0) -> SimConfig:
    """A subnet small enough to settle on the real contracts in under a minute."""
    return SimConfig(
        epochs=epochs,
        seed=seed,
        nodes={"honest": 6, "substitution": 2, "lazy": 2, "fhe_cheater": 2, "idle": 2},
        validators={"honest": 4, "colluding": 1, "copier": 1},
    )
