"""Drive a subnet's epochs on the real contracts, and check them against the Python mirror.

Used by the tests, ``bench/consensus.py`` and ``veilproof simulate --on-chain``. It builds a
fresh core suite plus the incentive contracts, registers ``n_nodes`` staked nodes and the given
validators, then runs epochs: commit → (time) → reveal → (time) → finalize.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import ONE_VEIL, Deployment, SuiteParams, deploy_suite
from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.job_market import JobMarket
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.network import Network, Receipt
from veilproof.chain.node_registry import NodeRegistry
from veilproof.chain.rewards import Rewards
from veilproof.chain.token import Token
from veilproof.incentives.deploy import IncentiveParams, deploy_incentives
from veilproof.incentives.simulate import VEIL, SimConfig, SimResult, population, run
from veilproof.incentives.yuma import EpochResult, YumaParams, commit_hash, epoch_step

NODE_STAKE = SuiteParams.dev().min_stake  # the harness deploys SuiteParams.dev() unless told otherwise


@dataclass
class ChainEpoch:
    """One finalised epoch as the chain reported it, with the mirror's prediction."""

    epoch: int
    node_emission: list[int]
    validator_emission: dict[str, int]
    owner_emission: int
    bonds: dict[str, int]
    penalties: dict[str, int]
    gas: dict[str, int]
    mirror: EpochResult

    def agrees(self) -> bool:
        m = self.mirror
        val_chain = {k: v for k, v in self.validator_emission.items() if v}
        val_mirror = {k: v for k, v in m.validator_emission.items() if v}
        return (
            self.node_emission == m.node_emission
            and val_chain == val_mirror
            and self.owner_emission == m.owner_emission
            and all(self.bonds[k] == v for k, v in m.bonds.items())
            and self.penalties == m.penalties
        )


