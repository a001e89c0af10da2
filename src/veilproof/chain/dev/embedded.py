"""In-process EVM: py-evm through eth-tester and web3.py. Zero servers, the default.

Why: ``veilproof demo`` and most tests must run with nothing installed but Python. The chain lives
only as long as this process; :mod:`veilproof.chain.dev.rpc_server` can expose it over HTTP so that
nodes in other processes see the same chain.
"""

from __future__ import annotations

from web3 import EthereumTesterProvider, Web3
from web3.types import Wei

from veilproof.chain.backend import ChainBackend


def _lift_code_size_limit() -> None:
    """Allow contracts over EIP-170's 24,576 bytes (large EZKL verifiers) on the embedded chain only."""
    import eth.vm.forks.spurious_dragon.computation as sd

    sd.EIP170_CODE_SIZE_LIMIT = 1 << 30


class EmbeddedBackend(ChainBackend):
    kind = "embedded"

    def __init__(self, allow_large_contracts: bool = False) -> None:
        from eth_tester import EthereumTester, PyEVMBackend

        if allow_large_contracts:
            _lift_code_size_limit()
        params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": 60_000_000})
        self.tester = EthereumTester(PyEVMBackend(genesis_parameters=params))
        self.provider = EthereumTesterProvider(self.tester)
        self.w3 = Web3(self.provider)
        self._faucet = self.tester.get_accounts()[0]

    def fund(self, address: str, wei: int) -> None:
        self.w3.eth.wait_for_transaction_receipt(
            self.w3.eth.send_transaction({"from": self._faucet, "to": address, "value": Wei(wei)})
        )

    def advance_to(self, timestamp: int) -> None:
        # eth-tester mines the travelled-to block and reports the one before it as "latest";
        # mine once more so "latest" is the block at ``timestamp``.
        self.tester.time_travel(int(timestamp))
        self.tester.mine_blocks(1)
