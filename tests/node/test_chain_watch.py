"""The node's chain watch reads the chain's events in ONE ``eth_getLogs`` per pass, and each step still
sees exactly its own events (#14: four ``eth_getLogs`` per pass were most of an idle node's JSON-RPC
traffic).

Real parts: anvil (its auto-mining paused to put several transactions in one block), the deployed
suite, a real FHE-mode job on chain (hashes only: no ciphertext is computed, the market checks none).
A web3 middleware only counts the requests and, in one pass, fails the ``eth_getLogs``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web3.middleware import Web3Middleware

from veilproof.chain import Network, connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite
from veilproof.chain.facade import ChainEvent
from veilproof.chain.job_market import JobMode
from veilproof.chain.suite import Suite
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.core import ChainScan, LoadedModel
from veilproof.node.results import WATCH_STEPS
from veilproof.node.service import NodeService

PRICE = 2 * ONE_VEIL
pytestmark = pytest.mark.anvil


def _sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


class Counting:
    """Counts the JSON-RPC methods ``net`` sends (a web3 middleware in front of its provider);
    ``fail_logs``: the next ``eth_getLogs`` raises a connection error (the chain went away for it)."""

    def __init__(self, net: Network) -> None:
        self.calls: Counter[str] = Counter()
        self.fail_logs = False
        outer = self

        class Middleware(Web3Middleware):
            def wrap_make_request(self, make_request: Any) -> Any:
                def counted(method: Any, params: Any) -> Any:
                    outer.calls[str(method)] += 1
                    if method == "eth_getLogs" and outer.fail_logs:
                        outer.fail_logs = False
                        raise ConnectionError("injected: eth_getLogs lost")
                    return make_request(method, params)

                return counted

        net.w3.middleware_onion.add(Middleware, "counting")


@pytest.fixture
def world(tmp_path: Path, anvil_url: str) -> Iterator[dict[str, Any]]:
    net = connect(anvil_url)
    try:
        owner, node, other, client = net.new_accounts(4)
        s = Suite.attach(net, deploy_suite(net, owner, SuiteParams.dev(delivery_bond=ONE_VEIL)))
        mid = s.models.registered_model_id(
            s.models.register_model("m", PRICE, 0, b"\x01" * 32, [], [], b"\x02" * 32, sender=owner)
        )
        s.models.set_fhe_commitment(mid, b"\x03" * 32, b"\x04" * 32, sender=owner)
        for n in (node, other):
            s.token.mint(n.address, 100 * ONE_VEIL, sender=owner)
            s.nodes.register("http://n.test", b"\x02" * 33, [mid], sender=n)
            s.token.approve(s.nodes.address, 100 * ONE_VEIL, sender=n)
            s.nodes.stake(100 * ONE_VEIL, sender=n)
        s.token.mint(client.address, 20 * ONE_VEIL, sender=owner)
        s.token.approve(s.market.address, 20 * ONE_VEIL, sender=client)
        cfg = NodeConfig(
            home=tmp_path,
            chain_url="embedded",
            deployment_file=tmp_path / "d.json",
            account_name="n",
            models=[ServedModel(mid)],
        )
        svc = NodeService(cfg, net, s, node)
        # the model as the node holds it once loaded (no artifacts needed for the watch)
        svc.models[mid] = LoadedModel(ServedModel(mid), s.models.read_model(mid))
        yield {"net": net, "s": s, "svc": svc, "mid": mid, "owner": owner, "node": node, "other": other,
               "client": client}  # fmt: skip
    finally:
        net.close()


def _fhe_job(w: dict[str, Any], client: Any) -> int:
    """An FHE job of ``client`` the node started and submitted (its output not served yet)."""
    s, node = w["s"], w["node"]
    jid = s.market.opened_job_id(
        s.market.open_job(
            w["mid"], node.address, _sha(b"in"), JobMode.FHE, w["net"].now() + 600, max_price=PRICE,
            eval_keys_hash=_sha(b"keys"), sender=client,
        )
    )  # fmt: skip
    s.market.start_job(jid, sender=node)
    s.market.submit_fhe(jid, _sha(b"keys"), _sha(b"in"), _sha(b"out"), b"\x04" * 32, sender=node)
    return jid


def _one_block(net: Network, sends: list[Callable[[], object]]) -> int:
    """Send each transaction (distinct senders) with anvil's auto-mining paused, then mine them in one
    block; returns its number."""
    rpc = net.w3.provider.make_request
    rpc("evm_setAutomine", [False])  # type: ignore[arg-type]
    threads = []
    try:
        for n, send in enumerate(sends, start=1):
            t = threading.Thread(target=send)
            t.start()
            threads.append(t)
            t_end = time.monotonic() + 30
            while int(rpc("txpool_status", [])["result"]["pending"], 16) < n:  # type: ignore[arg-type]
                assert time.monotonic() < t_end, "transaction never reached the pool"
                time.sleep(0.01)
        rpc("evm_mine", [])  # type: ignore[arg-type]
    finally:
        rpc("evm_setAutomine", [True])  # type: ignore[arg-type]
    for t in threads:
        t.join(30)
    assert all(not t.is_alive() for t in threads)
    return net.head()


def test_a_watch_pass_reads_the_events_of_all_steps_in_one_request(world: dict[str, Any]) -> None:
    net, s, svc, mid = world["net"], world["s"], world["svc"], world["mid"]
    owner, node, other, client = (world[k] for k in ("owner", "node", "other", "client"))
    jobs = [_fhe_job(world, client) for _ in range(2)]

    # What each step is handed: the events ChainScan.since gives it, by contract.
    seen: dict[str, list[ChainEvent]] = {}
    since = ChainScan.since

    def recording(self: ChainScan, from_block: int, address: str) -> list[ChainEvent]:
        got = since(self, from_block, address)
        seen.setdefault(address.lower(), []).extend(got)
        return got

    counting = Counting(net)
    cursors = dict.fromkeys(WATCH_STEPS, 0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ChainScan, "since", recording)

        svc.chain_watch_pass(cursors)  # the history so far (the node's own offer: none yet)
        assert counting.calls["eth_getLogs"] == 1
        assert cursors["registry"] == cursors["demands"] == cursors["attestations"] == net.head() + 1
        assert not [e for e in seen[s.market.address.lower()]], "market events other than demands"
        seen.clear()

        # One block with events for the registry step (two contracts) and the demands step, plus
        # events no step wants (another node's registration traffic, the client's token transfer).
        b1 = _one_block(
            net,
            [
                lambda: s.nodes.set_offer(mid, 7, sender=node),
                lambda: s.nodes.set_offer(mid, 9, sender=other),
                lambda: s.models.set_price(mid, 3 * ONE_VEIL, sender=owner),
                lambda: s.market.claim_not_delivered(jobs[0], sender=client),
            ],
        )
        counting.calls.clear()
        svc.chain_watch_pass(cursors)
        assert counting.calls["eth_getLogs"] == 1, counting.calls
        assert svc.offer_of(mid) == 7  # the node's own OfferSet, not the other node's
        assert svc.models[mid].onchain.price == 3 * ONE_VEIL  # the model was read again
        nodes_seen = seen[s.nodes.address.lower()]
        assert [(e.name, e.block, e.args["price"]) for e in nodes_seen] == [
            ("OfferSet", b1, 7),
            ("OfferSet", b1, 9),
        ]
        assert [(e.name, e.block) for e in seen[s.models.address.lower()]] == [("PriceSet", b1)]
        assert [(e.name, e.args["job_id"]) for e in seen[s.market.address.lower()]] == [
            ("DeliveryDemanded", jobs[0])
        ]
        seen.clear()

        # A pass whose eth_getLogs fails: no step that reads events runs or advances.
        s.market.claim_not_delivered(jobs[1], sender=client)
        before = dict(cursors)
        counting.fail_logs = True
        svc.chain_watch_pass(cursors)
        assert cursors == before and not seen

        # The next pass hands each step the events it missed, once.
        counting.calls.clear()
        svc.chain_watch_pass(cursors)
        assert counting.calls["eth_getLogs"] == 1
        assert [(e.name, e.args["job_id"]) for e in seen[s.market.address.lower()]] == [
            ("DeliveryDemanded", jobs[1])
        ]
        assert seen[s.nodes.address.lower()] == [] and seen[s.models.address.lower()] == []
        seen.clear()

        # A step that fails keeps its cursor (its events come again); the others do not see theirs twice.
        s.nodes.set_offer(mid, 11, sender=node)
        read_model = s.models.read_model
        mp.setattr(s.models, "read_model", lambda m: (_ for _ in ()).throw(RuntimeError("boom")))
        s.models.set_price(mid, 4 * ONE_VEIL, sender=owner)
        b2 = net.head()
        svc.chain_watch_pass(cursors)
        assert cursors["registry"] < cursors["demands"] == b2 + 1
        mp.setattr(s.models, "read_model", read_model)
        seen.clear()
        counting.calls.clear()
        svc.chain_watch_pass(cursors)
        assert counting.calls["eth_getLogs"] == 1
        assert cursors["registry"] == cursors["demands"] == net.head() + 1
        assert [e.args["price"] for e in seen[s.nodes.address.lower()]] == [11]
        assert [e.name for e in seen[s.models.address.lower()]] == ["PriceSet"]
        assert seen.get(s.market.address.lower(), []) == []  # no new block for it: not even asked
        assert svc.offer_of(mid) == 11 and svc.models[mid].onchain.price == 4 * ONE_VEIL


def test_the_maintenance_pass_takes_the_probes_block(world: dict[str, Any]) -> None:
    """The loop's pass (``block_max_age_s``) reads no block of its own when the probe read one a moment
    ago: its scan ends at the probe's head, and what was mined after it is scanned by a later pass,
    not skipped. A pass called without an age (tests, tools) reads the head itself."""
    net, s, svc, mid = world["net"], world["s"], world["svc"], world["mid"]
    counting = Counting(net)
    cursors = dict.fromkeys(WATCH_STEPS, 0)
    svc.probe_chain()
    probed = net.head()
    s.nodes.set_offer(mid, 5, sender=world["node"])  # mined after the probe
    counting.calls.clear()
    svc.chain_watch_pass(cursors, block_max_age_s=60.0)
    assert counting.calls["eth_getBlockByNumber"] == 0 and counting.calls["eth_blockNumber"] == 0
    assert counting.calls["eth_getLogs"] == 1
    assert cursors["registry"] == probed + 1  # up to the probe's head
    svc.probe_chain()
    svc.chain_watch_pass(cursors, block_max_age_s=60.0)  # the offer's block, in this later pass
    assert svc.offer_of(mid) == 5 and cursors["registry"] == net.head() + 1
    counting.calls.clear()
    svc.chain_watch_pass(cursors)
    assert counting.calls["eth_getBlockByNumber"] == 1
