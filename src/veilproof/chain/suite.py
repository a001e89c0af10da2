"""Bound handles on a deployed suite, so callers write ``suite.market.functions...``."""

from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from veilproof.chain.deploy import Deployment
from veilproof.chain.network import Network


@dataclass
class Suite:
    net: Network
    deployment: Deployment
    token: Contract
    models: Contract
    nodes: Contract
    market: Contract

    @classmethod
    def attach(cls, net: Network, d: Deployment) -> Suite:
        return cls(
            net=net,
            deployment=d,
            token=net.contract("Token", d.token),
            models=net.contract("ModelRegistry", d.models),
            nodes=net.contract("NodeRegistry", d.nodes),
            market=net.contract("JobMarket", d.market),
        )
