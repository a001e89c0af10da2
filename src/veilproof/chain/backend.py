"""The two ways veilproof reaches an EVM, behind one small interface.

Like web3.py's providers: the rest of veilproof talks to a :class:`ChainBackend` and never
cares whether blocks come from py-evm inside this process or from a node at a URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from web3 import Web3


class ChainBackend(ABC):
    """Owns a :class:`Web3` and the few operations a plain JSON-RPC API does not standardise."""

    w3: Web3
    kind: str

    @abstractmethod
    def fund(self, address: str, wei: int) -> None:
        """Give ``address`` ether for gas (dev chains only)."""

    @abstractmethod
    def advance_to(self, timestamp: int) -> None:
        """Mine a block whose timestamp is exactly ``timestamp`` (dev chains only; must be in the future)."""

    def time_travel(self, seconds: int) -> None:
        """Move the chain clock ``seconds`` past the latest block and mine a block there."""
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        self.advance_to(now + max(1, int(seconds)))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sockets, processes)."""
