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
from web3.contract import Contract
from web3.logs import DISCARD

from veilproof.chain.deploy import ONE_VEIL, Deployment, SuiteParams, deploy_suite
from veilproof.chain.network import Network
from veilproof.incentives.deploy import IncentiveParams, deploy_incentives
from veilproof.incentives.yuma import EpochResult, YumaParams, commit_hash, epoch_step

NODE_STAKE = 100 * ONE_VEIL


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
    token: Contract
    nodes: Contract
    market: Contract
    rewards: Contract
    quorum: Contract
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
        d = deploy_suite(net, owner, suite_params)
        token = net.contract("Token", d.token)
        addrs = deploy_incentives(net, owner, d, p)
        s = cls(
            net=net,
            owner=owner,
            deployment=d,
            token=token,
            nodes=net.contract("NodeRegistry", d.nodes),
            market=net.contract("JobMarket", d.market),
            rewards=net.contract("Rewards", addrs["rewards"]),
            quorum=net.contract("FheQuorum", addrs["fhe_quorum"]),
            node_accts=[],
            validators=[],
            params=p,
        )
        author = owner
        fn = s.market_models().functions.register_model(
            "subnet", 10 * ONE_VEIL, 1500, b"\x01" * 32, [], [], b"\x02" * 32
        )
        s.tx(fn, author)
        s.model_id = int(net.call(s.market_models().functions.model_count()))
        s.tx(s.market_models().functions.set_fhe_commitment(s.model_id, b"\x03" * 32, b"\x04" * 32), author)
        s.add_nodes(n_nodes)
        for stake in validator_stakes:
            s.add_validator(stake)
        return s

    def market_models(self) -> Contract:
        return self.net.contract("ModelRegistry", self.deployment.models)

    def tx(self, fn: Any, sender: LocalAccount, **kw: Any) -> Any:
        rcpt = self.net.transact(fn, sender=sender, **kw)
        self.gas.setdefault(fn.fn_name, []).append(rcpt.gas_used)
        return rcpt

    def mint(self, to: str, amount: int) -> None:
        """Bootstrap tokens: the owner may mint until it renounces (Rewards is the minter)."""
        self.tx(self.token.functions.mint(to, amount), self.owner)

    def add_nodes(self, n: int, stake: int = NODE_STAKE) -> list[LocalAccount]:
        accts = self.net.new_accounts(n)
        for a in accts:
            pubkey = b"\x02" + os.urandom(32)
            self.tx(
                self.nodes.functions.register(f"http://{a.address[:10]}.test", pubkey, [self.model_id]), a
            )
            self.mint(a.address, stake)
            self.tx(self.token.functions.approve(self.nodes.address, 2**256 - 1), a)
            self.tx(self.nodes.functions.stake(stake), a)
        self.node_accts.extend(accts)
        return accts

    def add_validator(self, stake: int) -> LocalAccount:
        a = self.net.new_accounts(1)[0]
        self.mint(a.address, stake)
        self.tx(self.token.functions.approve(self.rewards.address, 2**256 - 1), a)
        self.tx(self.rewards.functions.register_validator(stake), a)
        self.validators.append(a)
        return a

    # --- time ----------------------------------------------------------------------------------
    def _clock(self) -> tuple[int, int, int]:
        genesis = int(self.net.call(self.rewards.functions.genesis()))
        length = int(self.net.call(self.rewards.functions.epoch_length()))
        commit = int(self.net.call(self.rewards.functions.commit_period()))
        return genesis, length, commit

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
        return int(self.net.call(self.rewards.functions.validator(v))[3])

    def stake_of(self, v: str) -> int:
        info = self.net.call(self.rewards.functions.validator(v))
        return int(info[0])

    def eligible(self) -> list[bool]:
        n = min(int(self.net.call(self.nodes.functions.node_count())), 64)
        return [
            bool(
                self.net.call(self.nodes.functions.is_active(self.net.call(self.nodes.functions.node_at(j))))
            )
            for j in range(n)
        ]

    def mirror_params(self) -> YumaParams:
        f = self.rewards.functions
        c = self.net.call
        return YumaParams(
            emission=int(c(f.emission_per_epoch())),
            kappa_bps=int(c(f.kappa_bps())),
            alpha_bps=int(c(f.alpha_bps())),
            node_bps=int(c(f.node_bps())),
            validator_bps=int(c(f.validator_bps())),
            miss_penalty_bps=int(c(f.miss_penalty_bps())),
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
        by_addr = {a.address: a for a in self.validators}
        reveal = set(weights) if reveal is None else reveal
        e = self.goto_commit_window()
        gas: dict[str, int] = {"commit": 0, "reveal": 0}
        stakes: dict[str, int] = {}
        for v, row in weights.items():
            r = self.tx(self.rewards.functions.commit_weights(commit_hash(v, e, row, salt)), by_addr[v])
            gas["commit"] = max(gas["commit"], r.gas_used)
            stakes[v] = self.stake_of(v)
        self.goto_reveal_window(e)
        for v, row in weights.items():
            if v in reveal:
                r = self.tx(self.rewards.functions.reveal_weights(list(row), salt), by_addr[v])
                gas["reveal"] = max(gas["reveal"], r.gas_used)
        self.goto_epoch_end(e)
        bonds_before = {v: self.bond(v) for v in weights}
        current = {v: sum(self.net.call(self.rewards.functions.validator(v))[:2]) for v in weights}
        mirror = epoch_step(
            list(weights),
            {v: weights[v] for v in weights if v in reveal},
            stakes,
            self.eligible(),
            bonds_before,
            self.mirror_params(),
            current_stake=current,
        )
        rcpt = self.tx(self.rewards.functions.finalize_epoch(), self.owner)
        gas["finalize"] = rcpt.gas_used
        return self._read_epoch(e, rcpt, list(weights), gas, mirror)

    def _events(self, name: str, rcpt: Any) -> list[dict[str, Any]]:
        logs = getattr(self.rewards.events, name)().process_receipt(rcpt.raw, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    def _read_epoch(
        self, e: int, rcpt: Any, vals: list[str], gas: dict[str, int], mirror: EpochResult
    ) -> ChainEpoch:
        n = len(mirror.node_emission)
        index = {self.net.call(self.nodes.functions.node_at(j)): j for j in range(n)}
        node_em = [0] * n
        for ev in self._events("NodeEmission", rcpt):
            node_em[index[ev["node"]]] += int(ev["amount"])
        val_em = {ev["validator"]: int(ev["amount"]) for ev in self._events("ValidatorEmission", rcpt)}
        pen = {ev["validator"]: int(ev["penalty"]) for ev in self._events("RevealMissed", rcpt)}
        fin = self._events("EpochFinalized", rcpt)[0]
        return ChainEpoch(
            epoch=e,
            node_emission=node_em,
            validator_emission=val_em,
            owner_emission=int(fin["owner_total"]),
            bonds={v: self.bond(v) for v in vals},
            penalties=pen,
            gas=gas,
            mirror=mirror,
        )
