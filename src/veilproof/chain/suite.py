"""Facades on a deployed suite, so callers write ``suite.market.accept(job_id, sender=acct)``.

The core four are bound at attach time. The incentive contracts and the ZK adapter are deployed
later into the same :class:`Deployment` (its ``extra``), so they are looked up when asked for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, TypeVar

from veilproof.chain.data_registry import DataRegistry
from veilproof.chain.deploy import Deployment
from veilproof.chain.facade import ContractFacade
from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.job_market import JobMarket
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.network import Network
from veilproof.chain.node_registry import NodeRegistry
from veilproof.chain.pipeline_market import PipelineMarket
from veilproof.chain.receipt_market import ReceiptMarket
from veilproof.chain.rewards import Rewards
from veilproof.chain.token import Token
from veilproof.chain.view import ChainView
from veilproof.chain.zk_verifier_adapter import ZkVerifierAdapter
from veilproof.errors import ConfigError

F = TypeVar("F")


@dataclass
class Suite:
    net: Network
    deployment: Deployment
    token: Token
    models: ModelRegistry
    nodes: NodeRegistry
    market: JobMarket
    # (facade class, address) -> facade: binding a contract (ABI lookup, web3's contract class) cost a
    # node's maintenance loop ~4 % of its CPU when each access built a new one. Keyed by address, so
    # a contract deployed into ``deployment.extra`` later (or moved) is bound afresh.
    _bound: dict[tuple[type, str], Any] = field(default_factory=dict, repr=False, compare=False)

    def _facade(self, cls: type[F], addr: str) -> F:
        key = (cls, addr)
        if key not in self._bound:
            self._bound[key] = cls(self.net, addr)  # type: ignore[call-arg]
        return self._bound[key]

    @functools.cached_property
    def terms_view(self) -> ChainView:
        """The terms both sides read every job (node list and terms, model records, pay-on-proof
        parameters and royalties, pending withdrawals), shared by everything of this process on this
        suite and dropped on any NodeRegistry or ModelRegistry event or a ReceiptMarket ``ParamSet``,
        ``WithdrawRequested`` or ``DepositWithdrawn`` (veilproof.chain.view)."""
        watched: list[tuple[ContractFacade, list[str] | None]] = [(self.nodes, None), (self.models, None)]
        if self.receipts is not None:
            watched.append((self.receipts, ["ParamSet", "WithdrawRequested", "DepositWithdrawn"]))
        return ChainView(self.net, watched)

    @classmethod
    def attach(cls, net: Network, d: Deployment) -> Suite:
        return cls(
            net=net,
            deployment=d,
            token=Token(net, d.token),
            models=ModelRegistry(net, d.models),
            nodes=NodeRegistry(net, d.nodes),
            market=JobMarket(net, d.market),
        )

    @property
    def rewards(self) -> Rewards:
        """The incentive layer's Rewards; ConfigError when the incentives are not deployed."""
        addr = self.deployment.extra.get("rewards")
        if not addr:
            raise ConfigError("no Rewards contract in the deployment: deploy the incentives first")
        return self._facade(Rewards, addr)

    @property
    def quorum(self) -> FheQuorum | None:
        """The FHE dispute quorum, or None when none is deployed (FHE results cannot be disputed)."""
        addr = self.deployment.extra.get("fhe_quorum")
        return self._facade(FheQuorum, addr) if addr else None

    @property
    def zk_adapter(self) -> ZkVerifierAdapter | None:
        """The ZK verifier adapter, or None when no ZK verifier is deployed."""
        addr = self.deployment.extra.get("zk_adapter")
        return self._facade(ZkVerifierAdapter, addr) if addr else None

    @property
    def receipts(self) -> ReceiptMarket | None:
        """The pay-on-proof ReceiptMarket, or None when it is not deployed."""
        addr = self.deployment.extra.get("receipt_market")
        return self._facade(ReceiptMarket, addr) if addr else None

    @property
    def data(self) -> DataRegistry:
        """The consented data market (DataRegistry); ConfigError when it is not deployed."""
        addr = self.deployment.extra.get("data_registry")
        if not addr:
            raise ConfigError("no DataRegistry in the deployment: run deploy_data_market first")
        return self._facade(DataRegistry, addr)

    @property
    def pipelines(self) -> PipelineMarket | None:
        """The PipelineMarket (chained ZK stages), or None when it is not deployed."""
        addr = self.deployment.extra.get("pipeline_market")
        return self._facade(PipelineMarket, addr) if addr else None
