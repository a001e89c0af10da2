"""The DAO: OpenZeppelin Governor + TimelockController over every admin power (docs/dao.md).

Why OpenZeppelin and not our own Vyper: a governor is where a subtle bug hands the protocol to an
attacker; OZ's is audited and the de-facto standard (Compound Bravo-compatible, Tally-readable).
Voting power is wVEIL (``VeilVotes``: VEIL wrapped 1:1 with ERC20Votes checkpoints) read at each
proposal's snapshot, so VEIL bought or flash-borrowed after a proposal is made counts zero.
The clock is block timestamps: delays and periods are seconds on the embedded chain and on anvil.

Flow: :func:`deploy_dao` (wVEIL, timelock, governor, grants), then :func:`hand_over` moves every
``owner`` and every treasury of the suite to the timelock. From then on a change is
``propose -> vote -> queue -> (timelock delay) -> execute``, and the contracts' own bounds still apply.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from web3.contract import Contract

from veilproof.chain.deploy import ONE_VEIL, Deployment
from veilproof.chain.facade import Call, ContractFacade, call_data
from veilproof.chain.network import Network, Receipt
from veilproof.chain.solidity import governance_contract
from veilproof.errors import ConfigError, ContractReverted

ZERO = "0x" + "00" * 20


class ProposalState(IntEnum):
    """OZ ``IGovernor.ProposalState``."""

    PENDING = 0
    ACTIVE = 1
    CANCELED = 2
    DEFEATED = 3
    SUCCEEDED = 4
    QUEUED = 5
    EXPIRED = 6
    EXECUTED = 7


class Vote(IntEnum):
    """GovernorCountingSimple's support values."""

    AGAINST = 0
    FOR = 1
    ABSTAIN = 2


@dataclass(frozen=True)
class DaoParams:
    """Governance timing and thresholds (seconds; amounts in wVEIL wei).

    Production defaults follow common OZ deployments: a day's notice before voting opens (holders
    can wrap and delegate), five days of voting (turnout), 4% quorum, a two-day timelock (anyone who
    disagrees with a passed change can unbond or leave before it lands). :meth:`dev` is for tests
    and the demo."""

    voting_delay: int = 24 * 3600
    voting_period: int = 5 * 24 * 3600
    proposal_threshold: int = 1_000 * ONE_VEIL
    quorum_percent: int = 4
    timelock_delay: int = 2 * 24 * 3600
    # address-valued admin calls (verifier, arbiter, slasher, minter, treasury, owner) wait the
    # NodeRegistry's unbond delay plus this margin: a node that starts unbonding when such a call
    # is queued has its stake out (with this much slack to notice) before the call can run
    address_delay_margin: int = 2 * 24 * 3600
    # optimistic track (Grants): a grant up to optimistic_max from the funded budget passes after
    # objection_window unless wVEIL holding objection_bps of the supply objects (4% = the quorum)
    optimistic_max: int = 1_000 * ONE_VEIL
    objection_window: int = 3 * 24 * 3600
    objection_bps: int = 400

    @classmethod
    def dev(cls) -> DaoParams:
        return cls(
            voting_delay=60,
            voting_period=600,
            proposal_threshold=0,
            quorum_percent=4,
            timelock_delay=300,
            address_delay_margin=300,
            objection_window=600,
        )

    def check(self) -> DaoParams:
        if self.voting_period <= 0:
            raise ConfigError("voting_period must be positive (seconds)")
        if not 0 < self.quorum_percent <= 100:
            raise ConfigError(f"quorum_percent {self.quorum_percent}: expected 1..100")
        if self.voting_delay < 0 or self.timelock_delay < 0:
            raise ConfigError("voting_delay and timelock_delay must be >= 0 seconds")
        if not 0 < self.optimistic_max <= 100_000 * ONE_VEIL or self.objection_window <= 0:
            raise ConfigError(
                "optimistic_max must be in (0, 100,000 VEIL] and objection_window > 0 seconds "
                f"(got {self.optimistic_max}, {self.objection_window})"
            )
        if not 0 < self.objection_bps <= 10_000:
            raise ConfigError(
                f"objection_bps {self.objection_bps}: expected 1..10000 (share of wVEIL supply)"
            )
        if self.address_delay_margin <= 0:
            raise ConfigError(
                f"address_delay_margin {self.address_delay_margin}: expected > 0 seconds (the slack a node "
                "gets, beyond its unbonding delay, before an address-valued admin call can run)"
            )
        return self


