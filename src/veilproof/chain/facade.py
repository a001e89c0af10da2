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
