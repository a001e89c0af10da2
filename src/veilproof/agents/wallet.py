"""Agent wallets: an agent's capital, spendable by its key only within the owner's policy.

Why check in Python too: the contract is the guard (a breach reverts), but an agent that finds out
by reverting wastes gas and learns only a string. ``AgentWalletClient.check_spend`` reads the policy
and today's spending from chain and raises a typed :class:`PolicyViolation` *before* any
transaction; its ``reason`` equals the contract's revert string, so both layers tell one story.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.agents.errors import (
    InsufficientFunds,
    NotAgentKey,
    OverDailyCap,
    OverPaymentCap,
    PolicyViolation,
    TargetNotAllowed,
    WalletPaused,
)
from veilproof.agents.payments import StealthPayment
from veilproof.agents.stealth import StealthMetaAddress, generate_stealth_address
from veilproof.chain.facade import Call, ContractFacade, call_data
from veilproof.chain.job_market import JobMarket, JobMode
from veilproof.chain.model_registry import ModelRegistry
from veilproof.chain.network import Network, Receipt
from veilproof.chain.token import Token

DAY = 86400
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class WalletPolicy:
    """The owner's rules for the agent key."""

    per_payment_cap: int
    daily_cap: int
    allowed_targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class WalletState:
    """Everything a spend check needs, read from chain in one go."""

    owner: str
    agent: str
    token: str
    announcer: str | None
    per_payment_cap: int
    daily_cap: int
    paused: bool
    balance: int
    spent_today: int
    day: int

    @property
    def remaining_today(self) -> int:
        return max(0, self.daily_cap - self.spent_today)


