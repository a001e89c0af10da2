"""``ContractFacade``: typed verbs on one deployed contract.

Why facades: nodes, clients, validators, agents and the CLI should say what they do
(``market.accept(job_id, sender=acct)``) and get typed values back, not spell ABI names, struct
field positions, event arguments or hashing rules in every caller. Each contract's encodings then
live once, beside its name, in this package: the only place web3's contract API is used.

A facade sends through :meth:`Network.transact` (local signing, receipt checks, revert reasons) and
reads through :meth:`Network.call`, exactly as callers did by hand. Subclasses outside this package
(the agents' wrappers) use the protected helpers below rather than ``.contract.functions``;
``.contract`` stays public for tests that exercise a contract itself.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from veilproof.chain.network import Network, Receipt

Call = ContractFunction
"""A bound contract call not sent yet: for senders that relay it (an AgentWallet's ``execute``).

``Network.transact(call, sender=...)`` sends one directly; ``call.address`` is its target and
``call.fn_name`` its function.
"""


def call_data(call: Call) -> bytes:
    """The calldata of ``call`` (selector and arguments), for a contract that forwards it."""
    return bytes.fromhex(str(call._encode_transaction_data()).removeprefix("0x"))


ZERO_ADDRESS = "0x" + "00" * 20
ZERO32_HEX = "00" * 32


def hex32(b: bytes) -> str:
    """A bytes32 as the bare lowercase hex the typed records use (no 0x, like sha256 hexdigests)."""
    return bytes(b).hex()


@dataclass(frozen=True)
class ChainEvent:
    """One decoded event log: where it happened (block, tx, log index) and its named arguments.

    Why a plain record: an indexer (veilproof.explorer) stores events without knowing web3's types;
    ``args`` values are ints, bools, str (addresses, strings), bytes (hashes) or lists of them.
    """

    contract: str  # the source name (``ContractFacade.CONTRACT``)
    address: str
    name: str
    args: dict[str, Any]
    block: int
    log_index: int
    tx_hash: str


class ContractFacade:
    """Typed access to one deployed contract: ``net``, ``address`` and the raw ``contract``.

    ``CONTRACT`` names its source, ``contracts/<CONTRACT>.vy``, whose ABI binds the address.
    """

    CONTRACT: ClassVar[str] = ""

    def __init__(self, net: Network, address: str) -> None:
        self.net = net
        self.contract: Contract = self._bind(net, address)

    @classmethod
    def _bind(cls, net: Network, address: str) -> Contract:
        """The web3 contract at ``address``; override for a contract that is not in contracts/."""
        if not cls.CONTRACT:
            raise TypeError(f"{cls.__name__} names no contract (set CONTRACT or override _bind)")
        return net.contract(cls.CONTRACT, address)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address})"

    # --- for subclasses: the only uses of web3's contract API ----------------------------------------
    def _fn(self, name: str, *args: Any) -> Call:
        """The unsent call ``name(*args)``."""
        return getattr(self.contract.functions, name)(*args)

    def _call(self, name: str, *args: Any) -> Any:
        """Read-only call of ``name(*args)``; reverts raise ContractReverted."""
        return self.net.call(self._fn(name, *args))

    def _send(
        self,
        name: str,
        *args: Any,
        sender: LocalAccount,
        value: int = 0,
        gas: int | None = None,
    ) -> Receipt:
        """Send ``name(*args)`` signed by ``sender`` and return its checked receipt."""
        return self.net.transact(self._fn(name, *args), sender=sender, value=value, gas=gas)

    def _events(self, name: str, rcpt: Receipt) -> list[dict[str, Any]]:
        """Arguments of each ``name`` event this contract emitted in ``rcpt``, in log order.

        Logs of other contracts are skipped, even when they share the event's signature.
        """
        event = getattr(self.contract.events, name)()
        return [
            dict(lg["args"])
            for lg in event.process_receipt(rcpt.raw, errors=DISCARD)
            if to_checksum_address(lg["address"]) == self.address
        ]

    def _logs(
        self,
        name: str,
        from_block: int = 0,
        to_block: int | str | None = None,
        argument_filters: dict[str, Any] | None = None,
    ) -> list[Any]:
        """Raw ``name`` logs of this contract in a block range (``args``, ``blockNumber``, ...)."""
        event = getattr(self.contract.events, name)()
        kw: dict[str, Any] = {"from_block": from_block}
        if to_block is not None:
            kw["to_block"] = to_block
        if argument_filters:
            kw["argument_filters"] = argument_filters
        return list(event.get_logs(**kw))

    # --- every event, for indexers ------------------------------------------------------------------
    @functools.cached_property
    def _events_by_topic(self) -> dict[str, Any]:
        """topic0 (bare hex) -> web3 event of this contract; built once (a node's chain watch asks every
        two seconds, and building web3's event objects is most of an empty scan's cost)."""
        return {str(ev.topic).lower().removeprefix("0x"): ev for ev in self.contract.all_events()}

    def events_between(self, from_block: int, to_block: int) -> list[ChainEvent]:
        """Every event this contract emitted in blocks ``from_block..to_block`` (inclusive), decoded,
        in chain order.

        Why one ``eth_getLogs`` by address rather than one per event name: an indexer following the
        chain asks once per contract per block range, whatever the contract's number of events. Logs
        whose topic is not in this contract's ABI (none expected) are skipped.
        """
        if to_block < from_block:
            return []
        logs = self.net.w3.eth.get_logs(
            {"address": self.contract.address, "fromBlock": from_block, "toBlock": to_block}
        )
        out = [ev for ev in map(self._decode, logs) if ev is not None]
        out.sort(key=lambda e: (e.block, e.log_index))
        return out

    def _decode(self, lg: Any) -> ChainEvent | None:
        """One raw log of this contract as a :class:`ChainEvent` (None: its topic is not in the ABI)."""
        topics = lg["topics"]
        ev = self._events_by_topic.get(bytes(topics[0]).hex()) if topics else None
        if ev is None:
            return None
        decoded = ev.process_log(lg)
        return ChainEvent(
            contract=self.CONTRACT,
            address=self.address,
            name=str(decoded["event"]),
            args={k: _plain(v) for k, v in dict(decoded["args"]).items()},
            block=int(lg["blockNumber"]),
            log_index=int(lg["logIndex"]),
            tx_hash="0x" + bytes(lg["transactionHash"]).hex(),
        )

    def topics_of(self, names: Sequence[str] | None = None) -> list[str]:
        """topic0 (0x hex) of the events ``names`` of this contract (None: all its events)."""
        by_topic = self._events_by_topic
        return ["0x" + t for t, ev in by_topic.items() if names is None or ev.event_name in names]


def events_of(
    net: Network,
    wanted: Sequence[tuple[ContractFacade, Sequence[str] | None]],
    from_block: int,
    to_block: int,
) -> list[ChainEvent]:
    """The events ``wanted`` (per contract: these event names, None for all) in blocks
    ``from_block..to_block`` (inclusive), decoded, in chain order, from ONE ``eth_getLogs``.

    Why one request: a node's chain watch follows four contracts every two seconds; one request per
    contract was most of an idle node's JSON-RPC traffic. The request filters by the contracts'
    addresses and by the wanted events' topic0 (a market's job events are not downloaded); a log of a
    wanted contract whose event is not wanted (another contract's event with the same signature) is
    dropped after decoding."""
    if to_block < from_block or not wanted:
        return []
    by_address = {f.address.lower(): (f, None if names is None else set(names)) for f, names in wanted}
    topics = sorted({t for f, names in wanted for t in f.topics_of(names)})
    logs = net.w3.eth.get_logs(
        {
            "address": [f.contract.address for f, _ in wanted],
            "fromBlock": from_block,
            "toBlock": to_block,
            "topics": [topics],
        }
    )
    out: list[ChainEvent] = []
    for lg in logs:
        entry = by_address.get(str(lg["address"]).lower())
        if entry is None:
            continue
        facade, names = entry
        ev = facade._decode(lg)
        if ev is not None and (names is None or ev.name in names):
            out.append(ev)
    out.sort(key=lambda e: (e.block, e.log_index))
    return out


def _plain(v: Any) -> Any:
    """web3's decoded values as plain Python (HexBytes -> bytes, tuples -> lists)."""
    if isinstance(v, bytes | bytearray):
        return bytes(v)
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v
