"""``AgentPayer``: an agent's wallet as the job's client of :class:`veilproof.client.Client`.

Why a payer and not a Client subclass: the client SDK already does everything that is about the
*inference* (keys, encryption, checking hashes, decrypting); what changes for an agent is only *who
pays and who may accept/refund*. Here that is the AgentWallet: the job is escrowed by
``AgentWallet.pay_job`` and every later JobMarket call (accept, refund, challenge_zk, withdraw) goes
through ``AgentWallet.execute``, so refunds and feedback rights land in the wallet. The agent key
still signs the request to the node, which accepts it because the wallet vouches for that key
(ERC-1271).

Each call is checked against the wallet's policy first (:meth:`AgentWalletClient.check_spend`), so a
breach raises a typed :class:`~veilproof.agents.errors.PolicyViolation` before any transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

from veilproof.agents.agent import Agent
from veilproof.agents.errors import AgentError
from veilproof.chain.facade import Call
from veilproof.chain.network import Receipt


@dataclass(frozen=True)
class PaidCall:
    """One transaction the payer sent, kept so callers can report gas per wallet call."""

    label: str  # e.g. "pay_job", "execute(accept)"
    tx_hash: str
    gas_used: int


class AgentPayer:
    """Implements :class:`veilproof.client.payer.Payer` through ``agent.wallet``."""

    def __init__(self, agent: Agent, precheck: bool = True) -> None:
        """``precheck=False`` skips the Python policy check (the contract still reverts); for tests."""
        self.agent = agent
        self.precheck = precheck
        self.calls: list[PaidCall] = []

    @property
    def address(self) -> str:
        """The job's client on chain: the wallet, not the agent key."""
        return self.agent.wallet.address

    def _record(self, label: str, rcpt: Receipt) -> str:
        self.calls.append(PaidCall(label, rcpt.tx_hash, int(rcpt.gas_used)))
        return rcpt.tx_hash

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
        """Escrow ``price`` from the wallet and open the job (one transaction: ``AgentWallet.pay_job``).

        Raises the policy error the contract would revert with (over a cap, paused, market not
        allowed, not enough funds, wrong key) before sending anything.
        """
        wallet, market = self.agent.wallet, self.agent.market
        if self.precheck:
            wallet.check_spend(self.agent.key.address, price, target=market.address)
        rcpt = wallet.send_pay_job(
            self.agent.key, market, model_id, node, commitment, mode, deadline, price, eval_keys_hash
        )
        opened = market.opened_job_ids(rcpt)
        if len(opened) != 1:
            raise AgentError(f"pay_job {rcpt.tx_hash}: expected one JobOpened from {market.address}")
        return opened[0], self._record("pay_job", rcpt)

    def call(self, fn: Call) -> str:
        """Send a JobMarket call as the job's client, i.e. from the wallet via ``execute``."""
        market = self.agent.market
        if to_checksum_address(str(fn.address)) != to_checksum_address(str(market.address)):
            raise AgentError(f"AgentPayer.call is for JobMarket {market.address}, got {fn.address}")
        rcpt = self.agent.wallet.execute(self.agent.key, fn, precheck=self.precheck)
        return self._record(f"execute({fn.fn_name})", rcpt)
