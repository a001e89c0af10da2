"""The indexer on a real embedded chain without proofs (a Subnet: 3 nodes, 2 validators, 1 epoch):
it resumes where it stopped, survives a crash mid-range without half-written rows, and starts a new
index when the network it follows is re-deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from sqlalchemy import select

from veilproof.chain import Network, connect
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError
from veilproof.explorer import indexer as ix
from veilproof.explorer.indexer import Indexer, rows
from veilproof.incentives.deploy import IncentiveParams
from veilproof.incentives.onchain import Subnet

pytestmark = pytest.mark.slow  # three subnets deployed on py-evm: ~2 min on the loaded 2-core machine

VSTAKE = 1_000 * ONE_VEIL
PARAMS = IncentiveParams(validator_min_stake=VSTAKE, emission_per_epoch=1_000 * ONE_VEIL)


@pytest.fixture(scope="module")
def chain() -> Iterator[Network]:
    net = connect("embedded")
    yield net
    net.close()


@pytest.fixture(scope="module")
def subnet(chain: Network) -> Subnet:
    s = Subnet.create(chain, 3, [2 * VSTAKE, VSTAKE], PARAMS)
    v = s.validators
    s.run_epoch({v[0].address: [30_000, 20_000, 15_535], v[1].address: [60_000, 5_535, 0]})
    return s


def _snapshot(i: Indexer) -> dict[str, list[str]]:
    """Every indexed row except the event ids (autoincrement): what two indexes must agree on."""
    return {
        t.name: sorted(str({k: v for k, v in r.items() if k != "id"}) for r in rows(i.engine, select(t)))
        for t in ix.tables()
    }


def test_indexes_the_subnet_as_the_chain_says(subnet: Subnet, tmp_path: Path) -> None:
    suite = Suite.attach(subnet.net, subnet.deployment)
    i = Indexer(suite, tmp_path / "a.db")
    r = i.sync()
    assert r.reset and r.from_block == 0 and r.events > 0
    nodes = {n["address"]: n for n in rows(i.engine, select(ix.nodes_t))}
    assert set(nodes) == set(suite.nodes.addresses())
    for a, n in nodes.items():
        assert n["stake"] == suite.nodes.read_node(a).stake
        assert n["subnet_index"] == suite.nodes.subnet_index(a)
    (e,) = rows(i.engine, select(ix.epochs_t))
    em = rows(i.engine, select(ix.node_emissions_t))
    assert sum(int(r["amount"]) for r in em) == e["node_total"] > 0
    assert sum(int(n["emissions"]) for n in nodes.values()) == e["node_total"]
    assert len(rows(i.engine, select(ix.weights_t))) == 2
    # nothing new: the next sync reads no block twice
    again = i.sync()
    assert not again.reset and again.events == 0 and again.from_block == r.to_block + 1


def test_resumes_after_restart_and_after_a_crash_mid_range(subnet: Subnet, tmp_path: Path) -> None:
    suite = Suite.attach(subnet.net, subnet.deployment)
    head = subnet.net.head()
    clean = Indexer(suite, tmp_path / "clean.db")
    clean.sync()

    db = tmp_path / "b.db"
    first = Indexer(suite, db, chunk=7)
    first.sync(to_block=head // 2)
    half = first.last_block()
    assert half == head // 2
    # a new process on the same file continues from there
    second = Indexer(suite, db, chunk=7)
    assert second.last_block() == half
    # ... and crashes on the 5th event it applies: that range is rolled back whole
    calls = {"n": 0}
    real = Indexer._apply

    def flaky(self, conn, ev, ts, gas):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("injected crash")
        return real(self, conn, ev, ts, gas)

    with mock.patch.object(Indexer, "_apply", flaky), pytest.raises(RuntimeError, match="injected"):
        second.sync()
    crashed_at = second.last_block()
    assert half <= crashed_at < head
    third = Indexer(suite, db, chunk=7)
    r = third.sync()
    assert not r.reset and r.from_block == crashed_at + 1
    assert _snapshot(third) == _snapshot(clean)


def test_a_redeploy_starts_a_new_index(chain: Network, subnet: Subnet, tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    old = Indexer(Suite.attach(subnet.net, subnet.deployment), db)
    old.sync()
    assert len(rows(old.engine, select(ix.nodes_t))) == 3
    fresh = Subnet.create(chain, 1, [VSTAKE], PARAMS)  # same chain, new contracts
    new = Indexer(Suite.attach(chain, fresh.deployment), db)
    r = new.sync()
    assert r.reset and r.from_block == 0
    assert [n["address"] for n in rows(new.engine, select(ix.nodes_t))] == [fresh.node_accts[0].address]
    assert rows(new.engine, select(ix.epochs_t)) == []


def test_a_reset_chain_starts_a_new_index(subnet: Subnet, tmp_path: Path) -> None:
    """anvil restarted and re-deployed at the same addresses: same key, but the indexed block's hash
    changed (injected here: the chain is not restarted) or the head fell below it."""
    suite = Suite.attach(subnet.net, subnet.deployment)
    i = Indexer(suite, tmp_path / "e.db")
    i.sync()
    assert not i.sync().reset
    with mock.patch.object(Indexer, "_block_hash", lambda self, n: "0x" + "ab" * 32):
        r = i.sync()
    assert r.reset and r.from_block == 0
    i.sync()  # the real hash again differs from the injected one: a new index, then steady
    assert not i.sync().reset
    with mock.patch.object(type(subnet.net), "head", lambda self: 1):
        assert i.sync().reset


def test_bad_chunk_is_refused(subnet: Subnet, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chunk"):
        Indexer(Suite.attach(subnet.net, subnet.deployment), tmp_path / "d.db", chunk=0)