@lru_cache(maxsize=1)
def _custom_errors() -> dict[str, str]:
    """Selector (hex) -> name of every custom error in the governance contracts' ABIs."""
    out = {}
    for n in ("VeilVotes", "VeilTimelock", "VeilGovernor"):
        for item in governance_contract(n).abi:
            if item.get("type") == "error":
                sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                out[keccak(text=sig)[:4].hex()] = item["name"]
    return out


def custom_error_name(reason: str) -> str | None:
    """The OZ custom error a revert's raw data names, or None. Backends hand the data over as hex
    (``0x5ead8eb5...``, anvil) or as a bytes repr (``b'^\\xad...'``, eth-tester)."""
    text = reason.strip()
    if text.startswith(("b'", 'b"')):
        try:
            raw = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return None
        text = bytes(raw).hex() if isinstance(raw, bytes) else ""
    text = text.lower()
    idx = text.find("0x")
    head = text[idx + 2 : idx + 10] if idx >= 0 else text[:8]
    return _custom_errors().get(head)


class _Solidity(ContractFacade):
    """A facade on one of the OZ-based contracts of ``contracts/solidity/Governance.sol``.

    OZ reverts with custom errors; :meth:`_send`/:meth:`_call` turn their selector into the error's
    name (``GovernorUnexpectedProposalState``) so callers see a reason, not hex."""

    SOL: ClassVar[str] = ""

    @classmethod
    def _bind(cls, net: Network, address: str) -> Contract:
        return net.w3.eth.contract(address=to_checksum_address(address), abi=governance_contract(cls.SOL).abi)

    def _named(self, e: ContractReverted) -> ContractReverted:
        name = custom_error_name(e.reason)
        return ContractReverted(name, e.function, e.tx_hash) if name else e

    def _call(self, name: str, *args: Any) -> Any:
        try:
            return super()._call(name, *args)
        except ContractReverted as e:
            raise self._named(e) from e

    def _send(
        self, name: str, *args: Any, sender: LocalAccount, value: int = 0, gas: int | None = None
    ) -> Receipt:
        try:
            return super()._send(name, *args, sender=sender, value=value, gas=gas)
        except ContractReverted as e:
            raise self._named(e) from e


