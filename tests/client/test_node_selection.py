"""The compute-market selection strategy (#14): price against expected latency, stake and reputation."""

from __future__ import annotations

from veilproof.client.errors import NodeUnreachable
from veilproof.client.selection import MarketPrefs, NodeOffer, rank_market, with_capacity
from veilproof.protocol.api import NodeInfo, ServedModelInfo

ONE = 10**18


def _o(name: str, price: int, stake: int, median_s: float | None, **kw: object) -> NodeOffer:
    return NodeOffer(name, f"http://{name}", b"\x02" * 33, stake, price, median_job_s=median_s, **kw)  # type: ignore[arg-type]


CHEAP_SLOW = _o("cheap_slow", 1 * ONE, 2000 * ONE, 30.0, workers=1, inflight=0, free_slots=9)
DEAR_FAST = _o("dear_fast", 2 * ONE, 2000 * ONE, 2.0, workers=1, inflight=0, free_slots=9)
LOW_STAKE = _o("low_stake", ONE // 10, 10 * ONE, 1.0, workers=1, inflight=0, free_slots=9)
OFFERS = [CHEAP_SLOW, DEAR_FAST, LOW_STAKE]


def _names(offers: list[NodeOffer]) -> list[str]:
    return [o.address for o in offers]


def test_a_client_that_does_not_value_time_buys_cheapest() -> None:
    assert _names(rank_market(OFFERS, MarketPrefs(min_stake=1000 * ONE))) == ["cheap_slow", "dear_fast"]


def test_a_client_that_values_time_buys_the_fast_node() -> None:
    # 28 s saved for 1 VEIL more: worth it when a second is worth more than 1/28 VEIL
    prefs = MarketPrefs(time_value=ONE // 20, min_stake=1000 * ONE)
    assert _names(rank_market(OFFERS, prefs)) == ["dear_fast", "cheap_slow"]
    cheap_time = MarketPrefs(time_value=ONE // 40, min_stake=1000 * ONE)  # below 1/28: the cheap one
    assert _names(rank_market(OFFERS, cheap_time))[0] == "cheap_slow"


def test_low_stake_is_dropped_however_cheap_and_fast() -> None:
    assert "low_stake" not in _names(rank_market(OFFERS, MarketPrefs(time_value=ONE, min_stake=1000 * ONE)))
    assert _names(rank_market(OFFERS))[0] == "low_stake"  # a client that asks for no bond gets it


def test_queue_full_nodes_last_unknown_latency_as_slowest_and_reputation_breaks_ties() -> None:
    busy = _o("busy", 2 * ONE, 2000 * ONE, 2.0, workers=2, inflight=5, free_slots=0)
    queued = _o("queued", 2 * ONE, 2000 * ONE, 2.0, workers=2, inflight=3)  # 2 ahead on 2 workers: 4 s
    fresh = _o("fresh", 2 * ONE, 2000 * ONE, None)  # no job finished yet: as slow as the slowest (30 s)
    prefs = MarketPrefs(time_value=ONE // 20)
    ranked = _names(rank_market([busy, CHEAP_SLOW, fresh, queued, DEAR_FAST], prefs))
    assert ranked == ["dear_fast", "queued", "cheap_slow", "fresh", "busy"]
    good = _o("good", ONE, 100, None, reputation=90.0)
    bad = _o("bad", ONE, 100, None, reputation=10.0)
    assert _names(rank_market([bad, good])) == ["good", "bad"]
    assert _names(rank_market([bad, good], MarketPrefs(min_reputation=50.0))) == ["good"]


def test_capacity_comes_from_info_and_an_unreachable_node_stays_unmeasured() -> None:
    served = ServedModelInfo(
        model_id=7, name="m", price=ONE, zk_package=None, fhe_server=None, fhe_client=None, median_job_s=3.5
    )
    info = NodeInfo(
        address="a", pubkey="0x02", chain_id=1, market="m", models=[served], workers=4, inflight=1,
        uptime_s=1.0, queue_limit=8, free_slots=11,
    )  # fmt: skip

    def fetch(o: NodeOffer) -> NodeInfo:
        if o.address == "dear_fast":
            raise NodeUnreachable("down")
        return info

    a, b = with_capacity([CHEAP_SLOW, DEAR_FAST], 7, fetch)
    assert (a.median_job_s, a.workers, a.inflight, a.free_slots) == (3.5, 4, 1, 11)
    assert b == DEAR_FAST
