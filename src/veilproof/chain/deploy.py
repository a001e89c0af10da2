"""Deploy and wire the contract suite; save and load where it lives.

The addresses file is the only thing a node, client or validator needs (besides a chain URL) to
find the network: everything else is read from the contracts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount

from veilproof.chain.job_market import JobMarket
from veilproof.chain.network import Network
from veilproof.chain.node_registry import NodeRegistry
from veilproof.errors import ConfigError

ONE_VEIL = 10**18


@dataclass(frozen=True)
class SuiteParams:
    """Economic parameters chosen at deploy time (owner can change most later)."""

    min_stake: int = 100 * ONE_VEIL
    unbond_delay: int = 7 * 24 * 3600
    challenger_bps: int = 5_000  # half of a slash to whoever brought the evidence
    slash_amount: int = 50 * ONE_VEIL
    max_deadline: int = 24 * 3600
    challenge_window: int = 600
    # a client's bond to demand an FHE output on chain; paid to the node if it delivers
    delivery_bond: int = ONE_VEIL
    treasury: str | None = None  # defaults to the deployer


@dataclass
class Deployment:
    chain_id: int
    token: str
    models: str
    nodes: str
    market: str
    owner: str
    extra: dict[str, str] = field(default_factory=dict)  # e.g. zk verifier, adapter

    def save(self, path: str | os.PathLike[str]) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, p)
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Deployment:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"no deployment at {p}: run `veilproof deploy` first")
        try:
            data = json.loads(p.read_text())
            return cls(**data)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"deployment file {p} is malformed: {e}") from e


def deploy_suite(net: Network, owner: LocalAccount, params: SuiteParams | None = None) -> Deployment:
    """Deploy Token, ModelRegistry, NodeRegistry and JobMarket, and wire them together.

    The core alone: FHE results have no arbiter until FheQuorum is deployed
    (:func:`veilproof.incentives.deploy.deploy_network` is the default deployment that does both).
    ``max_deadline + 2 * challenge_window`` must stay below ``unbond_delay`` (the market checks).
    """
    p = params or SuiteParams()
    treasury = p.treasury or owner.address
    token = net.deploy("Token", sender=owner)
    models = net.deploy("ModelRegistry", sender=owner)
    nodes = net.deploy(
        "NodeRegistry",
        token.address,
        p.min_stake,
        p.unbond_delay,
        treasury,
        p.challenger_bps,
        models.address,
        sender=owner,
    )
    market = net.deploy("JobMarket", token.address, models.address, nodes.address, treasury, sender=owner)
    NodeRegistry(net, nodes.address).authorize(market.address, True, sender=owner)
    m = JobMarket(net, market.address)
    m.set_slash_amount(p.slash_amount, sender=owner)
    m.set_max_deadline(p.max_deadline, sender=owner)
    m.set_challenge_window(p.challenge_window, sender=owner)
    if p.delivery_bond:
        m.set_delivery_bond(p.delivery_bond, sender=owner)
    return Deployment(
        chain_id=net.chain_id,
        token=token.address,
        models=models.address,
        nodes=nodes.address,
        market=market.address,
        owner=owner.address,
    )


def deploy_zk_verifier(
    net: Network, owner: LocalAccount, d: Deployment, verifier_abi: list, verifier_bytecode: str
) -> Deployment:
    """Deploy EZKL's reusable Halo2 verifier (compiled by the caller) and the adapter JobMarket calls.

    The chain layer knows nothing of ZK: it receives the verifier's ABI and bytecode ready-made.
    """
    verifier = net.deploy_bytecode(
        verifier_abi, verifier_bytecode, sender=owner, label="Halo2VerifierReusable"
    )
    adapter = net.deploy("ZkVerifierAdapter", d.models, verifier.address, sender=owner)
    JobMarket(net, d.market).set_zk_verifier(adapter.address, sender=owner)
    d.extra["zk_verifier"] = verifier.address
    d.extra["zk_adapter"] = adapter.address
    return d


@dataclass(frozen=True)
class ReceiptParams:
    """ReceiptMarket's parameters (docs/settlement.md); kept apart from SuiteParams so that the
    core suite deploys as before. ``max_deadline + claim_window + response_window`` must stay below
    the NodeRegistry's unbonding delay and below ``withdraw_delay`` (the contract checks)."""

    max_deadline: int = 24 * 3600
    claim_window: int = 3600
    response_window: int = 3600
    withdraw_delay: int = 2 * 24 * 3600
    slash_amount: int = 50 * ONE_VEIL
    demand_bond: int = ONE_VEIL
    # what a proof claim adds to the order's price: ~1.2M gas of on-chain verification the client's
    # receipt would have saved, priced in VEIL by the operator
    claim_surcharge: int = ONE_VEIL // 10
    fee_bps: int = 0


def deploy_receipt_market(
    net: Network, owner: LocalAccount, d: Deployment, params: ReceiptParams | None = None
) -> Deployment:
    """Deploy the pay-on-proof ReceiptMarket next to JobMarket, bound to the ZK verifier adapter
    (:func:`deploy_zk_verifier` first), and authorise it to slash nodes."""
    from veilproof.chain.receipt_market import ReceiptMarket

    adapter = d.extra.get("zk_adapter")
    if not adapter:
        raise ConfigError("no ZK verifier adapter in the deployment: run deploy_zk_verifier first")
    p = params or ReceiptParams()
    treasury = JobMarket(net, d.market).treasury()
    c = net.deploy("ReceiptMarket", d.token, d.models, d.nodes, adapter, treasury, sender=owner)
    NodeRegistry(net, d.nodes).authorize(c.address, True, sender=owner)
    rm = ReceiptMarket(net, c.address)
    rm.set_windows(p.max_deadline, p.claim_window, p.response_window, p.withdraw_delay, sender=owner)
    for name, value in (
        ("slash_amount", p.slash_amount),
        ("demand_bond", p.demand_bond),
        ("claim_surcharge", p.claim_surcharge),
        ("fee_bps", p.fee_bps),
    ):
        if value:
            getattr(rm, f"set_{name}")(value, sender=owner)
    d.extra["receipt_market"] = c.address
    return d
