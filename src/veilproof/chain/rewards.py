"""``Rewards``: validator stake, commit–reveal of weights and per-epoch emissions (contracts/Rewards.vy).

Epoch ``e`` runs from ``genesis + e * epoch_length``; its first ``commit_period`` seconds take
commitments, the rest reveals. A finalised epoch reports what it credited as events, read back here
as one :class:`FinalizedEpoch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Receipt
from veilproof.errors import ChainError


class EpochClock(NamedTuple):
    """The contract's immutable schedule (a tuple, so ``genesis, length, commit = clock`` works)."""

    genesis: int
    epoch_length: int
    commit_period: int


@dataclass(frozen=True)
class OnchainValidator:
    """``Rewards.validator``: zeroed (``registered`` False) for an address never registered."""

    address: str
    stake: int
    unbonding: int
    unbond_release: int
    bond: int
    registered: bool

    @property
    def bonded(self) -> int:
        """Stake plus unbonding: everything the contract holds for (and can penalise) this validator."""
        return self.stake + self.unbonding


@dataclass(frozen=True)
class RewardsParams:
    """The owner-settable emission parameters (what the Python mirror of the epoch needs)."""

    emission_per_epoch: int
    kappa_bps: int
    alpha_bps: int
    node_bps: int
    validator_bps: int
    miss_penalty_bps: int


@dataclass(frozen=True)
class NodeEmission:
    node: str
    consensus: int
    amount: int


@dataclass(frozen=True)
class ValidatorEmission:
    validator: str
    bond: int
    amount: int


@dataclass(frozen=True)
class FinalizedEpoch:
    """What ``finalize_epoch`` did, from its events (emission lists in log order)."""

    epoch: int
    revealed: int
    node_total: int
    validator_total: int
    owner_total: int
    nodes: list[NodeEmission]
    validators: list[ValidatorEmission]
    missed: dict[str, int]  # validator → penalty for not revealing


