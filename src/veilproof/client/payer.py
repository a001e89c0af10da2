"""Who pays for a job and acts as its client on chain: an account directly, or an agent's wallet.

Why a role of its own: the JobMarket only lets the job's client accept, refund, challenge or
withdraw. When an agent buys inference, the client is its AgentWallet (spending within the owner's
policy) and every one of those calls goes through the wallet; the request to the node is still
signed by the agent's key, which the node checks with ERC-1271 against the wallet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol

from eth_account.signers.local import LocalAccount

from veilproof.chain.facade import Call
from veilproof.chain.suite import Suite
from veilproof.errors import ContractReverted, InputError


class Payer(Protocol):
    """The job's client on chain."""

    @property
    def address(self) -> str: ...

    def open_job(
        self,
        model_id: int,
        node: str,
        commitment: bytes,
        mode: int,
        deadline: int,
        price: int,
        eval_keys_hash: bytes | None = None,
    ) -> tuple[int, str]:
        """Open the job, paying at most ``price`` (the price the client saw: the market reverts if
        it rose since); FHE jobs commit ``eval_keys_hash``, the sha256 of the keys sent to the node."""
        ...

    def call(self, fn: Call) -> str:
        """Send a JobMarket call (``market.accept_call(...)``, refund, challenge_zk, withdraw) as the
        job's client."""
        ...


class DirectPayer:
    """The signing account is the client: approve + open_job from the account itself.

    Approvals ahead: when the market's allowance is short, approve ``approve_jobs_ahead`` jobs' worth
    at this price, not one job's. Why: an approval per job was one mined transaction of the five an
    FHE job costs (a fifth of the client's CPU per FHE job, measured under load). Why it is safe: the
    markets pull tokens only from ``msg.sender`` in the client's own calls (``open_job``, a demand's
    bond), so an allowance left over is spendable only by this account's own transactions; set
    ``approve_jobs_ahead=1`` to approve each job exactly, as before. The allowance is read from the
    chain whenever the payer's own count says it is short, and once more if the token refuses the
    transfer for want of allowance (another payer of the same account spent it meanwhile)."""

    def __init__(self, suite: Suite, account: LocalAccount, approve_jobs_ahead: int = 10) -> None:
        if approve_jobs_ahead < 1:
            raise InputError(
                "approve_jobs_ahead", "a whole number >= 1 (1 approves each job exactly)", approve_jobs_ahead
            )
        self.suite = suite
        self.account = account
        self.approve_jobs_ahead = approve_jobs_ahead
        # What this process believes the market may still pull from the account (reserved per job),
        # shared by every payer of the account in this process (a client's behaviours, its threads).
        self._ledger = _ledger_of(suite, account.address)

    @property
    def address(self) -> str:
        return self.account.address

    def open_job(
        self,
        model_id: int,
        node: str,
        commitment: bytes,
        mode: int,
        deadline: int,
        price: int,
        eval_keys_hash: bytes | None = None,
    ) -> tuple[int, str]:
        market = self.suite.market
        for attempt in (1, 2):
            if price:
                self._reserve(price, fresh=attempt == 2)
            try:
                rcpt = market.open_job(
                    model_id, node, commitment, mode, deadline, max_price=price, eval_keys_hash=eval_keys_hash,
                    sender=self.account,
                )  # fmt: skip
            except ContractReverted as e:
                with self._ledger.lock:
                    self._ledger.left = 0  # unknown now: read it again before the next job
                if attempt == 1 and price and _allowance_short(e.reason):
                    continue  # the allowance was spent by another payer of this account: once more
                raise
            return market.opened_job_id(rcpt), rcpt.tx_hash
        raise AssertionError("unreachable")  # the second attempt returns or raises

    def _reserve(self, price: int, fresh: bool) -> None:
        """Set ``price`` aside from the allowance, approving ``approve_jobs_ahead`` prices if the
        chain's allowance is short too."""
        token, market, book = self.suite.token, self.suite.market.address, self._ledger
        with book.lock:
            if fresh or book.left < price:
                book.left = token.allowance(self.address, market)
            if book.left < price:
                amount = price * self.approve_jobs_ahead
                token.approve(market, amount, sender=self.account)
                book.left = amount
            book.left -= price

    def call(self, fn: Call) -> str:
        return self.suite.net.transact(fn, sender=self.account).tx_hash


@dataclass
class _Allowance:
    left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_LEDGERS: dict[tuple[int, str, str, str], _Allowance] = {}
_LEDGERS_LOCK = threading.Lock()


def _ledger_of(suite: Suite, owner: str) -> _Allowance:
    """The process's allowance count for ``owner`` at this chain's market (one per account, token and
    market): payers of one account that counted apart kept spending each other's allowance and paid a
    refused transfer and a retry for it."""
    key = (suite.net.chain_id, suite.token.address.lower(), suite.market.address.lower(), owner.lower())
    with _LEDGERS_LOCK:
        return _LEDGERS.setdefault(key, _Allowance())


def _allowance_short(reason: str | None) -> bool:
    """A refusal that says the market could not pull the price: our Token's "insufficient allowance",
    OpenZeppelin's ``ERC20InsufficientAllowance``, or the market's own "transfer failed" (a token that
    returns false)."""
    r = (reason or "").lower()
    return "allowance" in r or "transfer failed" in r