@dataclass
class Subnet:
    """A deployed suite + incentive contracts with named actors."""

    net: Network
    owner: LocalAccount
    deployment: Deployment
    token: Token
    nodes: NodeRegistry
    market: JobMarket
    rewards: Rewards
    quorum: FheQuorum
    node_accts: list[LocalAccount]
    validators: list[LocalAccount]
    params: IncentiveParams
    model_id: int = 0
    gas: dict[str, list[int]] = field(default_factory=dict)

    # --- setup ---------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        net: Network,
        n_nodes: int,
        validator_stakes: Sequence[int],
        params: IncentiveParams | None = None,
        suite_params: SuiteParams | None = None,
    ) -> Subnet:
        p = params or IncentiveParams()
        owner = net.new_accounts(1)[0]
        # a test and simulation harness: the small dev values unless the caller asks for others
        d = deploy_suite(net, owner, suite_params or SuiteParams.dev())
        addrs = deploy_incentives(net, owner, d, p)
        s = cls(
            net=net,
            owner=owner,
            deployment=d,
            token=Token(net, d.token),
            nodes=NodeRegistry(net, d.nodes),
            market=JobMarket(net, d.market),
            rewards=Rewards(net, addrs["rewards"]),
            quorum=FheQuorum(net, addrs["fhe_quorum"]),
            node_accts=[],
            validators=[],
            params=p,
        )
        author = owner
        models = s.market_models()
        s.note_gas(
            "register_model",
            models.register_model(
                "subnet", 10 * ONE_VEIL, 1500, b"\x01" * 32, [], [], b"\x02" * 32, sender=author
            ),
        )
        s.model_id = models.model_count()
        s.note_gas(
            "set_fhe_commitment",
            models.set_fhe_commitment(s.model_id, b"\x03" * 32, b"\x04" * 32, sender=author),
        )
        s.add_nodes(n_nodes)
        for stake in validator_stakes:
            s.add_validator(stake)
        return s

    def market_models(self) -> ModelRegistry:
        return ModelRegistry(self.net, self.deployment.models)

    def note_gas(self, name: str, rcpt: Receipt) -> Receipt:
        """Record ``rcpt``'s gas under the contract function's ``name`` (see ``gas``)."""
        self.gas.setdefault(name, []).append(rcpt.gas_used)
        return rcpt

    def tx(self, fn: Any, sender: LocalAccount, **kw: Any) -> Receipt:
        """Send a raw contract call (tests drive the contracts directly) and record its gas."""
        return self.note_gas(fn.fn_name, self.net.transact(fn, sender=sender, **kw))

    def mint(self, to: str, amount: int) -> None:
        """Bootstrap tokens: the owner may mint until it renounces (Rewards is the minter)."""
        self.note_gas("mint", self.token.mint(to, amount, sender=self.owner))

    def add_nodes(self, n: int, stake: int = NODE_STAKE) -> list[LocalAccount]:
        accts = self.net.new_accounts(n)
        for a in accts:
            pubkey = b"\x02" + os.urandom(32)
            self.note_gas(
                "register",
                self.nodes.register(f"http://{a.address[:10]}.test", pubkey, [self.model_id], sender=a),
            )
            self.mint(a.address, stake)
            self.note_gas("approve", self.token.approve(self.nodes.address, 2**256 - 1, sender=a))
            self.note_gas("stake", self.nodes.stake(stake, sender=a))
        self.node_accts.extend(accts)
        return accts

    def add_validator(self, stake: int) -> LocalAccount:
        a = self.net.new_accounts(1)[0]
        self.mint(a.address, stake)
        self.note_gas("approve", self.token.approve(self.rewards.address, 2**256 - 1, sender=a))
        self.note_gas("register_validator", self.rewards.register_validator(stake, sender=a))
        self.validators.append(a)
        return a

    # --- time ----------------------------------------------------------------------------------
    def _clock(self) -> tuple[int, int, int]:
        return self.rewards.clock()

    def _travel_to(self, t: int) -> None:
        """Land the chain clock exactly on ``t`` (calls and the next transactions see at least ``t``)."""
        self.net.advance_to(t)

    def goto_commit_window(self) -> int:
        """Move to the start of the next epoch (a fresh commit window); returns that epoch."""
        genesis, length, _ = self._clock()
        e = (self.net.now() - genesis) // length + 1
        self._travel_to(genesis + e * length)
        return e

    def goto_reveal_window(self, epoch: int) -> None:
        genesis, length, commit = self._clock()
        self._travel_to(genesis + epoch * length + commit)

    def goto_epoch_end(self, epoch: int) -> None:
        genesis, length, _ = self._clock()
        self._travel_to(genesis + (epoch + 1) * length)

    # --- state ---------------------------------------------------------------------------------
    def bond(self, v: str) -> int:
        return self.rewards.read_validator(v).bond

    def stake_of(self, v: str) -> int:
        return self.rewards.read_validator(v).stake

    def eligible(self) -> list[bool]:
        return [self.nodes.is_active(a) for a in self.nodes.subnet()]

    def mirror_params(self) -> YumaParams:
        p = self.rewards.params()
        return YumaParams(
            emission=p.emission_per_epoch,
            kappa_bps=p.kappa_bps,
            alpha_bps=p.alpha_bps,
            node_bps=p.node_bps,
            validator_bps=p.validator_bps,
            miss_penalty_bps=p.miss_penalty_bps,
        )

    # --- one epoch -----------------------------------------------------------------------------
    def run_epoch(
        self,
        weights: Mapping[str, Sequence[int]],
        reveal: set[str] | None = None,
        salt: bytes = b"\x5a" * 32,
    ) -> ChainEpoch:
        """Commit ``weights`` (validator address → uint16 row) in a fresh epoch, reveal for those in
        ``reveal`` (default all), finalise, and return the chain's numbers beside the mirror's."""
        by_addr: dict[str, LocalAccount] = {a.address: a for a in self.validators}
        reveal = set(weights) if reveal is None else reveal
        e = self.goto_commit_window()
        gas: dict[str, int] = {"commit": 0, "reveal": 0}
        stakes: dict[str, int] = {}
        for v, row in weights.items():
            r = self.note_gas(
                "commit_weights", self.rewards.commit_weights(commit_hash(v, e, row, salt), sender=by_addr[v])
            )
            gas["commit"] = max(gas["commit"], r.gas_used)
            stakes[v] = self.stake_of(v)
        self.goto_reveal_window(e)
        for v, row in weights.items():
            if v in reveal:
                r = self.note_gas("reveal_weights", self.rewards.reveal_weights(row, salt, sender=by_addr[v]))
                gas["reveal"] = max(gas["reveal"], r.gas_used)
        self.goto_epoch_end(e)
        bonds_before = {v: self.bond(v) for v in weights}
        current = {v: self.rewards.read_validator(v).bonded for v in weights}
        mirror = epoch_step(
            list(weights),
            {v: weights[v] for v in weights if v in reveal},
            stakes,
            self.eligible(),
            bonds_before,
            self.mirror_params(),
            current_stake=current,
        )
        rcpt = self.note_gas("finalize_epoch", self.rewards.finalize_epoch(sender=self.owner))
        gas["finalize"] = rcpt.gas_used
        return self._read_epoch(e, rcpt, list(weights), gas, mirror)

    def _read_epoch(
        self, e: int, rcpt: Receipt, vals: list[str], gas: dict[str, int], mirror: EpochResult
    ) -> ChainEpoch:
        n = len(mirror.node_emission)
        index = {self.nodes.subnet_node(j): j for j in range(n)}
        fin = self.rewards.finalized_epoch(rcpt)
        node_em = [0] * n
        for ne in fin.nodes:
            node_em[index[ne.node]] += ne.amount
        val_em = {ve.validator: ve.amount for ve in fin.validators}
        return ChainEpoch(
            epoch=e,
            node_emission=node_em,
            validator_emission=val_em,
            owner_emission=fin.owner_total,
            bonds={v: self.bond(v) for v in vals},
            penalties=dict(fin.missed),
            gas=gas,
            mirror=mirror,
        )


