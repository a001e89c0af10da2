"""Any JSON-RPC EVM node by URL: anvil locally, an L2 in production."""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint

from veilproof.chain.backend import ChainBackend
from veilproof.errors import ChainError


class RpcBackend(ChainBackend):
    kind = "rpc"

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.url = url
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
        try:
            self.w3.eth.chain_id  # noqa: B018 - probe the connection now, not at first use
        except Exception as e:  # requests raises many kinds; one message for all
            raise ChainError(f"cannot reach an EVM JSON-RPC node at {url}: {e}") from e

    def _dev_call(self, methods: tuple[str, ...], params: list[Any]) -> None:
        last = None
        for m in methods:
            resp = self.w3.provider.make_request(RPCEndpoint(m), params)
            if "error" not in resp:
                return
            last = resp["error"]
        raise ChainError(f"this node does not support {methods[0]} (a dev-chain call): {last}")

    def fund(self, address: str, wei: int) -> None:
        bal = self.w3.eth.get_balance(address)  # type: ignore[arg-type]  # a str address; web3 checks its checksum at run time
        self._dev_call(("anvil_setBalance", "hardhat_setBalance"), [address, hex(bal + wei)])

    def advance_to(self, timestamp: int) -> None:
        # Exact, unlike evm_increaseTime (whose offset applies to wall-clock time, so the idle time
        # since the last block would be added on top).
        self._dev_call(("evm_setNextBlockTimestamp",), [int(timestamp)])
        self._dev_call(("evm_mine",), [])
