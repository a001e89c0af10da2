"""``Grants``: DAO grants escrowed per milestone, released by an on-chain check or a vote
(contracts/Grants.vy, owned by the DAO timelock; docs/dao.md).

Creating, approving and cancelling are owner-only, so they are proposal actions
(:meth:`Grants.create_actions`, :meth:`approve_call`, :meth:`cancel_call`); :meth:`release` of a
CHECK_MODEL milestone is open to anyone once the recipient's model passes the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import Call, ContractFacade
from veilproof.chain.network import Receipt
from veilproof.errors import InputError


class Check(IntEnum):
    VOTE = 0  # released only by an executed proposal
    MODEL = 1  # released by anyone when the recipient's model meets the lineage + ZK check


@dataclass(frozen=True)
class Milestone:
    amount: int
    check: Check = Check.VOTE
    dataset_id: int = 0  # MODEL: trained on this dataset (0: any)
    code_hash: bytes = b"\x00" * 32  # MODEL: this training_code_hash (zero: any)
    released: bool = False

    def as_tuple(self) -> tuple[int, int, int, bytes, bool]:
        if self.amount <= 0:
            raise InputError("milestone amount", "a positive VEIL amount (wei)", str(self.amount))
        if len(self.code_hash) != 32:
            raise InputError("milestone code_hash", "32 bytes", self.code_hash.hex())
        return (self.amount, int(self.check), self.dataset_id, bytes(self.code_hash), self.released)


@dataclass(frozen=True)
class GrantInfo:
    grant_id: int
    recipient: str
    escrowed: int
    first_model: int
    cancelled: bool
    milestones: tuple[Milestone, ...]


class OptimisticState(IntEnum):
    UNKNOWN = 0
    PENDING = 1
    PASSED = 2
    REJECTED = 3


@dataclass(frozen=True)
class OptimisticInfo:
    proposal_id: int
    recipient: str
    total: int
    snapshot: int  # wVEIL timepoint objections are weighed at
    deadline: int  # last second objections are accepted
    objections: int
    state: OptimisticState
    grant_id: int  # the grant made when it passed (0 otherwise)


class Grants(ContractFacade):
    CONTRACT = "Grants"

    def token(self) -> str:
        return str(self._call("token"))

    def owner(self) -> str:
        return str(self._call("owner"))

    def grant_count(self) -> int:
        return int(self._call("grant_count"))

    def grant(self, grant_id: int) -> GrantInfo:
        g = self._call("grant", grant_id)
        ms = self._call("milestones", grant_id)
        return GrantInfo(
            grant_id=grant_id,
            recipient=str(g[0]),
            escrowed=int(g[1]),
            first_model=int(g[2]),
            cancelled=bool(g[3]),
            milestones=tuple(
                Milestone(int(m[0]), Check(int(m[1])), int(m[2]), bytes(m[3]), bool(m[4])) for m in ms
            ),
        )

    def create_call(self, recipient: str, milestones: Sequence[Milestone]) -> Call:
        if not milestones:
            raise InputError("milestones", "at least one milestone", "none")
        return self._fn("create_grant", to_checksum_address(recipient), [m.as_tuple() for m in milestones])

    def approve_call(self, grant_id: int, index: int) -> Call:
        return self._fn("approve", grant_id, index)

    def cancel_call(self, grant_id: int) -> Call:
        return self._fn("cancel", grant_id)

    def release(self, grant_id: int, index: int, model_id: int, *, sender: LocalAccount) -> Receipt:
        return self._send("release", grant_id, index, model_id, sender=sender)

    # --- optimistic track: small grants pass unless enough wVEIL (at the snapshot) objects -------
    def budget(self) -> int:
        """VEIL held for optimistic grants and not reserved by a pending proposal."""
        return int(self._call("budget"))

    def optimistic_params(self) -> tuple[int, int, int]:
        """(largest optimistic total, objection window in seconds, objection threshold in bps)."""
        return (
            int(self._call("optimistic_max")),
            int(self._call("objection_window")),
            int(self._call("objection_bps")),
        )

    def fund_budget_call(self, amount: int) -> Call:
        """For a proposal: move ``amount`` VEIL from the treasury (approve first) into the budget."""
        return self._fn("fund_budget", amount)

    def withdraw_budget_call(self, amount: int) -> Call:
        """For a proposal: return unreserved budget to the treasury."""
        return self._fn("withdraw_budget", amount)

    def propose_optimistic(
        self, recipient: str, milestones: Sequence[Milestone], *, sender: LocalAccount
    ) -> int:
        """Propose a small grant on the optimistic track; returns its optimistic proposal id."""
        if not milestones:
            raise InputError("milestones", "at least one milestone", "none")
        self.last_receipt: Receipt | None = self._send(
            "propose_optimistic",
            to_checksum_address(recipient),
            [m.as_tuple() for m in milestones],
            sender=sender,
        )
        return int(self._call("optimistic_count"))

    def object(self, proposal_id: int, *, sender: LocalAccount) -> Receipt:
        """Object with the sender's wVEIL votes at the proposal's snapshot."""
        return self._send("object", proposal_id, sender=sender)

    def finalize_optimistic(self, proposal_id: int, *, sender: LocalAccount) -> Receipt:
        """After the window: the proposal becomes a grant, or is rejected and its reservation freed."""
        return self._send("finalize_optimistic", proposal_id, sender=sender)

    def optimistic(self, proposal_id: int) -> OptimisticInfo:
        o = self._call("optimistic", proposal_id)
        return OptimisticInfo(
            proposal_id=proposal_id,
            recipient=str(o[0]),
            total=int(o[1]),
            snapshot=int(o[2]),
            deadline=int(o[3]),
            objections=int(o[4]),
            state=OptimisticState(int(o[5])),
            grant_id=int(o[6]),
        )
