"""Pure-Python mirror of ``Rewards.vy``'s epoch finalisation, bit for bit.

Why a mirror: the economic simulation runs thousands of epochs, which on an EVM would take hours;
and a validator wants to predict what it will earn before it reveals. Every step below uses the
same integer operations, in the same order of floor divisions, as the contract, so the two agree
exactly (``tests/incentives/test_consensus.py`` checks this on random matrices). Change both
together or neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MAX_VALIDATORS = 16
MAX_NODES = 64
SCALE = 10**18
BPS = 10_000
MAX_WEIGHT = 65_535  # weights are uint16 on chain


@dataclass(frozen=True)
class YumaParams:
    """The contract's tunable parameters (defaults equal the contract's)."""

    emission: int = 100 * 10**18
    kappa_bps: int = 5_000
    alpha_bps: int = 1_000
    node_bps: int = 4_100
    validator_bps: int = 4_100
    miss_penalty_bps: int = 100


@dataclass
class EpochResult:
    """What finalising one epoch credits and changes."""

    consensus: list[int]  # per node, in SCALE units
    node_emission: list[int]  # per node index
    validator_emission: dict[str, int]  # per revealed validator
    owner_emission: int
    bonds: dict[str, int]  # new bond of every validator touched this epoch (revealed: EMA; missed: 0)
    penalties: dict[str, int] = field(default_factory=dict)  # stake taken from non-revealers

    @property
    def minted(self) -> int:
        return sum(self.node_emission) + sum(self.validator_emission.values()) + self.owner_emission


def normalize_row(raw: Sequence[int], eligible: Sequence[bool]) -> list[int]:
    """Row of uint16 weights → fixed-point shares of SCALE over eligible nodes (floor), like the contract."""
    n = len(eligible)
    raw = [int(raw[j]) if j < len(raw) else 0 for j in range(n)]
    s = sum(raw[j] for j in range(n) if eligible[j])
    return [raw[j] * SCALE // s if eligible[j] and s > 0 else 0 for j in range(n)]


def consensus_weights(W: Sequence[Sequence[int]], stakes: Sequence[int], kappa_bps: int) -> list[int]:
    """For each node, the largest weight that validators holding ≥ kappa of the stake give it or more."""
    total = sum(stakes)
    n = len(W[0]) if W else 0
    out = []
    for j in range(n):
        best = 0
        for i in range(len(W)):
            w = W[i][j]
            if w <= best:
                continue
            support = sum(stakes[k] for k in range(len(W)) if W[k][j] >= w)
            if support * BPS >= kappa_bps * total:
                best = w
        out.append(best)
    return out


def epoch_step(
    committed: Sequence[str],
    revealed: Mapping[str, Sequence[int]],
    stakes: Mapping[str, int],
    eligible: Sequence[bool],
    bonds: Mapping[str, int],
    params: YumaParams = YumaParams(),
    current_stake: Mapping[str, int] | None = None,
) -> EpochResult:
    """Finalise one epoch exactly as ``Rewards._finalize`` does.

    ``committed`` is the commit order (the contract's ``_committers``), ``revealed`` maps each
    revealing validator to its raw uint16 weights, ``stakes`` is the stake snapshot taken at commit,
    ``eligible[j]`` whether node j is active at finalisation (its length is the node count, ≤ 64),
    ``bonds`` the bonds before the epoch. ``current_stake`` (stake+unbonding now, defaults to the
    snapshot) caps a missed-reveal penalty.
    """
    n = min(len(eligible), MAX_NODES)
    eligible = list(eligible)[:n]
    current_stake = current_stake if current_stake is not None else stakes
    vals: list[str] = []
    W: list[list[int]] = []
    st: list[int] = []
    penalties: dict[str, int] = {}
    new_bonds: dict[str, int] = {}
    for v in committed:
        if v not in revealed:
            penalties[v] = min(stakes[v] * params.miss_penalty_bps // BPS, current_stake.get(v, 0))
            new_bonds[v] = 0
            continue
        vals.append(v)
        st.append(stakes[v])
        W.append(normalize_row(revealed[v], eligible))
    cons = consensus_weights(W, st, params.kappa_bps) if W else [0] * n
    rank = [sum(st[i] * min(W[i][j], cons[j]) for i in range(len(W))) for j in range(n)]
    rank_total = sum(rank)

    node_pool = params.emission * params.node_bps // BPS
    val_pool = params.emission * params.validator_bps // BPS
    node_em = [0] * n
    val_em: dict[str, int] = {}
    owner = 0
    if rank_total > 0:
        node_em = [node_pool * rank[j] // rank_total for j in range(n)]
        owner = params.emission - node_pool - val_pool
        incentive = [rank[j] * SCALE // rank_total for j in range(n)]
        agree = []
        for i in range(len(W)):
            a = sum(min(W[i][j], cons[j]) * incentive[j] // SCALE for j in range(n))
            agree.append(st[i] * a)
        agree_total = sum(agree)
        b_list = []
        for i, v in enumerate(vals):
            delta = agree[i] * SCALE // agree_total if agree_total > 0 else 0
            b = (params.alpha_bps * delta + (BPS - params.alpha_bps) * bonds.get(v, 0)) // BPS
            new_bonds[v] = b
            b_list.append(b)
        bond_total = sum(b_list)
        if bond_total > 0:
            val_em = {v: val_pool * b_list[i] // bond_total for i, v in enumerate(vals)}
    return EpochResult(
        consensus=cons,
        node_emission=node_em,
        validator_emission=val_em,
        owner_emission=owner,
        bonds=new_bonds,
        penalties=penalties,
    )


def commit_hash(validator: str, epoch: int, weights: Sequence[int], salt: bytes) -> bytes:
    """The commitment ``Rewards.reveal_weights`` checks: keccak256(abi_encode(validator, epoch, weights, salt))."""
    from eth_abi import encode
    from eth_utils import keccak, to_checksum_address

    return keccak(
        encode(
            ["address", "uint256", "uint16[]", "bytes32"],
            [to_checksum_address(validator), epoch, list(weights), salt],
        )
    )


def to_uint16_weights(scores: Sequence[float]) -> list[int]:
    """Scale non-negative scores to uint16 weights with the largest at 65535 (how validators submit)."""
    top = max(scores) if scores else 0.0
    if top <= 0:
        return [0] * len(scores)
    return [max(0, min(MAX_WEIGHT, round(MAX_WEIGHT * s / top))) for s in scores]
