"""Compute-to-data (issue #15): a buyer escrows one training use of a consented dataset version, the
data host (FastAPI on 127.0.0.1, records AES-GCM-sealed at rest) trains the committed algorithm and
records the result hash on chain; the buyer gets only the model parameters and a signed receipt, and
names the version and its consent root as the model's lineage."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from data_market import PRICE, Market
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.data_registry import SALE_DELIVERED, sorted_records
from veilproof.data.algorithms import LogisticRegressionJob, accuracy
from veilproof.data.buyer import DataBuyer
from veilproof.data.host import serve
from veilproof.errors import ContractReverted, DataHostError, RecordRevoked

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def market(net: Network, tmp_path_factory: pytest.TempPathFactory) -> Market:
    return Market.build(net, tmp_path_factory.mktemp("host-store"))


def _numbers(obj: object) -> list[float]:
    if isinstance(obj, float):
        return [obj]
    if isinstance(obj, dict):
        return [n for v in obj.values() for n in _numbers(v)]
    if isinstance(obj, list):
        return [n for v in obj for n in _numbers(v)]
    return []


def test_buyer_trains_on_a_consented_version_and_gets_only_the_result(market: Market, tmp_path: Path) -> None:
    m, reg = market, market.suite.data
    hashes = m.contribute(m.split.contributions)
    v1 = reg.commit_version(m.dataset_id, 0, hashes, sender=m.curator)
    # one subject revokes a record: the next version must leave it out
    gone = m.split.contributions[0][0].record_hash
    reg.revoke(m.dataset_id, gone, sender=m.subjects[0])
    with pytest.raises(RecordRevoked):
        reg.commit_version(m.dataset_id, v1, hashes, sender=m.curator)
    kept = [h for h in hashes if h != gone]
    v2 = reg.commit_version(m.dataset_id, v1, kept, sender=m.curator)
    with pytest.raises(DataHostError, match="do not hash"):  # the host cannot serve another record set
        m.host.add_version(v2, hashes)
    m.host.add_version(v2, kept)
    # the store holds ciphertext only: no record's row bytes on the host's disk
    disk = b"".join(p.read_bytes() for p in m.host.store.root.iterdir())
    assert all(r.content()[:64] not in disk for recs in m.split.contributions for r in recs[:20])

    algo = LogisticRegressionJob()
    with serve(m.host) as url:
        buyer = DataBuyer(reg, m.buyer, url)
        # a stranger asks for the buyer's result: refused
        sale = buyer.buy(v2, algo)
        with pytest.raises(DataHostError, match="bought by"):
            DataBuyer(reg, m.curator, url).fetch(sale)
        resp, wire = buyer.fetch(sale)
        package = buyer.check(sale, resp)
        # a result altered in flight (or by a host that records one hash and hands over another)
        bad = resp.model_copy(update={"result": resp.result.replace('"coef":[[', '"coef":[[1.0,', 1)})
        with pytest.raises(DataHostError, match="result sha256"):
            buyer.check(sale, bad)
        t0 = time.perf_counter()
        again = buyer.run(v2, algo)  # a second purchase, timed end to end
        c2d = time.perf_counter() - t0

    # the raw records never crossed the wire: no row value and no salt in the host's answer
    rows = [r for recs in m.split.contributions for r in recs]
    raw_values = {f for r in rows for f in r.features}
    assert not raw_values & set(_numbers(json.loads(wire))), "a raw feature value reached the buyer"
    text = wire.decode()
    assert not any(r.salt.hex() in text for r in rows)
    assert len(wire) < 4096  # parameters of a 30-feature linear model and a receipt, not 426 rows

    # the result is useful, is what the chain recorded, and pays the contributors
    assert accuracy(package, m.split.held_out_x, m.split.held_out_y) > 0.9
    s = reg.read_sale(sale)
    assert s.state == SALE_DELIVERED and s.result_hash == hashlib.sha256(package).hexdigest()
    assert again.package == package  # deterministic: same version, same algorithm, same result
    assert all(reg.pending(x.address) > 0 for x in m.subjects)
    assert reg.pending(m.curator.address) > 0

    # the same training run locally, for the time it costs to send the algorithm to the data
    t0 = time.perf_counter()
    local = algo.run(
        [m.host.store.get(h) for h in sorted_records(kept)], bytes.fromhex(again.receipt.record_root)
    )
    local_s = time.perf_counter() - t0
    assert local == package
    print(
        f"\ncompute-to-data {c2d:.2f} s (host {again.host_seconds:.2f} s) vs local training {local_s:.2f} s"
    )

    # lineage: the buyer publishes the model naming the version and its consent root
    models = m.suite.models
    rcpt = models.register_model(
        "breast-cancer-logreg", 0, 0, hashlib.sha256(package).digest(), [], [], algo.algo_hash, sender=m.buyer
    )
    model_id = models.registered_model_id(rcpt)
    stranger_model = models.registered_model_id(
        models.register_model("copy", 0, 0, keccak(b"x"), [], [], b"\x00" * 32, sender=m.curator)
    )
    with pytest.raises(ContractReverted, match="not the sale's buyer"):
        models.set_data_lineage(stranger_model, reg.address, sale, sender=m.curator)
    models.set_data_lineage(model_id, reg.address, sale, sender=m.buyer)
    lin, ver = models.data_lineage(model_id), reg.read_version(v2)
    assert (lin.version_id, lin.record_root, lin.consent_root) == (v2, ver.record_root, ver.consent_root)
    assert lin.result_hash == hashlib.sha256(package).hexdigest() and lin.algo_hash == algo.algo_hash.hex()
    with pytest.raises(ContractReverted, match="data lineage set"):
        models.set_data_lineage(model_id, reg.address, again.sale_id, sender=m.buyer)
    assert PRICE > 0
