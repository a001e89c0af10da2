"""A validator: stake in Rewards, audit every active node each epoch, commit then reveal weights.

One class serves both uses: ``veilproof validator start`` calls :meth:`Validator.run` (a loop that
reacts to the contract's clock), and :func:`veilproof.demo.epoch.run_epoch` drives the same
methods step by step, moving a dev chain's clock between windows.

Commit–reveal: the salt of each commitment is written to ``<workdir>/commits/<epoch>.json`` *before*
the commit is sent, so a validator restarted inside the epoch still reveals (a missed reveal costs
the bond and 1% of stake).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.rewards import Rewards
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError, ContractReverted
from veilproof.incentives.yuma import MAX_NODES, commit_hash
from veilproof.validator.audits import Auditor, ClientFactory, ModelAudit, default_client_factory
from veilproof.validator.disclosure import DisclosureBox, Reexecution, Reexecutor
from veilproof.validator.references import ReferenceBook
from veilproof.validator.scoring import NodeStats, ScoringPolicy, WeightedPolicy

log = logging.getLogger("veilproof.validator")


@dataclass
class ValidatorConfig:
    """How much a validator audits and how it scores."""

    stake: int = 1_000 * ONE_VEIL
    audits_per_model: int = 1  # audit jobs per (node, model) per epoch
    reexec_rate: float = 1.0  # share of disclosed FHE jobs re-executed
    # stop trusting own re-executions after this many refuted attestations (and half of all made)
    max_refuted: int = 3
    policy: ScoringPolicy = field(default_factory=WeightedPolicy)
    workers: int = 2  # nodes audited in parallel (each audit waits on a remote node)


@dataclass
class EpochAudit:
    """What one validator measured in one epoch, and the row it derived."""

    stats: dict[int, NodeStats]
    weights: list[int]
    reexecutions: list[Reexecution]
    seconds: float


class Validator:
    def __init__(
        self,
        suite: Suite,
        account: LocalAccount,
        workdir: Path,
        audits: Sequence[ModelAudit],
        *,
        config: ValidatorConfig | None = None,
        references: ReferenceBook | None = None,
        disclosures: DisclosureBox | None = None,
        client_factory: ClientFactory = default_client_factory,
        rng: random.Random | None = None,
        name: str = "",
    ) -> None:
        extra = suite.deployment.extra
        if "rewards" not in extra:
            raise ConfigError("no Rewards contract in the deployment: deploy the incentives first")
        self.suite = suite
        self.net = suite.net
        self.account = account
        self.name = name or account.address[:10]
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.audits = list(audits)
        self.config = config or ValidatorConfig()
        self.rewards: Rewards = suite.rewards
        self.quorum: FheQuorum | None = suite.quorum
        self.references = references or ReferenceBook(self.workdir / "references")
        self.references.add_sources([n.endpoint for n in suite.nodes.list_nodes()])
        self.disclosures = disclosures
        self.rng = rng or random.Random()
        self.auditor = Auditor(suite, account, self.workdir, self.references, client_factory)
        self.reexecutor = Reexecutor(
            suite, account, self.quorum, self.references, self.config.reexec_rate, self.rng,
            max_refuted=self.config.max_refuted,
        )  # fmt: skip

    # --- stake ---------------------------------------------------------------------------------
    def ensure_registered(self) -> None:
        """Bond ``config.stake`` in Rewards once (approve + register_validator)."""
        if self.registered:
            return
        amount = self.config.stake
        self.suite.token.approve(self.rewards.address, amount, sender=self.account)
        self.rewards.register_validator(amount, sender=self.account)

    @property
    def registered(self) -> bool:
        return self.account.address in self.rewards.validators()

    # --- audits --------------------------------------------------------------------------------
    def subnet_nodes(self) -> list[tuple[int, str, list[ModelAudit]]]:
        """(subnet index, address, audited models it serves) of every active node in the subnet."""
        nodes = self.suite.nodes
        out = []
        for j, addr in enumerate(nodes.subnet()[:MAX_NODES]):
            if not nodes.is_active(addr):
                continue
            served = [a for a in self.audits if nodes.serves(addr, a.model_id)]
            if served:
                out.append((j, addr, served))
        return out

    def _audit_node(self, index: int, addr: str, served: list[ModelAudit]) -> NodeStats:
        st = NodeStats(addr, index)
        for spec in served:
            if spec.sample < 1.0 and self.rng.random() >= spec.sample:
                continue
            for _ in range(self.config.audits_per_model):
                x = spec.inputs[self.rng.randrange(len(spec.inputs))]
                rec = self.auditor.audit(addr, spec, x)
                log.info(
                    "%s audited %s model %d (%s): %s", self.name, addr[:10], spec.model_id, rec.kind, rec
                )
                st.records.append(rec)
        if not st.records:  # sampled out of every model: still audit one, or the node would score 0
            spec = self.rng.choice(served)
            st.records.append(
                self.auditor.audit(addr, spec, spec.inputs[self.rng.randrange(len(spec.inputs))])
            )
        return st

    def audit_epoch(self) -> EpochAudit:
        """Audit every active node once round; re-execute sampled disclosures; derive the weight row."""
        t0 = time.perf_counter()
        nodes = self.subnet_nodes()
        self.references.add_sources([self.suite.nodes.read_node(a).endpoint for _, a, _ in nodes])
        # Shuffle so no node can learn "the audits always come first to index 0".
        self.rng.shuffle(nodes)
        with ThreadPoolExecutor(max_workers=max(1, self.config.workers)) as ex:
            stats = {
                s.index: s for s in ex.map(lambda n: self._audit_node(*n), nodes)
            }  # fmt: skip
        reexecs: list[Reexecution] = []
        if self.disclosures is not None:
            by_addr = {s.address.lower(): s for s in stats.values()}
            for r, rec in self.reexecutor.check(self.disclosures):
                reexecs.append(r)
                if rec is not None and r.node.lower() in by_addr:
                    by_addr[r.node.lower()].records.append(rec)
        n_nodes = self.suite.nodes.subnet_size()
        row = self.config.policy.weights(stats, n_nodes)
        return EpochAudit(stats, row, reexecs, time.perf_counter() - t0)

    # --- commit / reveal / finalize --------------------------------------------------------------
    def current_epoch(self) -> int:
        return self.rewards.current_epoch()

    def in_commit_window(self) -> bool:
        return self.rewards.in_commit_window()

    def _commit_file(self, epoch: int) -> Path:
        return self.workdir / "commits" / f"{epoch}.json"

    def commit(self, weights: Sequence[int]) -> int:
        """Commit ``weights`` for the running epoch (must be in its commit window)."""
        e = self.current_epoch()
        salt = secrets.token_bytes(32)
        f = self._commit_file(e)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"weights": list(weights), "salt": salt.hex()}))
        h = commit_hash(self.account.address, e, list(weights), salt)
        self.rewards.commit_weights(h, sender=self.account)
        return e

    def committed(self, epoch: int) -> bool:
        return self.rewards.commit_of(epoch, self.account.address) != bytes(32)

    def reveal(self, epoch: int | None = None) -> None:
        """Reveal the opening saved at commit (must be in the same epoch's reveal window)."""
        e = self.current_epoch() if epoch is None else epoch
        saved = json.loads(self._commit_file(e).read_text())
        self.rewards.reveal_weights(saved["weights"], bytes.fromhex(saved["salt"]), sender=self.account)

    def revealed(self, epoch: int) -> bool:
        return self.rewards.revealed(epoch, self.account.address)

    def finalize_ready(self) -> list[int]:
        """Finalise every ended epoch in the queue (anyone may; validators do it so emissions flow)."""
        done: list[int] = []
        while True:
            e = self.rewards.next_epoch_to_finalize()
            if e is None:
                return done
            try:
                self.rewards.finalize_epoch(sender=self.account)
            except ContractReverted:  # "epoch not over" (or someone else was faster)
                return done
            done.append(e)

    def claim(self) -> int:
        """Withdraw pending emissions and this validator's shares of FHE disputes; returns the amount."""
        amount = self.rewards.pending(self.account.address)
        if amount:
            self.rewards.claim(sender=self.account)
        return amount + self.reexecutor.collect_rewards()

    # --- the loop --------------------------------------------------------------------------------
    def tick(self) -> str:
        """One step of the service, driven by the contract's clock; returns what it did."""
        self.finalize_ready()
        # Shares of disputes this validator won (pull-based: collect, then claim). Every tick, not
        # only after attesting here: a share someone else collected for it is claimed too.
        self.reexecutor.collect_rewards()
        e = self.current_epoch()
        if self.in_commit_window():
            if self.committed(e):
                return "waiting for the reveal window"
            audit = self.audit_epoch()
            if not self.in_commit_window() or self.current_epoch() != e:
                return "audits outlasted the commit window; will commit next epoch"
            self.commit(audit.weights)
            return f"committed epoch {e}: {audit.weights}"
        if self.committed(e) and not self.revealed(e):
            self.reveal(e)
            return f"revealed epoch {e}"
        return "waiting for the next epoch"

    def run(
        self,
        stop: threading.Event | None = None,
        interval_s: float = 10.0,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        """Loop :meth:`tick` until ``stop`` is set; errors are logged and retried next tick."""
        stop = stop or threading.Event()
        self.ensure_registered()
        self.reexecutor.recover_attested()  # disputes attested before a restart: still collected
        last = ""
        while not stop.is_set():
            try:
                msg = self.tick()
            except Exception as e:  # a remote node or the chain failing must not end the service
                log.exception("validator tick failed")
                msg = f"error: {e}"
            if msg != last and on_event is not None:
                on_event(msg)
            last = msg
            stop.wait(interval_s)

    def close(self) -> None:
        self.references.close()
