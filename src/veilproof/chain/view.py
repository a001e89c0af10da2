"""Chain reads a buyer repeats every job, kept until an event of the contract they come from says
they may have changed.

Why: a client read the node list (``node_count``, ``node_at`` and ``nodes`` per node), each node's
terms, the model's record, the market's parameters and the model's royalty before every job: about
twelve ``eth_call``s, half of a pay-on-proof client's CPU under load. These values change only by
transactions that emit an event (NodeRegistry and ModelRegistry log every write; ReceiptMarket logs
``ParamSet``), so one ``eth_getLogs`` over those contracts since the block last looked at says
whether anything read may be stale; if so, everything is read afresh.

Staleness: the view looks at the chain at most every ``sync_s`` seconds, and at once after this
process got a transaction to one of its contracts mined (its own price change or offer is seen by
its next read; its transactions to other contracts, a job's escrow or a token approval, are not a
reason to look), so a
change made elsewhere is seen that much late at most (a read is as stale the moment it returns: a node may be slashed right after). What
a job's safety rests on is not read here: the deposit, nonces and the chain time are read fresh, the
node refuses an order that does not match the chain, and the chain refuses what does not hold.
A chain put back (dev-chain revert through :meth:`Network.revert`, or a head lower than the one seen)
empties the view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Network

T = TypeVar("T")

#: How often (seconds) a view looks at the chain for events of its contracts, at most.
SYNC_S = 1.0


class ChainView:
    """Memoised reads, dropped whenever one of ``watched`` (a facade, and the event names that matter
    or None for all) emitted an event since the last look."""

    def __init__(
        self,
        net: Network,
        watched: Sequence[tuple[ContractFacade, Sequence[str] | None]],
        sync_s: float = SYNC_S,
    ) -> None:
        self.net = net
        self.sync_s = sync_s
        self._addresses = [f.contract.address for f, _ in watched]
        self._own = [a.lower() for a in self._addresses]  # keys of Network.writes_to
        self._topics = sorted({t.lower() for f, names in watched for t in f.topics_of(names)})
        self._lock = threading.Lock()
        self._values: dict[tuple[Any, ...], Any] = {}
        self._seen: int | None = None  # the head block the values are known good at
        self._epoch = net.history_epoch
        self._writes = net.writes_of(self._own)
        self._looked_at = float("-inf")
        self.refreshes = 0  # times the values were dropped (tests, diagnostics)

    def read(self, key: tuple[Any, ...], fetch: Callable[[], T]) -> T:
        """The value under ``key``: remembered, or ``fetch()`` (and remembered) if it may have changed."""
        self._sync()
        with self._lock:
            if key in self._values:
                return self._values[key]
        value = fetch()
        with self._lock:
            self._values[key] = value
        return value

    def forget(self) -> None:
        """Drop every value (the caller learned something changed, e.g. a refusal citing the chain)."""
        with self._lock:
            self._values.clear()
            self.refreshes += 1

    def _sync(self) -> None:
        with self._lock:
            now = time.monotonic()
            writes = self.net.writes_of(self._own)
            if (
                now - self._looked_at < self.sync_s
                and self._epoch == self.net.history_epoch
                and self._writes == writes
            ):
                return
            self._looked_at, self._writes = now, writes
            head = self.net.w3.eth.block_number
            stale = (
                self._seen is None
                or head < self._seen
                or self._epoch != self.net.history_epoch
                or (head > self._seen and self._changed(self._seen + 1, head))
            )
            if stale:
                self._values.clear()
                self.refreshes += 1
            self._seen, self._epoch = head, self.net.history_epoch

    def _changed(self, from_block: int, to_block: int) -> bool:
        logs = self.net.w3.eth.get_logs(
            {
                "address": self._addresses,
                "fromBlock": from_block,
                "toBlock": to_block,
                "topics": [self._topics],
            }
        )
        return len(logs) > 0
