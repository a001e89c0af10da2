"""Typed errors of the agents part, all under :class:`veilproof.errors.VeilproofError`.

Why a policy error hierarchy: an agent (or the program driving it) must tell "over today's budget,
try tomorrow" from "this contract is not allowed, ask the owner" without parsing strings, and must
learn it *before* a transaction is sent and gas is spent.
"""

from __future__ import annotations

from veilproof.errors import VeilproofError


class AgentError(VeilproofError):
    """Something about an agent, its identity or its wallet is wrong."""


class StealthError(AgentError):
    """A stealth key, meta-address or announcement is malformed."""


class PolicyViolation(AgentError):
    """A spend the wallet's on-chain policy would refuse; raised before any transaction.

    ``reason`` is the revert string the contract would give, so Python and chain agree.
    """

    reason = "policy violation"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}")


class WalletPaused(PolicyViolation):
    reason = "wallet paused"


class NotAgentKey(PolicyViolation):
    reason = "not agent"


class TargetNotAllowed(PolicyViolation):
    reason = "target not allowed"


class OverPaymentCap(PolicyViolation):
    reason = "over payment cap"


class OverDailyCap(PolicyViolation):
    reason = "over daily cap"


class InsufficientFunds(PolicyViolation):
    reason = "insufficient balance"
