"""Deploy the incentive contracts (Rewards, FheQuorum) beside a core suite and wire them in."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import ONE_VEIL, Deployment
from veilproof.chain.job_market import JobMarket
from veilproof.chain.network import Network
from veilproof.chain.rewards import Rewards
from veilproof.chain.token import Token


@dataclass(frozen=True)
class IncentiveParams:
    """Deploy-time parameters of the incentive layer (the owner can change most later)."""

    validator_min_stake: int = 1_000 * ONE_VEIL
    epoch_length: int = 3_600
    commit_period: int = 1_800
    unbond_delay: int = 7 * 24 * 3_600  # must be >= 2 epochs (the contract checks)
    emission_per_epoch: int = 100 * ONE_VEIL
    quorum_bps: int = 6_667  # FHE dispute: two thirds of active validator stake
    subnet_owner: str | None = None  # defaults to the deployment owner
    treasury: str | None = None  # defaults to the deployment owner


def deploy_incentives(
    net: Network, owner: LocalAccount, deployment: Deployment, params: IncentiveParams | None = None
) -> dict[str, str]:
    """Deploy Rewards and FheQuorum and wire them; returns (and records in ``deployment.extra``) their addresses.

    Wiring (all sent by ``owner``, who must own Token and JobMarket):
      * ``token.set_minter(rewards)`` — emissions are minted only by Rewards;
      * ``market.set_arbiter(quorum)`` — FHE disputes only through a validator quorum;
      * ``rewards.set_locker(quorum)`` — the quorum locks attesters' stake until the job's window
        closes and takes the penalty of a refuted attestation (issue #12 item 4).
    Neither contract calls ``NodeRegistry.slash`` itself (JobMarket, already authorised, slashes
    inside ``dispute_fhe``), so none is authorised there: least privilege.
    """
    p = params or IncentiveParams()
    treasury = p.treasury or owner.address
    subnet_owner = p.subnet_owner or owner.address
    rewards = net.deploy(
        "Rewards",
        deployment.token,
        deployment.nodes,
        treasury,
        subnet_owner,
        p.validator_min_stake,
        p.unbond_delay,
        p.epoch_length,
        p.commit_period,
        p.emission_per_epoch,
        sender=owner,
    )
    quorum = net.deploy(
        "FheQuorum", deployment.token, deployment.market, rewards.address, p.quorum_bps, sender=owner
    )
    Token(net, deployment.token).set_minter(rewards.address, sender=owner)
    Rewards(net, rewards.address).set_locker(quorum.address, True, sender=owner)
    JobMarket(net, deployment.market).set_arbiter(quorum.address, sender=owner)
    out: dict[str, str] = {"rewards": rewards.address, "fhe_quorum": quorum.address}
    deployment.extra.update(out)
    return out