class AgentWalletClient(ContractFacade):
    """Typed access to one AgentWallet contract."""

    CONTRACT = "AgentWallet"

    # --- deployment and owner operations ---------------------------------------------------------
    @classmethod
    def deploy(
        cls,
        net: Network,
        owner: LocalAccount,
        agent: str,
        token: str,
        policy: WalletPolicy,
        announcer: str | None = None,
        fund: int = 0,
    ) -> AgentWalletClient:
        """Deploy a wallet for ``agent`` owned by ``owner``, allow its targets, and fund it from ``owner``."""
        c = net.deploy(
            "AgentWallet",
            to_checksum_address(agent),
            to_checksum_address(token),
            policy.per_payment_cap,
            policy.daily_cap,
            to_checksum_address(announcer or ZERO_ADDRESS),
            sender=owner,
        )
        w = cls(net, str(c.address))
        for t in policy.allowed_targets:
            w.set_target(owner, t, True)
        if fund:
            Token(net, token).transfer(w.address, fund, sender=owner)
        return w

    def set_policy(self, owner: LocalAccount, per_payment_cap: int, daily_cap: int) -> Receipt:
        return self._send("set_policy", per_payment_cap, daily_cap, sender=owner)

    def set_target(self, owner: LocalAccount, target: str, allowed: bool) -> Receipt:
        return self._send("set_target", to_checksum_address(target), allowed, sender=owner)

    def pause(self, owner: LocalAccount) -> Receipt:
        return self._send("pause", sender=owner)

    def unpause(self, owner: LocalAccount) -> Receipt:
        return self._send("unpause", sender=owner)

    def withdraw(self, owner: LocalAccount, amount: int = 0, token: str | None = None) -> Receipt:
        """Owner pulls ``amount`` (everything when 0) of ``token`` (the wallet's token by default)."""
        tok = to_checksum_address(token or self.state().token)
        return self._send("withdraw", tok, amount, sender=owner)

    # --- reading ---------------------------------------------------------------------------------
    def state(self) -> WalletState:
        call = self._call
        token = call("token")
        announcer = call("announcer")
        bal = Token(self.net, token).balance_of(self.address)
        return WalletState(
            owner=call("owner"),
            agent=call("agent"),
            token=token,
            announcer=None if announcer == ZERO_ADDRESS else announcer,
            per_payment_cap=int(call("per_payment_cap")),
            daily_cap=int(call("daily_cap")),
            paused=bool(call("paused")),
            balance=bal,
            spent_today=int(call("spent_today")),
            day=self.net.now() // DAY,
        )

    def is_allowed(self, target: str) -> bool:
        return bool(self._call("allowed_target", to_checksum_address(target)))

    def check_spend(self, sender: str, amount: int, target: str | None = None) -> WalletState:
        """Raise the :class:`PolicyViolation` the contract would revert with, else return the state.

        Checked in the contract's order: agent key, pause, target, caps, balance.
        """
        st = self.state()
        if to_checksum_address(sender) != to_checksum_address(st.agent):
            raise NotAgentKey(f"{sender} is not this wallet's agent key {st.agent}")
        if st.paused:
            raise WalletPaused(f"owner {st.owner} paused wallet {self.address}")
        if target is not None and (
            not self.is_allowed(target) or to_checksum_address(target) == to_checksum_address(st.token)
        ):
            raise TargetNotAllowed(f"{target} is not an allowed target of wallet {self.address}")
        if amount > st.balance:
            raise InsufficientFunds(f"needs {amount}, wallet holds {st.balance}")
        if amount > st.per_payment_cap:
            raise OverPaymentCap(f"{amount} exceeds the per-payment cap {st.per_payment_cap}")
        if st.spent_today + amount > st.daily_cap:
            raise OverDailyCap(
                f"{amount} on top of {st.spent_today} spent today exceeds the daily cap {st.daily_cap} "
                f"(resets at day {st.day + 1}, unix {DAY * (st.day + 1)})"
            )
        return st

    # --- agent actions ---------------------------------------------------------------------------
    def pay_job(
        self,
        agent: LocalAccount,
        market: JobMarket,
        model_id: int,
        node: str,
        input_commitment: bytes,
        mode: JobMode | int,
        deadline: int,
        price: int | None = None,
        precheck: bool = True,
        eval_keys_hash: bytes | None = None,
    ) -> int:
        """Open a job paid from the wallet; returns the job id. ``price`` (the most the wallet pays)
        defaults to the model's; ``eval_keys_hash`` is required for FHE jobs (see JobMarket.open_job)."""
        if price is None:
            price = ModelRegistry(self.net, market.models_address()).read_model(model_id).price
        if precheck:
            self.check_spend(agent.address, price, target=market.address)
        rcpt = self.send_pay_job(
            agent, market, model_id, node, input_commitment, mode, deadline, price, eval_keys_hash
        )
        return market.opened_job_id(rcpt)

    def send_pay_job(
        self,
        agent: LocalAccount,
        market: JobMarket,
        model_id: int,
        node: str,
        input_commitment: bytes,
        mode: JobMode | int,
        deadline: int,
        price: int,
        eval_keys_hash: bytes | None = None,
    ) -> Receipt:
        """``AgentWallet.pay_job`` as is, no policy check: escrow ``price`` and open the job in one
        transaction (the job id is ``market.opened_job_id(receipt)``)."""
        return self._send(
            "pay_job", market.address, model_id, to_checksum_address(node), input_commitment, int(mode),
            deadline, eval_keys_hash or bytes(32), price, sender=agent,
        )  # fmt: skip

    def pay(self, agent: LocalAccount, to: str, amount: int, precheck: bool = True) -> Receipt:
        if precheck:
            self.check_spend(agent.address, amount)
        return self._send("pay", to_checksum_address(to), amount, sender=agent)

    def pay_stealth(
        self, agent: LocalAccount, meta: StealthMetaAddress, amount: int, precheck: bool = True
    ) -> StealthPayment:
        """Pay a fresh stealth address of ``meta`` and announce it, in one transaction."""
        if precheck:
            st = self.check_spend(agent.address, amount)
            if st.announcer is None:
                raise PolicyViolation(f"wallet {self.address} has no announcer set")
            token = st.token
        else:
            token = self._call("token")
        sa = generate_stealth_address(meta)
        rcpt = self._send(
            "pay_stealth", sa.address, amount, sa.ephemeral_pubkey, sa.metadata(token, amount), sender=agent
        )
        return StealthPayment(sa, token, amount, (rcpt.tx_hash,))

    def execute(self, agent: LocalAccount, call: Call, precheck: bool = True) -> Receipt:
        """Send a contract call (e.g. ``market.accept_call(job_id)``) from the wallet to an allowed target."""
        target = str(call.address)
        if precheck:
            self.check_spend(agent.address, 0, target=target)
        return self._send("execute", target, call_data(call), sender=agent)
