"""In-process EVM: py-evm through eth-tester and web3.py. Zero servers, the default.

Why: ``veilproof demo`` and most tests must run with nothing installed but Python. The chain lives
only as long as this process; :mod:`veilproof.chain.dev.rpc_server` can expose it over HTTP so that
nodes in other processes see the same chain.
"""

from __future__ import annotations

import threading
from functools import lru_cache, partial
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


def _index_transaction_lookups() -> None:
    """Find a mined transaction by py-evm's hash index instead of a scan of every block back to genesis.

    eth-tester looks a transaction up (every receipt, every ``eth_getLogs`` hit) by decoding blocks from
    the head down until it finds it: O(chain length) per lookup. A test session shares one chain that
    grows to tens of thousands of blocks, and late tests slowed until two of them timed out in CI
    (15 minutes on one ``get_logs``). py-evm keeps a hash -> (block, index) lookup for canonical
    transactions; the answer is checked against the block and the scan stays as the fallback."""
    import eth_tester.backends.pyevm.main as pyevm_main

    scan = pyevm_main._get_transaction_by_hash
    if getattr(scan, "_veilproof_indexed", False):
        return

    def lookup(chain: Any, transaction_hash: bytes) -> Any:
        head = chain.get_block()  # the pending block: not in the canonical index yet
        for index, transaction in enumerate(head.transactions):
            if transaction.hash == transaction_hash:
                return head, transaction, index
        try:
            number, index = chain.chaindb.get_transaction_index(transaction_hash)
            block = chain.get_canonical_block_by_number(number)
            transaction = block.transactions[index]
        except Exception:  # not indexed (or gone): the original scan decides, and raises as it did
            return scan(chain, transaction_hash)
        if transaction.hash != transaction_hash:
            return scan(chain, transaction_hash)
        return block, transaction, index

    lookup._veilproof_indexed = True  # type: ignore[attr-defined]
    pyevm_main._get_transaction_by_hash = lookup


def _indexed_tester_class() -> type:
    """An ``EthereumTester`` whose ``get_logs`` reads an index of the mined blocks' logs.

    eth-tester answers ``eth_getLogs`` by decoding every block in the range and every receipt in it, on
    every call; facades ask from block 0 (the contract's history), so on a long-lived chain each call
    cost O(chain length) block decodes. Mined blocks do not change here (no reorgs; the index notices a
    replaced head and rebuilds), so their logs are read once and kept: by block, and the block numbers
    per emitting address. Matching is eth-tester's own filter; the pending block is read as before."""
    from bisect import bisect_left, bisect_right

    from eth_tester import EthereumTester
    from eth_tester.utils.filters import Filter, check_if_log_matches

    class IndexedTester(EthereumTester):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._log_hashes: list[bytes] = []  # canonical hash of each indexed block, by number
            self._logs: dict[int, list[Any]] = {}  # block number -> its raw log entries (blocks with logs)
            self._blocks_with_logs: list[int] = []
            self._blocks_by_address: dict[bytes, list[int]] = {}
            # Threads of one process share this chain (a node's workers, the explorer's server): one
            # builds the index at a time, or two would append the same block twice.
            self._index_lock = threading.Lock()

        def _reset_log_index(self) -> None:
            self._log_hashes, self._logs, self._blocks_with_logs, self._blocks_by_address = [], {}, [], {}

        def _block_log_entries(self, number: int) -> list[Any]:
            """Block ``number``'s logs as eth-tester's filters take them (raw), in chain order."""
            block = self.get_block_by_number(number)
            return [
                self.normalizer.normalize_inbound_log_entry(log_entry)
                for transaction_hash in block["transactions"]
                for log_entry in self.get_transaction_receipt(transaction_hash)["logs"]
            ]

        def _sync_log_index(self, latest: int) -> None:
            chaindb = self.backend.chain.chaindb
            if self._log_hashes:
                top = len(self._log_hashes) - 1
                if top > latest or chaindb.get_canonical_block_hash(top) != self._log_hashes[top]:
                    self._reset_log_index()
            for number in range(len(self._log_hashes), latest + 1):
                entries = self._block_log_entries(number)
                if entries:
                    self._logs[number] = entries
                    self._blocks_with_logs.append(number)
                    for address in {bytes(e["address"]) for e in entries}:
                        self._blocks_by_address.setdefault(address, []).append(number)
                self._log_hashes.append(chaindb.get_canonical_block_hash(number))

        def _candidate_blocks(self, addresses: Any, lower: int, upper: int) -> list[int]:
            def within(numbers: list[int]) -> list[int]:
                return numbers[bisect_left(numbers, lower) : bisect_right(numbers, upper)]

            if addresses is None:
                return within(self._blocks_with_logs)
            wanted = addresses if isinstance(addresses, tuple) else (addresses,)
            found: set[int] = set()
            for address in wanted:
                found.update(within(self._blocks_by_address.get(bytes(address), [])))
            return sorted(found)

        def get_logs(
            self, from_block: Any = None, to_block: Any = None, address: Any = None, topics: Any = None
        ) -> tuple[Any, ...]:
            self.validator.validate_inbound_filter_params(
                from_block=from_block, to_block=to_block, address=address, topics=topics
            )
            raw_from, raw_to, raw_address, raw_topics = self.normalizer.normalize_inbound_filter_params(
                from_block=from_block, to_block=to_block, address=address, topics=topics
            )
            log_filter = Filter(
                filter_params={
                    "from_block": raw_from, "to_block": raw_to, "addresses": raw_address, "topics": raw_topics,
                },
                filter_fn=partial(
                    check_if_log_matches,
                    from_block=raw_from, to_block=raw_to, addresses=raw_address, topics=raw_topics,
                ),
            )  # fmt: skip
            lo, hi = ("latest" if b is None else b for b in (raw_from, raw_to))
            lower = lo if isinstance(lo, int) else self.get_block_by_number(lo)["number"]
            upper = hi if isinstance(hi, int) else self.get_block_by_number(hi)["number"]
            with self._index_lock:
                latest = self.get_block_by_number("latest")["number"]
                self._sync_log_index(latest)
                for number in self._candidate_blocks(raw_address, lower, min(upper, latest)):
                    for entry in self._logs[number]:
                        log_filter.add(entry)
            for number in range(max(lower, latest + 1), upper + 1):  # past "latest": as eth-tester does
                for entry in self._block_log_entries(number):
                    log_filter.add(entry)
            return tuple(self.normalizer.normalize_outbound_log_entry(item) for item in log_filter.get_all())

    return IndexedTester


GENESIS_BALANCE_WEI = 10**30  # per genesis account of the embedded chain (10^12 ETH)


class EmbeddedBackend(ChainBackend):
    kind = "embedded"

    def __init__(self, allow_large_contracts: bool = False) -> None:
        from eth_tester import PyEVMBackend

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
        _index_transaction_lookups()
        self.tester = _indexed_tester_class()(backend)
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
