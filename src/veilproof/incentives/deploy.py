"""Deploy the incentive contracts (Rewards, FheQuorum) beside a core suite and wire them in."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from veilproof.chain.deploy import CHALLENGE_WINDOW_S, ONE_VEIL, Deployment, SuiteParams, deploy_suite
from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.job_market import JobMarket
from veilproof.chain.network import Network
from veilproof.chain.rewards import Rewards
from veilproof.chain.token import Token
from veilproof.errors import ConfigError

# Tuned (docs/incentives.md "Tuning"); the simulation reads the same constants.
VALIDATOR_MIN_STAKE_VEIL = 1_000
FALSE_ATTEST_BPS = 100  # a refuted attestation costs 1% of the attested stake: griefing at 42% loses
EPOCH_LENGTH_S = CHALLENGE_WINDOW_S  # the FHE window spans one epoch: validators re-execute before finalize


@dataclass(frozen=True)
class IncentiveParams:
    """Deploy-time parameters of the incentive layer (the owner can change most later)."""

    validator_min_stake: int = VALIDATOR_MIN_STAKE_VEIL * ONE_VEIL
    epoch_length: int = EPOCH_LENGTH_S
    commit_period: int = EPOCH_LENGTH_S // 2
    unbond_delay: int = 7 * 24 * 3_600  # must be >= 2 epochs (the contract checks)
    emission_per_epoch: int = 100 * ONE_VEIL
    quorum_bps: int = 6_667  # FHE dispute: two thirds of active validator stake
    false_attest_bps: int = FALSE_ATTEST_BPS  # penalty of a refuted attestation, paid to the node
    subnet_owner: str | None = None  # defaults to the deployment owner
    treasury: str | None = None  # defaults to the deployment owner

    def check(self) -> IncentiveParams:
        """Raise :class:`ConfigError` for values the contracts would refuse; returns ``self``.
        Checked before anything is deployed, so a bad value leaves no half-wired network."""
        if not 0 <= self.false_attest_bps <= 1_000:
            raise ConfigError(
                f"false_attest_bps {self.false_attest_bps}: expected 0..1000 (FheQuorum caps it at 10%)"
            )
        if not 5_000 < self.quorum_bps <= 10_000:
            raise ConfigError(f"quorum_bps {self.quorum_bps}: expected more than 5000, at most 10000")
        if not 0 < self.commit_period < self.epoch_length:
            raise ConfigError(
                f"commit_period {self.commit_period}: expected between 0 and epoch_length {self.epoch_length}"
            )
        if self.unbond_delay < 2 * self.epoch_length:
            raise ConfigError(
                f"unbond_delay {self.unbond_delay}: expected at least two epochs ({2 * self.epoch_length} s)"
            )
        return self


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
    p = (params or IncentiveParams()).check()
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
    fq = FheQuorum(net, quorum.address)
    if fq.false_attest_bps() != p.false_attest_bps:  # the contract starts at 100 bps
        fq.set_false_attest_penalty(p.false_attest_bps, sender=owner)
    Token(net, deployment.token).set_minter(rewards.address, sender=owner)
    Rewards(net, rewards.address).set_locker(quorum.address, True, sender=owner)
    JobMarket(net, deployment.market).set_arbiter(quorum.address, sender=owner)
    out: dict[str, str] = {"rewards": rewards.address, "fhe_quorum": quorum.address}
    deployment.extra.update(out)
    return out


def deploy_network(
    net: Network,
    owner: LocalAccount,
    params: SuiteParams | None = None,
    incentive_params: IncentiveParams | None = None,
) -> Deployment:
    """The default deployment: the core suite, then Rewards and FheQuorum wired in.

    Why not the core suite alone: without an arbiter no FHE result can ever be disputed, so a node
    could post any output hash and be paid at ``finalize``. Every deployment the CLI and the local
    network make goes through here, so FheQuorum is the market's arbiter from the first job.
    """
    ip = (incentive_params or IncentiveParams()).check()
    d = deploy_suite(net, owner, params)
    deploy_incentives(net, owner, d, ip)
    return d
