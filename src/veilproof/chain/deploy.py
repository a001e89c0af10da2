"""Deploy and wire the contract suite; save and load where it lives.

The addresses file is the only thing a node, client or validator needs (besides a chain URL) to
find the network: everything else is read from the contracts.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from eth_account.signers.local import LocalAccount

from veilproof.chain.job_market import JobMarket
from veilproof.chain.network import Network
from veilproof.chain.node_registry import NodeRegistry
from veilproof.errors import ConfigError

ONE_VEIL = 10**18

# The tuned economics (docs/incentives.md "Tuning", swept by bench/economics.py). One source of
# truth: the production defaults below and the simulation (veilproof.incentives.simulate.SimConfig)
# both read these, and tests/incentives/test_default_deploy.py checks a default deploy against it.
SLASH_VEIL = 1_000  # break-even audit rate g / (slash + fee) drops from 5.2% (at 50) to 0.30%
NODE_MIN_STAKE_VEIL = 2_000  # covers two slashes; sybil nodes cost capital
PROTOCOL_FEE_BPS = 500  # prices self-dealt ratings; could refund validators' audits
CHALLENGE_WINDOW_S = 3_600  # one validator epoch: a quorum re-executes, audits decrypt, before finalize
UNBOND_DELAY_S = 7 * 24 * 3_600
MAX_DEADLINE_S = 24 * 3_600


@dataclass(frozen=True)
class SuiteParams:
    """Economic parameters chosen at deploy time (owner can change most later).

    The defaults are the tuned production values; tests and the demo, which need a small stake and a
    short window, ask for :meth:`dev` explicitly.
    """

    min_stake: int = NODE_MIN_STAKE_VEIL * ONE_VEIL
    unbond_delay: int = UNBOND_DELAY_S
    challenger_bps: int = 5_000  # half of a slash to whoever brought the evidence
    slash_amount: int = SLASH_VEIL * ONE_VEIL
    max_deadline: int = MAX_DEADLINE_S
    challenge_window: int = CHALLENGE_WINDOW_S
    # a client's bond to demand an FHE output on chain; paid to the node if it delivers
    delivery_bond: int = ONE_VEIL
    fee_bps: int = PROTOCOL_FEE_BPS  # protocol fee on each settled job, to the treasury
    treasury: str | None = None  # defaults to the deployer

    @classmethod
    def dev(cls, **overrides: object) -> SuiteParams:
        """Small values for tests and the demo: 100 VEIL node stake, 50 VEIL slash, a 600 s window,
        no protocol fee (so earnings in tests are the price minus royalty). ``overrides`` replace
        single fields (``SuiteParams.dev(challenge_window=60)``)."""
        base = cls(min_stake=100 * ONE_VEIL, slash_amount=50 * ONE_VEIL, challenge_window=600, fee_bps=0)
        return replace(base, **overrides)  # type: ignore[arg-type]

    def check(self) -> SuiteParams:
        """Raise :class:`ConfigError` if the contracts would refuse these values; returns ``self``.

        Why here: the market reverts a horizon beyond the unbonding delay with a bare reason half-way
        through a deploy; checking first leaves nothing half-deployed."""
        horizon = self.max_deadline + 2 * self.challenge_window
        if horizon >= self.unbond_delay:
            raise ConfigError(
                f"max_deadline + 2 * challenge_window = {horizon} s must stay below unbond_delay "
                f"{self.unbond_delay} s (a node could unbond away from a pending slash)"
            )
        if self.max_deadline <= 0:
            raise ConfigError("max_deadline must be positive")
        if not 0 <= self.fee_bps <= 1_000:
            raise ConfigError(f"fee_bps {self.fee_bps}: expected 0..1000 (the market caps it at 10%)")
        if not 0 <= self.challenger_bps <= 10_000:
            raise ConfigError(f"challenger_bps {self.challenger_bps}: expected 0..10000")
        return self


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
    p = (params or SuiteParams()).check()
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
    if p.fee_bps:
        m.set_fee_bps(p.fee_bps, sender=owner)
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
    # the same slash and protocol fee as JobMarket's production defaults (SuiteParams): a node's
    # misconduct and the treasury's share must not depend on which market the job went through
    slash_amount: int = 1_000 * ONE_VEIL
    demand_bond: int = ONE_VEIL
    # what a proof claim adds to the order's price: the ~1.06M gas of on-chain verification the
    # client's receipt would have saved (0.106 VEIL at the simulation's 0.1 VEIL per Mgas), with
    # margin; an operator prices it for the largest model served. Below that cost a withholding
    # client pays less than price + claim gas and the honest node loses the difference.
    claim_surcharge: int = ONE_VEIL // 5
    fee_bps: int = 500


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


def deploy_data_market(
    net: Network, owner: LocalAccount, d: Deployment, delivery_window: int = 24 * 3600
) -> Deployment:
    """Deploy the consented data market (DataRegistry, paid in the suite's token) next to the suite
    (docs/data-market.md); ``owner`` is its owner and first quality scorer."""
    from veilproof.chain.data_registry import deploy_data_registry

    d.extra["data_registry"] = deploy_data_registry(net, owner, d.token, delivery_window).address
    return d
