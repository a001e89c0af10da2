"""How a client picks a node: a policy, separate so it can be swapped (like a Flower strategy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeOffer:
    address: str
    endpoint: str
    pubkey: bytes
    stake: int
    price: int
    reputation: float = 0.0  # 0..100 from the Reputation contract, when one is deployed


def rank_offers(offers: list[NodeOffer]) -> list[NodeOffer]:
    """Best first: cheaper, then better reputation, then more stake at risk (more to lose by cheating)."""
    return sorted(offers, key=lambda o: (o.price, -o.reputation, -o.stake, o.address))


#: A node-selection policy: the offers for one model in, the ones to try out, best first. ``Client`` takes one
#: (``selection=``); :func:`rank_offers` is the default. A policy may drop offers (e.g. a minimum stake).
SelectionPolicy = Callable[[list[NodeOffer]], list[NodeOffer]]