class VotesToken(_Solidity):
    """wVEIL: deposit VEIL for votes (after ``approve``), delegate (to yourself to vote), withdraw."""

    SOL = "VeilVotes"

    def deposit(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("depositFor", sender.address, amount, sender=sender)

    def withdraw(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("withdrawTo", sender.address, amount, sender=sender)

    def delegate(self, to: str, *, sender: LocalAccount) -> Receipt:
        return self._send("delegate", to_checksum_address(to), sender=sender)

    def transfer(self, to: str, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("transfer", to_checksum_address(to), amount, sender=sender)

    def balance_of(self, address: str) -> int:
        return int(self._call("balanceOf", to_checksum_address(address)))

    def votes(self, address: str) -> int:
        return int(self._call("getVotes", to_checksum_address(address)))

    def past_votes(self, address: str, timepoint: int) -> int:
        return int(self._call("getPastVotes", to_checksum_address(address), timepoint))

    def total_supply(self) -> int:
        return int(self._call("totalSupply"))


class Timelock(_Solidity):
    """The TimelockController: owner of every admin function once :func:`hand_over` ran."""

    SOL = "VeilTimelock"

    def min_delay(self) -> int:
        return int(self._call("getMinDelay"))

    def address_delay(self) -> int:
        """Seconds an address-valued admin call (new verifier, slasher, minter, owner...) waits:
        the NodeRegistry's unbonding delay plus the deploy-time margin."""
        return int(self._call("addressDelay"))

    def is_address_power(self, data: bytes) -> bool:
        """Whether a call with this calldata waits :meth:`address_delay` instead of the min delay."""
        return bool(self._call("isAddressPower", data))

    def role(self, name: str) -> bytes:
        """``PROPOSER_ROLE``, ``EXECUTOR_ROLE``, ``CANCELLER_ROLE`` or ``DEFAULT_ADMIN_ROLE``."""
        return bytes(self._call(name))

    def has_role(self, role: str, account: str) -> bool:
        return bool(self._call("hasRole", self.role(role), to_checksum_address(account)))

    def grant_role(self, role: str, account: str, *, sender: LocalAccount) -> Receipt:
        return self._send("grantRole", self.role(role), to_checksum_address(account), sender=sender)

    def renounce_role(self, role: str, *, sender: LocalAccount) -> Receipt:
        return self._send("renounceRole", self.role(role), sender.address, sender=sender)


@dataclass(frozen=True)
class Action:
    """One call a proposal makes through the timelock: ``target.call{value}(data)``."""

    target: str
    data: bytes
    value: int = 0

    @classmethod
    def of(cls, call: Call, value: int = 0) -> Action:
        """From an unsent facade call (``market.set_challenge_window_call(...)``-style)."""
        return cls(to_checksum_address(call.address), call_data(call), value)


@dataclass(frozen=True)
class Proposal:
    """What identifies a proposal on chain: its actions and the hash of its description."""

    actions: tuple[Action, ...]
    description: str

    @property
    def description_hash(self) -> bytes:
        return keccak(text=self.description)

    def args(self) -> tuple[list[str], list[int], list[bytes]]:
        return (
            [a.target for a in self.actions],
            [a.value for a in self.actions],
            [a.data for a in self.actions],
        )


class Governor(_Solidity):
    """VeilGovernor: propose, vote, queue, execute; read state, votes and quorum."""

    SOL = "VeilGovernor"
    CONTRACT = "VeilGovernor"  # the name events_between gives its events (the explorer's handlers)
    last_receipt: Receipt | None = None  # of the latest propose (its gas, for docs/dao.md)

    def proposal_id(self, p: Proposal) -> int:
        return int(self._call("hashProposal", *p.args(), p.description_hash))

    def propose(self, p: Proposal, *, sender: LocalAccount) -> int:
        if not p.actions:
            raise ConfigError("a proposal needs at least one action")
        self.last_receipt = self._send("propose", *p.args(), p.description, sender=sender)
        return self.proposal_id(p)

    def vote(self, proposal_id: int, support: Vote, *, sender: LocalAccount, reason: str = "") -> Receipt:
        if reason:
            return self._send("castVoteWithReason", proposal_id, int(support), reason, sender=sender)
        return self._send("castVote", proposal_id, int(support), sender=sender)

    def queue(self, p: Proposal, *, sender: LocalAccount) -> Receipt:
        return self._send("queue", *p.args(), p.description_hash, sender=sender)

    def execute(self, p: Proposal, *, sender: LocalAccount) -> Receipt:
        value = sum(a.value for a in p.actions)
        return self._send("execute", *p.args(), p.description_hash, sender=sender, value=value)

    def cancel(self, p: Proposal, *, sender: LocalAccount) -> Receipt:
        """The proposer may cancel while the proposal is still pending."""
        return self._send("cancel", *p.args(), p.description_hash, sender=sender)

    def state(self, proposal_id: int) -> ProposalState:
        return ProposalState(int(self._call("state", proposal_id)))

    def snapshot(self, proposal_id: int) -> int:
        return int(self._call("proposalSnapshot", proposal_id))

    def deadline(self, proposal_id: int) -> int:
        return int(self._call("proposalDeadline", proposal_id))

    def eta(self, proposal_id: int) -> int:
        return int(self._call("proposalEta", proposal_id))

    def votes(self, proposal_id: int) -> tuple[int, int, int]:
        """(against, for, abstain) weights counted so far."""
        a, f, ab = self._call("proposalVotes", proposal_id)
        return int(a), int(f), int(ab)

    def has_voted(self, proposal_id: int, account: str) -> bool:
        return bool(self._call("hasVoted", proposal_id, to_checksum_address(account)))

    def quorum(self, timepoint: int) -> int:
        return int(self._call("quorum", timepoint))

    def voting_delay(self) -> int:
        return int(self._call("votingDelay"))

    def voting_period(self) -> int:
        return int(self._call("votingPeriod"))

    def proposal_threshold(self) -> int:
        return int(self._call("proposalThreshold"))

    def timelock(self) -> str:
        return str(self._call("timelock"))

    def token(self) -> str:
        return str(self._call("token"))


class Owned(ContractFacade):
    """The admin surface shared by our Vyper contracts: ``owner``, ``transfer_ownership`` and,
    where there is one, ``set_treasury``/``treasury``. Built for any contract by name."""

    def __init__(self, net: Network, name: str, address: str) -> None:
        self.name = name
        self.net = net
        self.contract = net.contract(name, address)

    def owner(self) -> str:
        return str(self._call("owner"))

    def treasury(self) -> str | None:
        if not any(i.get("name") == "treasury" for i in self.contract.abi):
            return None
        return str(self._call("treasury"))

    def has_treasury_setter(self) -> bool:
        return any(i.get("name") == "set_treasury" for i in self.contract.abi)

    def set_treasury(self, account: str, *, sender: LocalAccount) -> Receipt:
        return self._send("set_treasury", to_checksum_address(account), sender=sender)

    def transfer_ownership(self, new_owner: str, *, sender: LocalAccount) -> Receipt:
        return self._send("transfer_ownership", to_checksum_address(new_owner), sender=sender)

    def call(self, fn: str, *args: Any) -> Call:
        """An unsent admin call (for a proposal's :class:`Action`)."""
        return self._fn(fn, *args)


@dataclass
class Dao:
    """The DAO's contracts, with facades; ``Dao.attach(net, deployment)`` after :func:`deploy_dao`."""

    net: Network
    votes: VotesToken
    timelock: Timelock
    governor: Governor
    grants: Any  # veilproof.chain.grants.Grants (imported lazily: it imports this module)
    gas: dict[str, int] = field(default_factory=dict)

    @classmethod
    def attach(cls, net: Network, d: Deployment) -> Dao:
        from veilproof.chain.grants import Grants

        try:
            return cls(
                net=net,
                votes=VotesToken(net, d.extra["wveil"]),
                timelock=Timelock(net, d.extra["timelock"]),
                governor=Governor(net, d.extra["governor"]),
                grants=Grants(net, d.extra["grants"]),
            )
        except KeyError as e:
            raise ConfigError(f"no DAO in the deployment ({e.args[0]} missing): run deploy_dao first") from e


def deploy_dao(net: Network, owner: LocalAccount, d: Deployment, params: DaoParams | None = None) -> Dao:
    """Deploy wVEIL, the timelock, the governor and the grants escrow; wire the timelock's roles.

    The timelock's proposer (and canceller) is the governor alone; anyone may execute a queued
    operation once its delay has passed; the deployer's temporary admin role is renounced here, so
    after this call only the timelock administers itself. Records addresses in ``d.extra``.
    Admin powers of the suite stay with ``owner`` until :func:`hand_over`.
    """
    p = (params or DaoParams()).check()

    def deploy(name: str, *args: Any) -> Contract:
        c = governance_contract(name)
        return net.deploy_bytecode(c.abi, c.bytecode, *args, sender=owner, label=name)

    # the timelock holds address powers for NodeRegistry's unbond delay + margin; a validator
    # unbonding from Rewards must get out within that too (checked before anything is deployed)
    address_delay = int(Owned(net, "NodeRegistry", d.nodes)._call("unbond_delay")) + p.address_delay_margin
    rewards = getattr(d, "rewards", None) or d.extra.get("rewards")
    if rewards:
        rewards_delay = int(Owned(net, "Rewards", rewards)._call("unbond_delay"))
        if rewards_delay >= address_delay:
            raise ConfigError(
                f"Rewards unbond_delay {rewards_delay} s >= the timelock's address delay {address_delay} s: "
                "raise DaoParams.address_delay_margin so a validator can leave before a new locker lands"
            )
    wveil = deploy("VeilVotes", to_checksum_address(d.token))
    tl = deploy(
        "VeilTimelock",
        p.timelock_delay,
        to_checksum_address(d.nodes),
        p.address_delay_margin,
        [],
        [ZERO],
        owner.address,
    )
    gov = deploy(
        "VeilGovernor",
        wveil.address,
        tl.address,
        p.voting_delay,
        p.voting_period,
        p.proposal_threshold,
        p.quorum_percent,
    )
    timelock = Timelock(net, tl.address)
    timelock.grant_role("PROPOSER_ROLE", gov.address, sender=owner)
    timelock.grant_role("CANCELLER_ROLE", gov.address, sender=owner)
    timelock.renounce_role("DEFAULT_ADMIN_ROLE", sender=owner)
    verifier = d.extra.get("zk_adapter") or ZERO
    grants = net.deploy(
        "Grants",
        d.token,
        d.models,
        verifier,
        tl.address,
        wveil.address,
        p.optimistic_max,
        p.objection_window,
        p.objection_bps,
        sender=owner,
    )
    d.extra.update(
        {"wveil": wveil.address, "timelock": tl.address, "governor": gov.address, "grants": grants.address}
    )
    return Dao.attach(net, d)


# the suite's contracts with an owner, by their key in Deployment (core fields, then extra)
ADMIN_CONTRACTS: tuple[tuple[str, str], ...] = (
    ("token", "Token"),
    ("nodes", "NodeRegistry"),
    ("market", "JobMarket"),
    ("rewards", "Rewards"),
    ("fhe_quorum", "FheQuorum"),
    ("receipt_market", "ReceiptMarket"),
    ("pipeline_market", "PipelineMarket"),  # only with `veilproof deploy --pipelines`
)


def admin_contracts(net: Network, d: Deployment) -> list[Owned]:
    """Facades on every deployed contract of the suite that has an owner (ModelRegistry and the ZK
    adapter have none: a model's owner administers only that model)."""
    out = []
    for key, name in ADMIN_CONTRACTS:
        addr = getattr(d, key, None) or d.extra.get(key)
        if addr:
            out.append(Owned(net, name, addr))
    return out


def hand_over(net: Network, owner: LocalAccount, d: Deployment) -> dict[str, str]:
    """Move every admin power and every treasury of the suite to the DAO's timelock.

    Treasuries first (they need the owner), then ownership. Afterwards ``owner`` is an ordinary
    account: every ``set_*`` reverts "not owner" for it. Returns ``{contract: new owner}``.
    """
    timelock = d.extra.get("timelock")
    if not timelock:
        raise ConfigError("no timelock in the deployment: run deploy_dao first")
    out = {}
    for c in admin_contracts(net, d):
        if c.owner().lower() != owner.address.lower():
            raise ConfigError(
                f"{c.name} at {c.address} is owned by {c.owner()}, not {owner.address}: cannot hand it over"
            )
        if c.has_treasury_setter():
            c.set_treasury(timelock, sender=owner)
        c.transfer_ownership(timelock, sender=owner)
        out[c.name] = timelock
    d.extra["treasury"] = timelock
    d.owner = timelock
    return out


def action(net: Network, d: Deployment, contract: str, fn: str, *args: Any) -> Action:
    """A proposal action calling ``fn(*args)`` on one of the suite's contracts, named as in
    :data:`ADMIN_CONTRACTS` (``"JobMarket"``) or by deployment key (``"market"``)."""
    for key, name in ADMIN_CONTRACTS:
        if contract in (key, name):
            addr = getattr(d, key, None) or d.extra.get(key)
            if not addr:
                raise ConfigError(f"{name} is not deployed")
            return Action.of(Owned(net, name, addr).call(fn, *args))
    raise ConfigError(
        f"unknown contract {contract!r}: expected one of {', '.join(n for _, n in ADMIN_CONTRACTS)}"
    )


def run_proposal(
    dao: Dao,
    p: Proposal,
    *,
    proposer: LocalAccount,
    voters: Sequence[LocalAccount],
    support: Vote = Vote.FOR,
) -> tuple[int, dict[str, int]]:
    """Dev chains only: propose, wait the voting delay, vote, wait out the period, queue, wait the
    timelock delay, execute. Returns (proposal id, gas per step) — the demo's and tests' lifecycle."""
    net = dao.net
    gas: dict[str, int] = {}
    pid = dao.governor.propose(p, sender=proposer)
    assert dao.governor.last_receipt is not None
    gas["propose"] = dao.governor.last_receipt.gas_used
    net.advance_to(dao.governor.snapshot(pid) + 1)
    for v in voters:
        gas["castVote"] = dao.governor.vote(pid, support, sender=v).gas_used
    net.advance_to(dao.governor.deadline(pid) + 1)
    gas["queue"] = dao.governor.queue(p, sender=proposer).gas_used
    net.advance_to(dao.governor.eta(pid))
    gas["execute"] = dao.governor.execute(p, sender=proposer).gas_used
    return pid, gas


def grant_proposal(
    dao: Dao, d: Deployment, recipient: str, milestones: Sequence[Any], description: str
) -> Proposal:
    """A proposal that escrows a grant from the treasury (the timelock's VEIL): approve the grants
    contract for the total, then ``create_grant``. ``milestones`` are :class:`veilproof.chain.grants.Milestone`."""
    total = sum(int(m.amount) for m in milestones)
    return Proposal(
        (
            action(dao.net, d, "Token", "approve", dao.grants.address, total),
            Action.of(dao.grants.create_call(recipient, milestones)),
        ),
        description,
    )


def approve_milestone_proposal(dao: Dao, grant_id: int, index: int, description: str) -> Proposal:
    """A proposal that releases milestone ``index`` of ``grant_id`` by vote."""
    return Proposal((Action.of(dao.grants.approve_call(grant_id, index)),), description)


def cancel_grant_proposal(dao: Dao, grant_id: int, description: str) -> Proposal:
    """A proposal that cancels ``grant_id``; its unreleased escrow returns to the treasury."""
    return Proposal((Action.of(dao.grants.cancel_call(grant_id)),), description)
