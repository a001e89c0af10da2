"""Issue #15: a node refuses to serve a model whose data lineage is tainted (trained on a version that
holds a record whose consent was revoked, not retrained), at start and when a paid job for it arrives.

The attack: a data subject revokes consent; the model trained on their record stays registered and a
node keeps selling inferences of it. Real chain (suite + DataRegistry), a real compute-to-data sale and
lineage, a real node service doing admission of a real signed job."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_market import Market
from eth_utils import keccak

from veilproof.chain import Network
from veilproof.chain.data_registry import USE_TRAINING, record_proof
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.job_market import JobMode
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.errors import TaintedLineage
from veilproof.node.service import NodeService
from veilproof.protocol import RequestSig
from veilproof.protocol.signing import sign_request

ALGO = keccak(b"algo")


def _node(m: Market, home: Path, model_id: int, *, enforce: bool = True) -> NodeService:
    home.mkdir()
    cfg = NodeConfig(
        home=home, chain_url="embedded", deployment_file=home / "d.json", account_name="n",
        models=[ServedModel(model_id)], stake=100 * ONE_VEIL, refuse_tainted_data=enforce, lineage_recheck_s=0,
    )  # fmt: skip
    (acct,) = m.net.new_accounts(1)
    m.suite.token.mint(acct.address, 100 * ONE_VEIL, sender=m.owner)
    return NodeService(cfg, m.net, m.suite, acct)


def test_a_node_stops_serving_a_model_once_its_training_data_is_revoked(net: Network, tmp_path: Path) -> None:
    m = Market.build(net, tmp_path / "host")
    reg, models, market = m.suite.data, m.suite.models, m.suite.market
    recs = m.contribute([c[:4] for c in m.split.contributions])
    vid = reg.commit_version(m.dataset_id, 0, recs, sender=m.curator)
    m.suite.token.approve(reg.address, reg.read_dataset(m.dataset_id).price, sender=m.buyer)
    sale = reg.buy(vid, USE_TRAINING, ALGO, sender=m.buyer)
    reg.deliver(sale, keccak(b"trained model"), sender=m.host_acct)
    mid = models.registered_model_id(
        models.register_model("trained", 1, 0, keccak(b"onnx"), [], [], ALGO, sender=m.buyer)
    )
    models.set_data_lineage(mid, reg.address, sale, sender=m.buyer)
    models.set_fhe_commitment(mid, keccak(b"client.zip"), keccak(b"server.zip"), sender=m.buyer)

    node = _node(m, tmp_path / "node", mid)
    node.load_models()  # lineage current: served
    node.ensure_registered_and_staked("http://127.0.0.1:9")

    def open_job(node: NodeService) -> tuple[int, bytes, str]:
        m.suite.token.approve(market.address, 10 * ONE_VEIL, sender=m.buyer)
        body = b'{"input": [0.0]}'
        rcpt = market.open_job(
            mid, node.address, keccak(body), JobMode.FHE, net.now() + 600, max_price=10 * ONE_VEIL,
            eval_keys_hash=keccak(b"keys"), sender=m.buyer,
        )  # fmt: skip
        job_id = market.opened_job_id(rcpt)
        ctx = RequestSig(net.chain_id, market.address, node.address, job_id)
        return job_id, body, sign_request(m.buyer, ctx, body)

    job_id, body, sig = open_job(node)
    # before the revocation the job is admitted (every check passes; nothing is started on chain yet)
    assert node._admit(job_id, JobMode.FHE, body, sig).job_id == job_id

    # a subject revokes a record of the version; anyone proves the version holds it
    gone = recs[0]
    reg.revoke(m.dataset_id, gone, sender=m.subjects[0])
    reg.flag_revoked(vid, gone, record_proof(recs, gone), sender=m.subjects[0])

    # the running node refuses the next paid job, with a typed refusal naming why
    with pytest.raises(TaintedLineage, match=f"model {mid}: data lineage tainted"):
        node._admit(job_id, JobMode.FHE, body, sig)
    # a node starting now refuses to load the model at all
    with pytest.raises(TaintedLineage, match="revoked"):
        _node(m, tmp_path / "node2", mid).load_models()
    # the policy is a flag: a node that turns it off serves (admission goes on to its other checks)
    off = _node(m, tmp_path / "node3", mid, enforce=False)
    off.load_models()
    off.ensure_registered_and_staked("http://127.0.0.1:8")
    job2, body2, sig2 = open_job(off)
    assert off._admit(job2, JobMode.FHE, body2, sig2).job_id == job2
    # the HTTP layer answers the client 404 with the reason (TaintedLineage is a NotServed)
    from veilproof.node.app import status_of

    assert status_of(TaintedLineage("x")) == 404