class Rewards(ContractFacade):
    CONTRACT = "Rewards"

    # --- schedule and parameters -----------------------------------------------------------------
    def clock(self) -> EpochClock:
        return EpochClock(
            int(self._call("genesis")), int(self._call("epoch_length")), int(self._call("commit_period"))
        )

    def params(self) -> RewardsParams:
        return RewardsParams(
            emission_per_epoch=int(self._call("emission_per_epoch")),
            kappa_bps=int(self._call("kappa_bps")),
            alpha_bps=int(self._call("alpha_bps")),
            node_bps=int(self._call("node_bps")),
            validator_bps=int(self._call("validator_bps")),
            miss_penalty_bps=int(self._call("miss_penalty_bps")),
        )

    def min_stake(self) -> int:
        """Validator stake needed to commit weights (and to attest in FheQuorum)."""
        return int(self._call("min_stake"))

    def current_epoch(self) -> int:
        return int(self._call("current_epoch"))

    def in_commit_window(self) -> bool:
        return bool(self._call("in_commit_window"))

    # --- validators ------------------------------------------------------------------------------
    def read_validator(self, address: str) -> OnchainValidator:
        stake, unbonding, release, bond, registered = self._call("validator", to_checksum_address(address))
        return OnchainValidator(
            address, int(stake), int(unbonding), int(release), int(bond), bool(registered)
        )

    def validators(self) -> list[str]:
        return [str(a) for a in self._call("validators")]

    def total_active_stake(self) -> int:
        return int(self._call("total_active_stake"))

    def pending(self, address: str) -> int:
        """Emissions credited to ``address`` and not claimed yet."""
        return int(self._call("pending", to_checksum_address(address)))

    def register_validator(self, amount: int, *, sender: LocalAccount) -> Receipt:
        """Bond ``amount`` VEIL as a validator (approve Rewards first)."""
        return self._send("register_validator", amount, sender=sender)

    def add_stake(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("add_stake", amount, sender=sender)

    def request_unbond(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("request_unbond", amount, sender=sender)

    def withdraw_unbonded(self, *, sender: LocalAccount) -> Receipt:
        return self._send("withdraw_unbonded", sender=sender)

    def claim(self, *, sender: LocalAccount) -> Receipt:
        return self._send("claim", sender=sender)

    def locked_until(self, address: str) -> int:
        """Until when a dispute contract keeps ``address``'s stake from unbonding (0: never locked)."""
        return int(self._call("locked_until", to_checksum_address(address)))

    # --- commit–reveal ---------------------------------------------------------------------------
    def commit_of(self, epoch: int, address: str) -> bytes:
        """``address``'s commitment for ``epoch`` (32 zero bytes: none)."""
        return bytes(self._call("commit_of", epoch, to_checksum_address(address)))

    def revealed(self, epoch: int, address: str) -> bool:
        return bool(self._call("revealed", epoch, to_checksum_address(address)))

    def weights_of(self, epoch: int, address: str) -> list[int]:
        return [int(w) for w in self._call("weights_of", epoch, to_checksum_address(address))]

    def commit_weights(self, commit_hash: bytes, *, sender: LocalAccount) -> Receipt:
        return self._send("commit_weights", commit_hash, sender=sender)

    def reveal_weights(self, weights: Sequence[int], salt: bytes, *, sender: LocalAccount) -> Receipt:
        return self._send("reveal_weights", list(weights), salt, sender=sender)

    # --- owner -----------------------------------------------------------------------------------
    def set_emission(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_emission", amount, sender=sender)

    def set_split(self, node_bps: int, validator_bps: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_split", node_bps, validator_bps, sender=sender)

    def set_kappa(self, bps: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_kappa", bps, sender=sender)

    def set_alpha(self, bps: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_alpha", bps, sender=sender)

    def set_miss_penalty(self, bps: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_miss_penalty", bps, sender=sender)

    def set_locker(self, locker: str, allowed: bool, *, sender: LocalAccount) -> Receipt:
        """Allow a dispute contract (FheQuorum) to lock and penalise validator stake."""
        return self._send("set_locker", to_checksum_address(locker), allowed, sender=sender)

    # --- finalisation ----------------------------------------------------------------------------
    def next_epoch_to_finalize(self) -> int | None:
        """The oldest ended-or-running epoch with commits not finalised yet; None if there is none."""
        exists, epoch = self._call("next_epoch_to_finalize")
        return int(epoch) if exists else None

    def finalized(self, epoch: int) -> bool:
        return bool(self._call("finalized", epoch))

    def finalize_epoch(self, *, sender: LocalAccount) -> Receipt:
        """Finalise the oldest ended epoch with commits (anyone may); see :meth:`finalized_epoch`."""
        return self._send("finalize_epoch", sender=sender)

    def finalized_epoch(self, rcpt: Receipt) -> FinalizedEpoch:
        """What the ``finalize_epoch`` transaction ``rcpt`` credited."""
        fins = self._events("EpochFinalized", rcpt)
        if not fins:
            raise ChainError(f"no EpochFinalized event from {self.address} in {rcpt.tx_hash}")
        fin = fins[0]
        return FinalizedEpoch(
            epoch=int(fin["epoch"]),
            revealed=int(fin["revealed"]),
            node_total=int(fin["node_total"]),
            validator_total=int(fin["validator_total"]),
            owner_total=int(fin["owner_total"]),
            nodes=[
                NodeEmission(ev["node"], int(ev["consensus"]), int(ev["amount"]))
                for ev in self._events("NodeEmission", rcpt)
            ],
            validators=[
                ValidatorEmission(ev["validator"], int(ev["bond"]), int(ev["amount"]))
                for ev in self._events("ValidatorEmission", rcpt)
            ],
            missed={ev["validator"]: int(ev["penalty"]) for ev in self._events("RevealMissed", rcpt)},
        )
