"""In-process EVM: py-evm through eth-tester and web3.py. Zero servers, the default.

Why: ``veilproof demo`` and most tests must run with nothing installed but Python. The chain lives
only as long as this process; :mod:`veilproof.chain.dev.rpc_server` can expose it over HTTP so that
nodes in other processes see the same chain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.types import Wei

from veilproof.chain.backend import ChainBackend

# py-evm's default estimator searches [intrinsic gas, block limit] by halving down to 21,000 gas: about
# 14 runs of the transaction per estimate, ~8 of them to completion. Every ``Network.transact`` estimates
# first, so a ZK submit ran the Halo2 verifier (pure-Python pairings, seconds each) ~9 times for one
# transaction. The estimator below finds a limit that succeeds in 2-3 runs in the usual case.
_CONFIRM_FACTORS = (1.0, 64 / 63, 1.1, 1.5)  # 64/63: calls forward at most 63/64 of the gas left


def _lift_code_size_limit() -> None:
    """Allow contracts over EIP-170's 24,576 bytes (large EZKL verifiers) on the embedded chain only."""
    import eth.vm.forks.spurious_dragon.computation as sd

    sd.EIP170_CODE_SIZE_LIMIT = 1 << 30


def _estimate_gas(state: Any, transaction: Any) -> int:
    """The smallest gas limit found to run ``transaction`` without error, confirmed by running it.

    Runs it at the block limit (an error there is raised, as py-evm's estimator does), reads the gas it
    consumed, then runs it at that much (and a little more, for the 63/64 rule of nested calls) until one
    succeeds; only if none does, py-evm's binary search between the last failure and the block limit.
    Like py-evm's, the answer is a limit at which the transaction was seen to succeed in this state."""
    from eth.vm.spoof import SpoofTransaction

    def run(gas: int) -> Any:
        snapshot = state.snapshot()
        try:
            return state.apply_transaction(SpoofTransaction(transaction, gas=gas, gas_price=0))
        finally:
            state.revert(snapshot)

    intrinsic = transaction.intrinsic_gas
    if not run(intrinsic).is_error:
        return int(intrinsic)
    top = run(state.gas_limit)
    if top.is_error:
        raise top.error
    consumed = intrinsic + top.get_gas_used()
    failed = intrinsic
    for factor in _CONFIRM_FACTORS:
        gas = min(state.gas_limit, int(consumed * factor))
        if gas <= failed:
            continue
        if not run(gas).is_error:
            return gas
        failed = gas
    ok = state.gas_limit
    while ok - failed > 21_000:  # py-evm's search (its tolerance), from what is known to fail
        mid = (ok + failed) // 2
        if run(mid).is_error:
            failed = mid
        else:
            ok = mid
    return int(ok)


def _memoize_curve_precompiles() -> None:
    """Cache the results of py-evm's bn254 precompiles (ecAdd, ecMul, ecPairing) by input bytes.

    They are pure functions of their input, computed in pure Python (a pairing check takes seconds),
    and the same inputs come back: each gas estimate runs a transaction more than once, and tests verify
    one proof many times. Invalid inputs raise and are not cached, so errors are unchanged."""
    import importlib

    for mod, name, size in (
        ("ecadd", "_ecadd", 4096),
        ("ecmul", "_ecmull", 4096),
        ("ecpairing", "_ecpairing", 512),
    ):
        module = importlib.import_module(f"eth.precompiles.{mod}")  # the module, not its curried function
        fn = getattr(module, name)
        if getattr(fn, "_veilproof_memo", False):
            continue
        cached = lru_cache(maxsize=size)(fn)

        def memo(data: Any, _cached: Any = cached) -> Any:
            return _cached(bytes(data))

        memo._veilproof_memo = True  # type: ignore[attr-defined]
        setattr(module, name, memo)


GENESIS_BALANCE_WEI = 10**30  # per genesis account of the embedded chain (10^12 ETH)


class EmbeddedBackend(ChainBackend):
    kind = "embedded"

    def __init__(self, allow_large_contracts: bool = False) -> None:
        from eth_tester import EthereumTester, PyEVMBackend

        if allow_large_contracts:
            _lift_code_size_limit()
        params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": 60_000_000})
        # The faucet funds every dev account (1,000 ETH each by default): eth-tester's 1M ETH per genesis
        # account ran dry after ~1,000 accounts, which a long test session reaches, and every later
        # funding failed. 10^12 ETH each is out of reach.
        state = PyEVMBackend.generate_genesis_state(
            overrides={"balance": GENESIS_BALANCE_WEI}, num_accounts=10
        )
        backend = PyEVMBackend(genesis_parameters=params, genesis_state=state)
        # The chain class is made per backend by eth-tester: setting it there touches only this chain
        # (and the chains it makes later); the instance already holds py-evm's default.
        type(backend.chain).gas_estimator = staticmethod(_estimate_gas)
        backend.chain.gas_estimator = _estimate_gas
        _memoize_curve_precompiles()
        self.tester = EthereumTester(backend)
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
