"""The network across hosts (issue #21): every party on its own network-namespace host and address
(see hosts_world.py for who runs where), then links pulled at the worst moments.

Partition outcomes (each test's docstring states it; balances are asserted):

* node cut off after ``start_job``, back before the deadline → it submits, is paid, nobody slashed;
* node cut off after ``start_job``, back after the deadline → client refunded in full, node slashed;
* client cut off after opening a job (its input never reaches the node) → the client's refund at the
  deadline returns the full price, and the node (which never took the job) is not slashed;
* chain cut off from a node mid-proof → the node's submit waits out the dead link (dropped packets: TCP
  retransmits; a refused connection would be retried by the node until the deadline) and lands once
  the chain is back: paid, not slashed;
* validator cut off between commit and reveal → it misses the reveal: Rewards takes its bond and
  ``miss_penalty_bps`` of its committed stake (to the treasury).

Latency/loss (``tc netem``) is not exercised here: this machine's kernel has no sch_netem
(``tc qdisc add ... netem`` answers "Specified qdisc kind is unknown"); see test_netns.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hosts_world import PRICE, SLASH, HostsWorld, make_world

from veilproof.artifacts import ArtifactStore
from veilproof.chain.views import OPEN, REFUNDED, SETTLED
from veilproof.protocol.api import HEALTH, JOB

pytestmark = [pytest.mark.slow, pytest.mark.anvil]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mlp) -> Iterator[HostsWorld]:
    w = make_world(tmp_path_factory.mktemp("hosts"), mlp)
    try:
        yield w
    finally:
        w.close()
    assert w.hn.leftovers() == []


def _x(w: HostsWorld, i: int) -> list[float]:
    return [float(v) for v in w.mlp.example.x_test[i].ravel()]


def test_walkthrough_across_hosts(world: HostsWorld) -> None:
    """Published on host ``pub``; node B on host ``node`` fetched every artifact from node A over the
    network; a client on host ``client`` buys a verified ZK job from node B and a private FHE job from
    the node its selection picks; a
    validator on host ``validator`` audits both nodes; the epoch settles with emissions for both."""
    w = world
    s = w.suite
    # Each node announced the address it listens on, on its own host.
    assert s.nodes.read_node(w.pub.account.address).endpoint == f"http://{w.hn['pub'].ip}:8600"
    assert s.nodes.read_node(w.node.account.address).endpoint == f"http://{w.hn['node'].ip}:8600"
    # Node B's store: nothing shared with node A's, everything fetched (and hash-checked) from it.
    b_store = ArtifactStore(w.node.home / "artifacts")
    pkg = w.mlp.package
    assert b_store.has(pkg.manifest_digest)
    assert not (w.node.home / "artifacts").is_symlink()
    m = s.models.read_model(w.fhe_model)
    assert b_store.has(m.fhe_server_hash) and b_store.has(m.fhe_client_hash)

    w.party("client", "alice", 20)
    alice = w.accounts["alice"].address
    before = w.wallet(alice), w.wallet(w.node.account.address)
    zk = w.act("client", "alice", "infer", model_id=w.zk_model, x=_x(w, 0), node=w.node.account.address)
    assert "error" not in zk, zk
    assert zk["node"].lower() == w.node.account.address.lower() and zk["mode"] == "zk"
    assert s.market.read_job(zk["job_id"]).status == SETTLED
    x_fhe = [float(v) for v in w.fhe_data.x_test[0]]
    # The FHE job goes where the client's own selection sends it (both nodes serve the model).
    fhe = w.act("client", "alice", "infer", model_id=w.fhe_model, x=x_fhe, private=True)
    assert "error" not in fhe, fhe
    assert fhe["mode"] == "fhe" and len(fhe["output"]) > 0
    assert fhe["node"].lower() in {w.pub.account.address.lower(), w.node.account.address.lower()}
    assert s.market.read_job(fhe["job_id"]).status == SETTLED, fhe
    assert w.wallet(alice) == before[0] - 2 * PRICE
    assert w.wallet(w.node.account.address) > before[1]  # paid (less royalty and fee)

    # A validator on its own host audits every node, commits, reveals; the epoch settles.
    w.party("validator", "val", 1_100)
    rewards = s.rewards
    genesis, length, commit_period = rewards.clock()
    e = (w.lnet.net.now() - genesis) // length + 1
    w.lnet.net.advance_to(genesis + e * length)
    audits = [{"model_id": w.zk_model, "inputs": [_x(w, 1)]}]
    c = w.act("validator", "val", "validator-commit", audits=audits)
    assert "error" not in c, c
    assert c["epoch"] == e
    stats = {a.lower(): st for a, st in c["stats"].items()}
    for n in (w.pub, w.node):
        assert stats[n.account.address.lower()] == {"attempted": 1, "correct": 1}, c
    w.lnet.net.advance_to(genesis + e * length + commit_period)
    r = w.act("validator", "val", "validator-reveal", epoch=e)
    assert r == {"revealed": True}, r
    w.lnet.net.advance_to(genesis + (e + 1) * length)
    fin = rewards.finalized_epoch(rewards.finalize_epoch(sender=w.lnet.owner))
    paid = {ne.node.lower(): ne.amount for ne in fin.nodes}
    assert paid.get(w.pub.account.address.lower(), 0) > 0 and paid.get(w.node.account.address.lower(), 0) > 0
    assert rewards.pending(w.accounts["val"].address) > 0


def _open_and_post(w: HostsWorld, client: str, node, i: int, deadline_s: int = 1800) -> int:
    settings = str(w.mlp.package.path("settings"))
    o = w.act("client", client, "open", model_id=w.zk_model, node=node.account.address, x=_x(w, i),
              settings_file=settings, deadline_s=deadline_s)  # fmt: skip
    assert "error" not in o, o
    p = w.act("client", client, "post", node=node.account.address, job_id=o["job_id"], x=_x(w, i))
    assert p.get("status") == 202, p
    return int(o["job_id"])


def _slow(w: HostsWorld, seconds: float) -> None:
    (w.pub.home / "prove-delay").write_text(str(seconds))


def _node_state(w: HostsWorld, job_id: int) -> dict[str, Any]:
    return httpx.get(w.pub.endpoint + JOB.format(job_id=job_id), timeout=10).json()


def _unreachable(url: str) -> bool:
    try:
        httpx.get(url + HEALTH, timeout=2)
    except httpx.HTTPError:
        return True
    return False


def test_node_cut_after_start_finishes_after_reconnect_before_deadline(world: HostsWorld) -> None:
    """Node A is unplugged right after it took the job on chain (``start_job``, before its 202) and
    before it could submit. Plugged back in before the deadline, it submits its proof: the job
    settles, the node is paid and keeps its whole stake, the client pays exactly the price."""
    w = world
    w.party("client", "bob", 10)
    bob = w.accounts["bob"].address
    stake0, bob0, node0 = w.stake(w.pub), w.wallet(bob), w.wallet(w.pub.account.address)
    _slow(w, 6)
    try:
        job = _open_and_post(w, "bob", w.pub, 2)
        w.hn.cut("pub")
        assert w.suite.market.read_job(job).started_at != 0
        assert _unreachable(w.pub.endpoint)
        time.sleep(15)  # the proof is done by now; the submit cannot leave the host
        assert w.suite.market.read_job(job).status == OPEN
    finally:
        w.hn.restore("pub")
        (w.pub.home / "prove-delay").unlink()
    assert w.wait_status(job, {SETTLED, REFUNDED}) == SETTLED
    assert w.stake(w.pub) == stake0
    assert w.wallet(bob) == bob0 - PRICE
    assert w.wallet(w.pub.account.address) > node0


def test_node_cut_after_start_past_deadline_refund_and_slash(world: HostsWorld) -> None:
    """Node A is unplugged after ``start_job`` and stays off past the job's deadline: the client's
    refund returns the full price and slashes the node ``slash_amount``, of which the client (who
    triggered it) gets ``challenger_bps`` and the treasury the rest; the node, back online,
    does not get paid for the late proof (the chain refuses it; its claim is never signed)."""
    w = world
    w.party("client", "carol", 10)
    carol = w.accounts["carol"].address
    stake0, carol0 = w.stake(w.pub), w.wallet(carol)
    _slow(w, 6)
    try:
        job = _open_and_post(w, "carol", w.pub, 3, deadline_s=120)
        w.hn.cut("pub")
        deadline = w.suite.market.read_job(job).deadline
        w.lnet.net.advance_to(deadline + 1)
        r = w.act("client", "carol", "refund", job_id=job)
        assert "error" not in r, r
    finally:
        w.hn.restore("pub")
        (w.pub.home / "prove-delay").unlink()
    assert w.suite.market.read_job(job).status == REFUNDED
    assert w.wallet(carol) == carol0 + SLASH * w.suite.nodes.challenger_bps() // 10_000
    assert w.stake(w.pub) == stake0 - SLASH
    time.sleep(10)  # the node's late submit (if any) must not change anything
    assert w.suite.market.read_job(job).status == REFUNDED
    assert w.stake(w.pub) == stake0 - SLASH


def test_client_cut_after_opening_refund_without_slash(world: HostsWorld) -> None:
    """The client opens (and pays for) a job, then its host drops off before it can send the input:
    the post fails on the client's side, the node never takes the job. After the deadline the
    client, back online, is refunded the full price; the node is not slashed."""
    w = world
    w.party("client", "dave", 10)
    dave = w.accounts["dave"].address
    stake0, dave0 = w.stake(w.pub), w.wallet(dave)
    settings = str(w.mlp.package.path("settings"))
    o = w.act("client", "dave", "open", model_id=w.zk_model, node=w.pub.account.address, x=_x(w, 4),
              settings_file=settings, deadline_s=120)  # fmt: skip
    job = int(o["job_id"])
    assert w.wallet(dave) == dave0 - PRICE  # escrowed
    w.hn.cut("client")
    try:
        p = w.act(
            "client", "dave", "post", node=w.pub.account.address, job_id=job, x=_x(w, 4), http_timeout=5
        )
        assert "error" in p, p  # no route out of the client's host
    finally:
        w.hn.restore("client")
    assert w.suite.market.read_job(job).started_at == 0
    w.lnet.net.advance_to(w.suite.market.read_job(job).deadline + 1)
    r = w.act("client", "dave", "refund", job_id=job)
    assert "error" not in r, r
    assert w.suite.market.read_job(job).status == REFUNDED
    assert w.wallet(dave) == dave0
    assert w.stake(w.pub) == stake0


def test_chain_cut_mid_proof_node_retries_submit(world: HostsWorld) -> None:
    """The chain's host drops off while node A proves (after ``start_job``): its submit cannot reach
    the chain and is retried; once the chain is back the job settles and the node is paid, with its
    stake intact."""
    w = world
    w.party("client", "erin", 10)
    erin = w.accounts["erin"].address
    stake0, erin0, node0 = w.stake(w.pub), w.wallet(erin), w.wallet(w.pub.account.address)
    _slow(w, 4)
    try:
        job = _open_and_post(w, "erin", w.pub, 5)
        w.hn.cut("chain")
        time.sleep(15)  # proof done; the submit (a request on a dead link) waits for the chain
        st = _node_state(w, job)  # the node itself is still reachable: only the chain is gone
        assert st["state"] in ("accepted", "running") and st["error"] is None, st
    finally:
        w.hn.restore("chain")
        (w.pub.home / "prove-delay").unlink()
    assert w.suite.market.read_job(job).started_at != 0
    assert w.wait_status(job, {SETTLED, REFUNDED}) == SETTLED
    assert w.stake(w.pub) == stake0
    assert w.wallet(erin) == erin0 - PRICE
    assert w.wallet(w.pub.account.address) > node0


def test_validator_cut_between_commit_and_reveal_pays_the_missed_reveal_penalty(world: HostsWorld) -> None:
    """A validator commits its weights, then its host drops off through the reveal window: its reveal
    never reaches the chain. At finalization Rewards takes its bond and ``miss_penalty_bps`` of the
    stake it committed with (the contract's RevealMissed rule), and pays it no emission."""
    w = world
    w.party("validator", "vic", 1_100)
    vic = w.accounts["vic"].address
    rewards = w.suite.rewards
    genesis, length, commit_period = rewards.clock()
    e = (w.lnet.net.now() - genesis) // length + 1
    w.lnet.net.advance_to(genesis + e * length)
    c = w.act("validator", "vic", "validator-commit", audits=[{"model_id": w.zk_model, "inputs": [_x(w, 6)]}])
    assert "error" not in c, c
    stake = rewards.read_validator(vic).stake
    pending0 = rewards.pending(vic)
    w.hn.cut("validator")
    try:
        w.lnet.net.advance_to(genesis + e * length + commit_period)
        r = w.act("validator", "vic", "validator-reveal", epoch=c["epoch"], timeout=120)
        assert "error" in r, r  # the reveal cannot leave the host
    finally:
        w.hn.restore("validator")
    w.lnet.net.advance_to(genesis + (e + 1) * length)
    rewards.finalize_epoch(sender=w.lnet.owner)
    penalty = stake * rewards.params().miss_penalty_bps // 10_000
    assert penalty > 0
    assert rewards.read_validator(vic).stake == stake - penalty
    assert rewards.read_validator(vic).bond == 0
    assert rewards.pending(vic) == pending0
    assert not rewards.revealed(c["epoch"], vic)
