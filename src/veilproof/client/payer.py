"""Who pays for a job and acts as its client on chain: an account directly, or an agent's wallet.

Why a role of its own: the JobMarket only lets the job's client accept, refund, challenge or
withdraw. When an agent buys inference, the client is its AgentWallet (spending within the owner's
policy) and every one of those calls goes through the wallet; the request to the node is still
signed by the agent's key, which the node checks with ERC-1271 against the wallet.
"""

from __future__ import annotations

from typing import Protocol

from eth_account.signers.local import LocalAccount

from veilproof.chain.facade import Call
from veilproof.chain.suite import Suite


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
    """The signing account is the client: approve + open_job from the account itself."""

    def __init__(self, suite: Suite, account: LocalAccount) -> None:
        self.suite = suite
        self.account = account

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
        token, market = self.suite.token, self.suite.market
        if price:
            token.approve(market.address, price, sender=self.account)
        rcpt = market.open_job(
            model_id, node, commitment, mode, deadline, max_price=price, eval_keys_hash=eval_keys_hash,
            sender=self.account,
        )  # fmt: skip
        return market.opened_job_id(rcpt), rcpt.tx_hash

    def call(self, fn: Call) -> str:
        return self.suite.net.transact(fn, sender=self.account).tx_hash
