"""Agent wallets: an agent's capital, spendable by its key only within the owner's policy.

Why check in Python too: the contract is the guard (a breach reverts), but an agent that finds out
by reverting wastes gas and learns only a string. ``AgentWalletClient.check_spend`` reads the policy
and today's spending from chain and raises a typed :class:`PolicyViolation` *before* any
transaction; its ``reason`` equals the contract's revert string, so both layers tell one story.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.logs import DISCARD

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
from veilproof.chain.network import Network, Receipt

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


class AgentWalletClient:
    """Typed access to one AgentWallet contract."""

    def __init__(self, net: Network, address: str) -> None:
        self.net = net
        self.contract: Contract = net.contract("AgentWallet", address)

    @property
    def address(self) -> str:
        return str(self.contract.address)

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
            tok = net.contract("Token", token)
            net.transact(tok.functions.transfer(w.address, fund), sender=owner)
        return w

    def set_policy(self, owner: LocalAccount, per_payment_cap: int, daily_cap: int) -> Receipt:
        return self.net.transact(self.contract.functions.set_policy(per_payment_cap, daily_cap), sender=owner)

    def set_target(self, owner: LocalAccount, target: str, allowed: bool) -> Receipt:
        return self.net.transact(
            self.contract.functions.set_target(to_checksum_address(target), allowed), sender=owner
        )

    def pause(self, owner: LocalAccount) -> Receipt:
        return self.net.transact(self.contract.functions.pause(), sender=owner)

    def unpause(self, owner: LocalAccount) -> Receipt:
        return self.net.transact(self.contract.functions.unpause(), sender=owner)

    def withdraw(self, owner: LocalAccount, amount: int = 0, token: str | None = None) -> Receipt:
        """Owner pulls ``amount`` (everything when 0) of ``token`` (the wallet's token by default)."""
        tok = to_checksum_address(token or self.state().token)
        return self.net.transact(self.contract.functions.withdraw(tok, amount), sender=owner)

    # --- reading ---------------------------------------------------------------------------------
    def state(self) -> WalletState:
        f = self.contract.functions
        call = self.net.call
        token = call(f.token())
        announcer = call(f.announcer())
        bal = int(call(self.net.contract("Token", token).functions.balanceOf(self.address)))
        return WalletState(
            owner=call(f.owner()),
            agent=call(f.agent()),
            token=token,
            announcer=None if announcer == ZERO_ADDRESS else announcer,
            per_payment_cap=int(call(f.per_payment_cap())),
            daily_cap=int(call(f.daily_cap())),
            paused=bool(call(f.paused())),
            balance=bal,
            spent_today=int(call(f.spent_today())),
            day=self.net.now() // DAY,
        )

    def is_allowed(self, target: str) -> bool:
        return bool(self.net.call(self.contract.functions.allowed_target(to_checksum_address(target))))

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
        market: Contract,
        model_id: int,
        node: str,
        input_commitment: bytes,
        mode: int,
        deadline: int,
        price: int | None = None,
        precheck: bool = True,
    ) -> int:
        """Open a job paid from the wallet; returns the job id. ``price`` defaults to the model's."""
        if price is None:
            models = self.net.contract("ModelRegistry", self.net.call(market.functions.models()))
            price = int(self.net.call(models.functions.model(model_id))[2])
        if precheck:
            self.check_spend(agent.address, price, target=str(market.address))
        fn = self.contract.functions.pay_job(
            market.address, model_id, to_checksum_address(node), input_commitment, mode, deadline, price
        )
        rcpt = self.net.transact(fn, sender=agent)
        (ev,) = market.events.JobOpened().process_receipt(rcpt.raw, errors=DISCARD)
        return int(ev["args"]["job_id"])

    def pay(self, agent: LocalAccount, to: str, amount: int, precheck: bool = True) -> Receipt:
        if precheck:
            self.check_spend(agent.address, amount)
        return self.net.transact(self.contract.functions.pay(to_checksum_address(to), amount), sender=agent)

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
            token = self.net.call(self.contract.functions.token())
        sa = generate_stealth_address(meta)
        fn = self.contract.functions.pay_stealth(
            sa.address, amount, sa.ephemeral_pubkey, sa.metadata(token, amount)
        )
        rcpt = self.net.transact(fn, sender=agent)
        return StealthPayment(sa, token, amount, (rcpt.tx_hash,))

    def execute(self, agent: LocalAccount, call: Any, precheck: bool = True) -> Receipt:
        """Send a contract call (a web3 ContractFunction) from the wallet to an allowed target."""
        target = str(call.address)
        if precheck:
            self.check_spend(agent.address, 0, target=target)
        data = call._encode_transaction_data()
        return self.net.transact(self.contract.functions.execute(target, data), sender=agent)
