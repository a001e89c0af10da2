"""How a client picks a node: a policy, separate so it can be swapped (like a Flower strategy).

The compute market (#14): every node may set its own price per model (on top of the model owner's
royalty, ``NodeRegistry.set_offer``) and advertises its capacity in ``/info`` (workers, jobs in flight,
free slots, the median wall time of its recent jobs per model). :func:`rank_market` weighs these:

- a node below the client's ``min_stake`` or ``min_reputation`` is dropped: its bond is what an honest
  client collects if the node cheats, so too little of it is not worth any discount;
- the others are ordered by **effective cost** = job price + ``time_value`` x expected latency, where
  expected latency = the node's median job time x (1 + jobs queued ahead of this one / workers). A client
  that does not care about time (``time_value`` 0) buys the cheapest; a client whose second is worth
  more than the price gap buys the faster node;
- a node with no free slot goes last (it would refuse the job: 503), a node that has not yet finished a
  job is assumed as slow as the slowest measured one (no free ride for an unknown);
- ties: better reputation, then more stake, then address (deterministic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from veilproof.client.errors import NodeUnavailable
from veilproof.protocol.api import NodeInfo


@dataclass(frozen=True)
class NodeOffer:
    address: str
    endpoint: str
    pubkey: bytes
    stake: int
    price: int  # what a job on this node costs now: the model's list price, or royalty + the node's offer
    reputation: float = 0.0  # 0..100 from the Reputation contract, when one is deployed
    offer: int | None = None  # the node's own compute price (NodeRegistry.offer); None: list price
    # from the node's /info (None: not asked, or the node did not answer)
    median_job_s: float | None = None
    workers: int | None = None
    inflight: int | None = None
    free_slots: int | None = None

    def expected_latency_s(self, unknown_s: float) -> float:
        """Median job time stretched by the queue ahead: with ``inflight`` jobs on ``workers`` workers a
        new job waits for ``inflight - workers + 1`` of them to finish, ``workers`` at a time."""
        base = self.median_job_s if self.median_job_s is not None else unknown_s
        workers = max(self.workers or 1, 1)
        ahead = max((self.inflight or 0) - workers + 1, 0)
        return base * (1 + ahead / workers)


def rank_offers(offers: list[NodeOffer]) -> list[NodeOffer]:
    """Best first: cheaper, then better reputation, then more stake at risk (more to lose by cheating)."""
    return sorted(offers, key=lambda o: (o.price, -o.reputation, -o.stake, o.address))


@dataclass(frozen=True)
class MarketPrefs:
    """What a client trades off (see the module docstring)."""

    time_value: int = 0  # VEIL base units one second of waiting is worth to this client
    min_stake: int = 0  # drop nodes bonding less
    min_reputation: float = 0.0  # drop nodes scoring less (0..100)


def rank_market(offers: list[NodeOffer], prefs: MarketPrefs = MarketPrefs()) -> list[NodeOffer]:
    """The compute-market strategy: offers in, the ones worth trying out, best first (module docstring)."""
    kept = [o for o in offers if o.stake >= prefs.min_stake and o.reputation >= prefs.min_reputation]
    measured = [o.median_job_s for o in kept if o.median_job_s is not None]
    unknown_s = max(measured) if measured else 0.0

    def key(o: NodeOffer) -> tuple[bool, float, float, int, str]:
        full = o.free_slots is not None and o.free_slots <= 0
        cost = o.price + prefs.time_value * o.expected_latency_s(unknown_s)
        return (full, cost, -o.reputation, -o.stake, o.address)

    return sorted(kept, key=key)


def with_capacity(
    offers: list[NodeOffer], model_id: int, info: Callable[[NodeOffer], NodeInfo]
) -> list[NodeOffer]:
    """The offers with what each node's ``/info`` says about ``model_id``. An unreachable node (``info``
    raises :class:`NodeUnavailable`) keeps its chain-only offer and is ranked as unmeasured."""
    out = []
    for o in offers:
        try:
            ni = info(o)
        except NodeUnavailable:
            out.append(o)
            continue
        m = next((s for s in ni.models if s.model_id == model_id), None)
        out.append(
            replace(
                o,
                median_job_s=m.median_job_s if m is not None else None,
                workers=ni.workers,
                inflight=ni.inflight,
                free_slots=ni.free_slots,
            )
        )
    return out


def market_selection(
    model_id: int, prefs: MarketPrefs = MarketPrefs(), http_timeout: float = 5.0
) -> SelectionPolicy:
    """A :data:`SelectionPolicy` for ``Client(selection=...)``: asks each node's ``/info`` for its
    capacity, then :func:`rank_market`. (A policy per model: the latency it reads is the model's.)"""
    from veilproof.client.node_api import NodeApi
    from veilproof.protocol.http import http_client

    http = http_client(http_timeout)

    def policy(offers: list[NodeOffer]) -> list[NodeOffer]:
        return rank_market(
            with_capacity(offers, model_id, lambda o: NodeApi(o.endpoint, http=http).info()), prefs
        )

    return policy


#: A node-selection policy: the offers for one model in, the ones to try out, best first. ``Client`` takes one
#: (``selection=``); :func:`rank_offers` is the default. A policy may drop offers (e.g. a minimum stake).
SelectionPolicy = Callable[[list[NodeOffer]], list[NodeOffer]]
