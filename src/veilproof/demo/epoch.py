"""One incentive epoch on a live local network, for ``veilproof demo`` and the tests.

``run_epoch`` deploys Rewards + FheQuorum if the deployment has none, registers 2–3 validators, has
each audit every active node with paid jobs that look like user traffic, then commit → reveal →
finalize on the contract's clock (moved forward on the dev chain), and returns who earned what,
beside the Python mirror's prediction (``veilproof.incentives.yuma.epoch_step``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.suite import Suite
from veilproof.errors import InputError
from veilproof.incentives.deploy import IncentiveParams, deploy_incentives
from veilproof.incentives.yuma import MAX_NODES, YumaParams, epoch_step
from veilproof.validator.audits import ClientFactory, ModelAudit, default_client_factory
from veilproof.validator.disclosure import DisclosureBox
from veilproof.validator.references import ReferenceBook
from veilproof.validator.scoring import NodeStats
from veilproof.validator.service import EpochAudit, Validator, ValidatorConfig

if TYPE_CHECKING:
    from rich.table import Table

    from veilproof.demo.network import LocalNetwork

Progress = Callable[[str], None]


@dataclass
class NodeRow:
    name: str
    address: str
    index: int
    active: bool
    weights: dict[str, int]  # validator name → uint16 weight it revealed
    audits: int  # audit jobs sent to it this epoch (all validators)
    correct: int
    answered: int
    consensus: float  # consensus weight share (0..1)
    emission: int  # wei of VEIL credited in Rewards.pending

    @property
    def emission_veil(self) -> float:
        return self.emission / ONE_VEIL


@dataclass
class ValidatorRow:
    name: str
    address: str
    stake: int
    weights: list[int]
    bond: int
    emission: int
    audit_s: float

    @property
    def emission_veil(self) -> float:
        return self.emission / ONE_VEIL


@dataclass
class EpochReport:
    epoch: int
    nodes: list[NodeRow]
    validators: list[ValidatorRow]
    owner_emission: int
    mirror_agrees: bool
    seconds: dict[str, float] = field(default_factory=dict)
    gas: dict[str, int] = field(default_factory=dict)
    reexecutions: list[dict[str, Any]] = field(default_factory=list)

    def node(self, name_or_address: str) -> NodeRow:
        for n in self.nodes:
            if name_or_address in (n.name, n.address):
                return n
        raise KeyError(name_or_address)

    def tables(self) -> list[Table]:
        """rich Tables: per-node and per-validator emissions (the demo prints these)."""
        from rich.table import Table

        vnames = [v.name for v in self.validators]
        t = Table(title=f"epoch {self.epoch}: audits, weights and node emissions (VEIL)")
        for c in ("node", "active", "audits ok", *vnames, "consensus", "emission"):
            t.add_column(c, justify="left" if c == "node" else "right")
        for n in self.nodes:
            t.add_row(
                n.name, "yes" if n.active else "no", f"{n.correct}/{n.audits}",
                *(str(n.weights.get(v, 0)) for v in vnames), f"{n.consensus:.1%}", f"{n.emission_veil:.2f}",
            )  # fmt: skip
        v = Table(
            title="validator emissions (VEIL)",
            caption=f"subnet/model owner: {self.owner_emission / ONE_VEIL:.2f}",
        )
        for c in ("validator", "stake", "bond", "emission", "audit s"):
            v.add_column(c, justify="left" if c == "validator" else "right")
        for r in self.validators:
            v.add_row(
                r.name,
                f"{r.stake / ONE_VEIL:g}",
                f"{r.bond / 1e18:.3f}",
                f"{r.emission_veil:.2f}",
                f"{r.audit_s:.1f}",
            )
        return [t, v]


def _clock(v: Validator) -> tuple[int, int, int]:
    return v.rewards.clock()


def _travel_to(v: Validator, t: int) -> None:
    """Land the chain clock exactly on ``t`` so calls and the next transactions see at least ``t``."""
    v.net.advance_to(t)


def run_epoch(
    lnet_or_suite: LocalNetwork | Suite,
    validators: int | Sequence[LocalAccount] = 3,
    *,
    audits: Sequence[ModelAudit],
    owner: LocalAccount | None = None,
    workdir: Path | None = None,
    node_names: Mapping[str, str] | None = None,
    config: ValidatorConfig | None = None,
    incentive_params: IncentiveParams | None = None,
    disclosures: DisclosureBox | None = None,
    client_factory: ClientFactory = default_client_factory,
    seed: int = 0,
    progress: Progress | None = None,
) -> EpochReport:
    """Audit, commit, reveal and finalize one epoch on a dev chain (its clock is moved forward).

    ``validators``: how many to create (funded by ``owner`` minting; needs bootstrap minting) or
    existing funded accounts. ``audits``: what to audit per model (inputs; ``private=True`` for
    FHE). With a :class:`LocalNetwork`, owner, workdir and node names come from it.
    """
    say = progress or (lambda _m: None)
    t_start = time.perf_counter()
    if isinstance(lnet_or_suite, Suite):
        suite, lnet = lnet_or_suite, None
    else:
        lnet = lnet_or_suite
        suite = lnet.suite
        owner = owner or lnet.owner
        workdir = workdir or lnet.root / "validators"
        names: dict[str, str] = {n.account.address: n.name for n in lnet.nodes}
        node_names = {**names, **(node_names or {})}
    if owner is None or workdir is None:
        raise InputError("owner/workdir", "given when passing a Suite instead of a LocalNetwork")
    if not audits:
        raise InputError("audits", "at least one ModelAudit")
    net = suite.net
    node_names = dict(node_names or {})
    cfg = config or ValidatorConfig()
    seconds: dict[str, float] = {}

    # 1. incentives --------------------------------------------------------------------------------
    t = time.perf_counter()
    if "rewards" not in suite.deployment.extra:
        deploy_incentives(net, owner, suite.deployment, incentive_params)
        if lnet is not None:
            suite.deployment.save(lnet.deployment_file)
        say("deployed Rewards + FheQuorum")
    if isinstance(validators, int):
        if not 1 <= validators <= 16:
            raise InputError("validators", "1..16", validators)
        accts = net.new_accounts(validators)
        for acct in accts:
            # stake + a budget for audit jobs (each audit pays one model price)
            suite.token.mint(acct.address, cfg.stake + 100 * ONE_VEIL, sender=owner)
    else:
        accts = list(validators)
    sources = [n.endpoint for n in suite.nodes.list_nodes() if n.endpoint]
    refs = ReferenceBook(Path(workdir) / "references", sources)
    rng = random.Random(seed)
    vals = [
        Validator(
            suite, a, Path(workdir) / f"validator-{i + 1}", audits, config=cfg, references=refs,
            disclosures=disclosures, client_factory=client_factory, rng=random.Random(rng.random()),
            name=f"validator-{i + 1}",
        )
        for i, a in enumerate(accts)
    ]  # fmt: skip
    for v in vals:
        v.ensure_registered()
    seconds["setup"] = time.perf_counter() - t

    try:
        # 2. audits (validators in parallel; each audits its nodes cfg.workers at a time) ------------
        t = time.perf_counter()
        say(f"{len(vals)} validators audit every active node with paid jobs")
        with ThreadPoolExecutor(max_workers=len(vals)) as ex:
            results: list[EpochAudit] = list(ex.map(lambda v: v.audit_epoch(), vals))
        seconds["audits"] = time.perf_counter() - t

        # 3. commit → reveal → finalize on the contract's clock ------------------------------------
        t = time.perf_counter()
        genesis, length, commit_period = _clock(vals[0])
        e = (net.now() - genesis) // length + 1
        _travel_to(vals[0], genesis + e * length)
        assert vals[0].current_epoch() == e and vals[0].in_commit_window()
        stakes: dict[str, int] = {}
        for v, r in zip(vals, results, strict=True):
            v.commit(r.weights)
            stakes[v.account.address] = v.rewards.read_validator(v.account.address).stake
        say(f"epoch {e}: {len(vals)} commitments")
        _travel_to(vals[0], genesis + e * length + commit_period)
        for v in vals:
            v.reveal(e)
        say(f"epoch {e}: weights revealed")
        _travel_to(vals[0], genesis + (e + 1) * length)
        rewards = vals[0].rewards
        addrs = suite.nodes.subnet()[:MAX_NODES]
        eligible = [suite.nodes.is_active(a) for a in addrs]
        bonds_before: dict[str, int] = {
            v.account.address: rewards.read_validator(v.account.address).bond for v in vals
        }
        current = {a: rewards.read_validator(a).bonded for a in stakes}
        mirror = epoch_step(
            [v.account.address for v in vals],
            {v.account.address: r.weights for v, r in zip(vals, results, strict=True)},
            stakes, eligible, bonds_before, _yuma_params(vals[0]), current_stake=current,
        )  # fmt: skip
        rcpt = rewards.finalize_epoch(sender=vals[0].account)
        seconds["commit_reveal_finalize"] = time.perf_counter() - t
    finally:
        for v in vals:
            v.close()

    fin = rewards.finalized_epoch(rcpt)
    node_em = {ne.node: (ne.amount, ne.consensus) for ne in fin.nodes}
    val_em = {ve.validator: ve.amount for ve in fin.validators}
    rows = []
    for j, a in enumerate(addrs):
        per_v: list[NodeStats] = [r.stats[j] for r in results if j in r.stats]
        rows.append(
            NodeRow(
                name=node_names.get(a, a[:10]), address=a, index=j, active=eligible[j],
                weights={v.name: r.weights[j] if j < len(r.weights) else 0 for v, r in zip(vals, results, strict=True)},
                audits=sum(s.attempted for s in per_v), correct=sum(sum(x.correct for x in s.records) for s in per_v),
                answered=sum(s.answered for s in per_v), consensus=mirror.consensus[j] / 1e18,
                emission=node_em.get(a, (0, 0))[0],
            )
        )  # fmt: skip
    vrows = [
        ValidatorRow(
            v.name, v.account.address, stakes[v.account.address], r.weights,
            rewards.read_validator(v.account.address).bond, val_em.get(v.account.address, 0), r.seconds,
        )
        for v, r in zip(vals, results, strict=True)
    ]  # fmt: skip
    agrees = [r.emission for r in rows] == mirror.node_emission and {
        k: x for k, x in val_em.items() if x
    } == {k: x for k, x in mirror.validator_emission.items() if x}
    seconds["total"] = time.perf_counter() - t_start
    reex = [
        {"validator": v.name, "job_id": x.job_id, "node": x.node, "match": x.match, "attested": x.attested, "note": x.note}
        for v, r in zip(vals, results, strict=True)
        for x in r.reexecutions
    ]  # fmt: skip
    return EpochReport(
        epoch=e, nodes=rows, validators=vrows, owner_emission=fin.owner_total, mirror_agrees=agrees,
        seconds=seconds, gas={"finalize_epoch": rcpt.gas_used}, reexecutions=reex,
    )  # fmt: skip


def _yuma_params(v: Validator) -> YumaParams:
    p = v.rewards.params()
    return YumaParams(
        emission=p.emission_per_epoch, kappa_bps=p.kappa_bps, alpha_bps=p.alpha_bps, node_bps=p.node_bps,
        validator_bps=p.validator_bps, miss_penalty_bps=p.miss_penalty_bps,
    )  # fmt: skip
