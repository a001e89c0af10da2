"""``Agent``: the one object an autonomous agent holds — its identity, its capped wallet, its key.

Why the wallet is the job's client: the agent's capital stays in a contract the owner controls, the
caps apply to every job, refunds land back in the wallet, and the reputation the agent earns (and
the feedback rights it gets) attach to the wallet address the registry binds to its identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from veilproof.agents.identity import Identity
from veilproof.agents.payments import StealthPayment, StealthRegistryClient
from veilproof.agents.reputation import ReputationClient
from veilproof.agents.stealth import StealthMetaAddress
from veilproof.agents.wallet import AgentWalletClient, WalletState
from veilproof.chain.job_market import JobMarket, JobMode
from veilproof.chain.network import Receipt


@dataclass
class Agent:
    """An agent: ``identity`` (may be None for an unregistered bot), ``wallet``, and its ``key``."""

    identity: Identity | None
    wallet: AgentWalletClient
    key: LocalAccount
    market: JobMarket
    reputation: ReputationClient | None = None
    stealth_registry: StealthRegistryClient | None = None

    @property
    def address(self) -> str:
        """The address the network sees for this agent: its wallet."""
        return self.wallet.address

    def state(self) -> WalletState:
        return self.wallet.state()

    def can_spend(self, amount: int, target: str | None = None) -> bool:
        try:
            self.wallet.check_spend(self.key.address, amount, target)
        except Exception:
            return False
        return True

    def pay_job(
        self,
        model_id: int,
        node: str,
        input_commitment: bytes,
        mode: JobMode | int,
        deadline: int,
        price: int | None = None,
        eval_keys_hash: bytes | None = None,
    ) -> int:
        """Open (and escrow) a job from the wallet; a policy breach raises before any transaction.

        ``price``: the most the wallet pays (default: the model's price now); ``eval_keys_hash``:
        FHE jobs commit the sha256 of the evaluation keys given to the node."""
        return self.wallet.pay_job(
            self.key, self.market, model_id, node, input_commitment, mode, deadline, price,
            eval_keys_hash=eval_keys_hash,
        )  # fmt: skip

    def accept(self, job_id: int) -> Receipt:
        """Accept a submitted FHE result (the wallet is the job's client)."""
        return self.wallet.execute(self.key, self.market.accept_call(job_id))

    def refund(self, job_id: int) -> Receipt:
        return self.wallet.execute(self.key, self.market.refund_call(job_id))

    def collect_refunds(self) -> Receipt:
        """Pull refunds the market owes the wallet back into it."""
        return self.wallet.execute(self.key, self.market.withdraw_call())

    def give_feedback(self, job_id: int, score: int, tags: Sequence[str] = ()) -> Receipt:
        if self.reputation is None:
            raise ValueError("agent has no reputation contract configured")
        return self.wallet.execute(self.key, self.reputation.feedback_call(job_id, score, tags))

    def pay_stealth(self, recipient: str | StealthMetaAddress, amount: int) -> StealthPayment:
        """Pay ``recipient`` (an address with a published meta-address, or the meta-address) privately."""
        if isinstance(recipient, StealthMetaAddress):
            meta = recipient
        else:
            if self.stealth_registry is None:
                raise ValueError("agent has no stealth registry configured")
            meta = self.stealth_registry.require_meta_address(recipient)
        return self.wallet.pay_stealth(self.key, meta, amount)
