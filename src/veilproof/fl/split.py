"""Python mirror of TrainingMarket's payout arithmetic (``_share``); the contract == mirror test pins it.

Why a mirror: the demo, the CLI and the docs show what each party will be paid before anyone claims,
and a change on either side that breaks equality fails the test rather than someone's payout.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_BPS = 10_000


@dataclass(frozen=True)
class Payout:
    coordinator_fee: int
    shares: dict[str, int]  # participant -> pool share (stake not included)
    sponsor_refund: int  # the pool when no participant scored
    dust: int  # pool - sum(shares): rounding left in the contract


def split_bounty(bounty: int, coordinator_bps: int, scores: dict[str, int]) -> Payout:
    fee = bounty * coordinator_bps // MAX_BPS
    pool = bounty - fee
    total = sum(scores.values())
    if total == 0:
        return Payout(fee, {p: 0 for p in scores}, pool, 0)
    shares = {p: pool * s // total for p, s in scores.items()}
    return Payout(fee, shares, 0, pool - sum(shares.values()))