def run_on_chain(cfg: SimConfig, url: str | None = None) -> tuple[SimResult, list[dict[str, int]]]:
    """Run ``cfg`` with every epoch settled by the real contracts, checking each against the mirror.

    Raises ``AssertionError`` on the first epoch where chain and mirror differ.
    Returns the result and the gas used per epoch (max commit, max reveal, finalize).
    """
    from veilproof.chain import connect

    net = connect(url)
    _, nodes, validators = population(cfg)
    admitted = [v for v in validators if v.admitted]  # commit order of the simulation
    subnet = Subnet.create(
        net,
        sum(1 for nd in nodes if nd.idx >= 0),
        [v.stake for v in admitted],
        IncentiveParams(emission_per_epoch=int(cfg.emission * VEIL), validator_min_stake=VEIL),
    )
    subnet.note_gas("set_kappa", subnet.rewards.set_kappa(cfg.kappa_bps, sender=subnet.owner))
    subnet.note_gas("set_alpha", subnet.rewards.set_alpha(cfg.alpha_bps, sender=subnet.owner))
    addr: dict[str, str] = {v.vid: a.address for v, a in zip(admitted, subnet.validators, strict=True)}
    vid = {a: v for v, a in addr.items()}
    gas: list[dict[str, int]] = []

    def settle(
        epoch: int,
        committed: list[str],
        revealed: dict[str, list[int]],
        stakes_: dict[str, int],
        eligible: list[bool],
        bonds: dict[str, int],
    ) -> EpochResult:
        ce = subnet.run_epoch({addr[v]: revealed[v] for v in committed})
        assert ce.agrees(), f"epoch {ce.epoch}: chain and mirror differ"
        gas.append(ce.gas)
        m = ce.mirror
        return EpochResult(
            consensus=m.consensus,
            node_emission=ce.node_emission,
            validator_emission={vid[a]: x for a, x in ce.validator_emission.items()},
            owner_emission=ce.owner_emission,
            bonds={vid[a]: x for a, x in ce.bonds.items()},
            penalties={vid[a]: x for a, x in ce.penalties.items()},
        )

    try:
        result = run(cfg, settle)
    finally:
        net.close()
    result.chain_checks = len(gas)
    return result, gas
