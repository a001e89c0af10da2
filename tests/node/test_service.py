"""The node refuses to serve what does not match the chain, and says 503 when its queue is full."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest
from eth_account import Account

from veilproof.chain import connect
from veilproof.chain.deploy import SuiteParams, deploy_suite, deploy_zk_verifier
from veilproof.chain.suite import Suite
from veilproof.client.publish import publish_model
from veilproof.errors import ArtifactError, IntegrityError
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.pool import QueueFull, WorkerPool
from veilproof.node.service import NodeService


def test_pool_refuses_beyond_workers_plus_queue() -> None:
    pool = WorkerPool(workers=1, queue_limit=1)
    gate = threading.Event()
    pool.submit(gate.wait)
    pool.submit(gate.wait)
    assert not pool.has_room()
    with pytest.raises(QueueFull):
        pool.submit(gate.wait)
    gate.set()
    pool.shutdown()
    assert pool.inflight == 0


def test_a_reserved_slot_cannot_be_refused_and_a_released_one_is_free_again() -> None:
    """Admission reserves before ``start_job``: once reserved, queueing the job cannot fail (the old
    check-then-submit let a burst pass the check together and fail the submit after ``start_job``)."""
    pool = WorkerPool(workers=1, queue_limit=1)
    gate = threading.Event()
    a, b = pool.reserve(), pool.reserve()
    with pytest.raises(QueueFull):
        pool.reserve()
    b.release()
    b.release()  # idempotent
    c = pool.reserve()
    a.run(gate.wait)
    c.run(gate.wait)
    assert pool.inflight == 2
    forced = pool.reserve(force=True)  # a job recovered after a restart runs whatever the queue holds
    assert pool.inflight == 3
    forced.run(lambda: None)
    gate.set()
    pool.shutdown()
    assert pool.inflight == 0


def test_a_crashing_job_does_not_kill_the_worker() -> None:
    pool = WorkerPool(workers=1, queue_limit=0)

    def boom() -> None:
        raise RuntimeError("hostile input")

    pool.submit(boom).result()
    done = threading.Event()
    pool.submit(done.set).result()
    assert done.is_set()
    pool.shutdown()


@pytest.fixture(scope="module")
def published(mlp, tmp_path_factory):  # type: ignore[no-untyped-def]
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    net = connect()
    (owner,) = net.new_accounts(1)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    suite = Suite.attach(net, d)
    pub = publish_model(
        suite, owner, name="mlp", price=1, onnx_hash=mlp.package.commitments()["onnx_hash"], zk=mlp.package
    )
    return net, suite, owner, pub.model_id


def _service(tmp_path: Path, net, suite, served: ServedModel, store_root: Path) -> NodeService:  # type: ignore[no-untyped-def]
    (tmp_path / "artifacts").symlink_to(store_root, target_is_directory=True)
    cfg = NodeConfig(
        home=tmp_path,
        chain_url="embedded",
        deployment_file=tmp_path / "d.json",
        account_name="n",
        models=[served],
    )
    return NodeService(cfg, net, suite, Account.create())


def test_node_refuses_a_package_that_differs_from_the_commitment(
    tmp_path: Path, published, mlp_substitute
) -> None:  # type: ignore[no-untyped-def]
    net, suite, _, mid = published
    pkg = mlp_substitute.package
    svc = _service(tmp_path, net, suite, ServedModel(mid, zk_package=pkg.manifest_digest), pkg.store.root)
    with pytest.raises(IntegrityError, match="does not match commitment"):
        svc.load_models()


def test_node_loads_the_committed_package(tmp_path: Path, published, mlp) -> None:  # type: ignore[no-untyped-def]
    net, suite, owner, mid = published
    svc = _service(
        tmp_path, net, suite, ServedModel(mid, zk_package=mlp.package.manifest_digest), mlp.package.store.root
    )
    svc.load_models()
    served = svc.info().models[0]
    assert served.model_id == mid
    # no offer yet: a job costs the list price; no job finished: no median (#14 compute market)
    assert (served.offer, served.job_price, served.median_job_s, served.recent_jobs) == (None, 1, None, 0)
    net.fund(svc.address)
    suite.nodes.register("http://127.0.0.1:9", svc.pubkey, [mid], sender=svc.account)
    # The operator sets an offer from another process with the node's key (``veilproof node offer``):
    # its own Network (nonce count) on the same chain.
    from veilproof.chain.network import Network

    cli = Suite.attach(Network(net.backend), suite.deployment)
    cli.nodes.set_offer(mid, 5, sender=svc.account)
    # /info answers from the node's cache, kept current from registry events by the chain watch
    # (follow_registry, every CHAIN_WATCH_INTERVAL_S): after one pass the new offer shows.
    svc.follow_registry(0)
    info = svc.info()
    royalty = 1 * suite.models.read_model(mid).royalty_bps // 10_000
    assert (info.models[0].offer, info.models[0].job_price) == (5, royalty + 5)
    assert info.free_slots == info.workers + info.queue_limit - info.inflight > 0
    # the node's own transactions still go through after the other process used its nonces
    suite.nodes.set_offer(mid, 6, sender=svc.account)
    # A price change by the model's owner: the cached model is read again (its royalty part of the
    # node's job price is a share of the list price).
    price = 40_000
    suite.models.set_price(mid, price, sender=owner)
    svc.follow_registry(0)
    royalty = price * suite.models.read_model(mid).royalty_bps // 10_000
    assert svc.models[mid].onchain.price == price
    assert (svc.info().models[0].price, svc.info().models[0].job_price) == (price, royalty + 6)
    suite.models.set_price(mid, 1, sender=owner)  # the module's other tests expect the list price 1


def test_node_refuses_a_retired_model(tmp_path: Path, published, mlp) -> None:  # type: ignore[no-untyped-def]
    net, suite, owner, _ = published
    pub = publish_model(
        suite, owner, name="old", price=1, onnx_hash=mlp.package.commitments()["onnx_hash"], zk=mlp.package
    )
    suite.models.retire(pub.model_id, sender=owner)
    svc = _service(
        tmp_path,
        net,
        suite,
        ServedModel(pub.model_id, zk_package=mlp.package.manifest_digest),
        mlp.package.store.root,
    )
    with pytest.raises(ArtifactError, match="retired"):
        svc.load_models()


def test_missing_artifact_with_no_source_is_a_named_error(tmp_path: Path, published) -> None:  # type: ignore[no-untyped-def]
    net, suite, _, mid = published
    empty = tmp_path / "empty-store"
    empty.mkdir()
    svc = _service(tmp_path, net, suite, ServedModel(mid, zk_package="ab" * 32), empty)
    with pytest.raises(ArtifactError, match="not found on any source"):
        svc.load_models()


def test_store_answers_no_row_for_ids_sqlite_cannot_hold(tmp_path: Path) -> None:
    """A job id beyond int64 overflowed SQLite inside ``get`` (a 500 on GET /jobs/{id}); it is simply
    not a job this node has."""
    from veilproof.node.store import NodeStore

    db = NodeStore(tmp_path / "node.sqlite")
    assert db.get(2**64) is None and db.get(2**63) is None and db.get(0) is None and db.get(-1) is None
    assert db.get(1) is None


def test_node_refuses_a_model_whose_vka_the_verifier_does_not_know(tmp_path: Path, published, mlp) -> None:  # type: ignore[no-untyped-def]
    """Review item 2: a model committed on chain but whose VKA was never registered with the verifier
    adapter fails every proof on chain; a node that served it would be slashable for every job it took
    (refund after the deadline, or challenge_zk of its claim). The node refuses to serve it."""
    from veilproof.errors import ConfigError

    net, suite, owner, _ = published
    c = mlp.package.commitments()
    rcpt = suite.models.register_model(
        "unregistered", 1, 0, bytes.fromhex(c["onnx_hash"]), [], [], b"\0" * 32, sender=owner
    )
    mid = suite.models.registered_model_id(rcpt)
    suite.models.set_zk_commitment(
        mid,
        *(
            bytes.fromhex(c[k].removeprefix("0x"))
            for k in ("zk_settings_hash", "zk_vka_digest", "zk_srs_hash")
        ),
        sender=owner,
    )
    assert suite.zk_adapter is not None and not suite.zk_adapter.is_registered(mid)
    svc = _service(
        tmp_path, net, suite, ServedModel(mid, zk_package=mlp.package.manifest_digest), mlp.package.store.root
    )
    with pytest.raises(ConfigError, match="not registered"):
        svc.load_models()


def test_node_refuses_a_server_zip_carrying_a_shared_library(tmp_path: Path, published) -> None:  # type: ignore[no-untyped-def]
    """A committed server.zip proves its bytes, not that they are harmless: Concrete would dlopen a
    precompiled sharedlib.so shipped in it. A node refuses such a package before Concrete sees it."""
    import hashlib
    import zipfile

    from veilproof.artifacts import ArtifactStore
    from veilproof.artifacts.sandbox import UnsafeArtifact

    net, suite, owner, _ = published
    store = ArtifactStore(tmp_path / "store")
    zpath = tmp_path / "server.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("circuit.mlir", "func.func @main() { return }")
        z.writestr("versions.json", "{}")
        z.writestr("sharedlib.so", b"\x7fELF\x02\x01\x01" + b"\0" * 64)
    digest = store.put_file(zpath)
    assert digest == hashlib.sha256(zpath.read_bytes()).hexdigest()
    pub = publish_model(
        suite, owner, name="trojan", price=1, onnx_hash=digest, fhe_server_hash=digest, fhe_client_hash=digest
    )
    home = tmp_path / "home"
    home.mkdir()
    svc = _service(home, net, suite, ServedModel(pub.model_id, fhe_server=digest), store.root)
    with pytest.raises(UnsafeArtifact, match="sharedlib.so"):
        svc.load_models()


def test_key_uploads_are_held_per_job_and_counted_once_per_client(tmp_path: Path) -> None:
    """The same keys serve several jobs of a client: they count once in its quota, and stay while any
    of those jobs still holds them (dropping one job's upload must not drop the others')."""
    from veilproof.node.store import NodeStore

    db = NodeStore(tmp_path / "node.sqlite", "31337:0xmarket:genesis")
    a, b = "aa" * 32, "bb" * 32
    db.add_keys(a, "0xC1", 1, 64, 100)
    db.add_keys(a, "0xc1", 2, 64, 200)
    db.add_keys(b, "0xC1", 3, 32, 300)
    db.add_keys(a, "0xC2", 4, 64, 400)
    assert db.key_bytes_of("0xc1") == 96 and db.key_bytes_of("0xC2") == 64
    assert db.client_holds("0xC1", a) and not db.client_holds("0xC2", b)
    rows = {r.job_id: r for r in db.key_uploads()}
    assert db.drop_keys([rows[1]]) == []  # job 2 (and client 2's job 4) still hold a
    assert db.drop_keys([rows[2], rows[3]]) == [b]
    assert db.drop_keys([rows[4]]) == [a]
    assert db.key_bytes_of("0xc1") == 0


def _job_for(svc: NodeService, suite, owner, mid: int, pkg):  # type: ignore[no-untyped-def]
    """A client's open ZK job on ``svc`` (registered, staked) and its signed, encrypted request."""
    import json

    import numpy as np

    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.chain.job_market import JobMode
    from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
    from veilproof.zk.instances import input_commitment

    net = suite.net
    net.fund(svc.address)
    suite.token.mint(svc.address, 500 * ONE_VEIL, sender=owner)
    svc.cfg.stake = 200 * ONE_VEIL
    svc.ensure_registered_and_staked("http://127.0.0.1:9")
    client = Account.create()
    net.fund(client.address)
    suite.token.mint(client.address, 10 * ONE_VEIL, sender=owner)
    suite.token.approve(suite.market.address, 10 * ONE_VEIL, sender=client)
    x = np.zeros(pkg.input_shape, dtype=np.float64)
    commit = input_commitment(pkg.settings, x).to_bytes(32, "big")
    rcpt = suite.market.open_job(
        mid, svc.address, commit, int(JobMode.ZK), net.now() + 3600, max_price=10 * ONE_VEIL, sender=client
    )
    job_id = suite.market.opened_job_id(rcpt)
    env = encrypt_for_node(svc.pubkey, json.dumps(x.tolist()).encode())
    body = json.dumps({"encrypted_input": "0x" + env.hex()}).encode()
    sig = sign_request(client, RequestSig(net.chain_id, suite.market.address, svc.address, job_id), body)
    return job_id, env, body, sig


@pytest.mark.slow
def test_a_job_whose_start_job_the_chain_refuses_is_proven_meanwhile_but_never_delivered(
    tmp_path: Path, published, mlp, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """#14: the worker proves while admission's ``start_job`` is mined (it was awaited first: ~20 ms of
    every job). Fault injected: the chain refuses ``start_job`` after the proof is done. The node must
    not deliver (no pre-sign check, no submit, no record: the client may retry), and the job stays
    open and unstarted on chain; the client is told why (JobNotOpen)."""
    from veilproof.chain.job_market import JobStatus
    from veilproof.errors import ContractReverted
    from veilproof.node.errors import JobNotOpen

    net, suite, owner, mid = published
    svc = _service(
        tmp_path, net, suite, ServedModel(mid, zk_package=mlp.package.manifest_digest), mlp.package.store.root
    )
    svc.load_models()
    job_id, env, body, sig = _job_for(svc, suite, owner, mid, mlp.package)
    proven = threading.Event()
    real_prove = svc._prove

    def prove(lm, x):  # type: ignore[no-untyped-def]
        r = real_prove(lm, x)
        proven.set()
        return r

    def refused_start(job_id: int, *, sender) -> None:  # type: ignore[no-untyped-def]
        assert proven.wait(90), "the worker did not prove while start_job was in flight"
        raise ContractReverted("job not open", "start_job")

    delivered: list[str] = []
    monkeypatch.setattr(svc, "_prove", prove)
    monkeypatch.setattr(svc.suite.market, "start_job", refused_start)
    monkeypatch.setattr(svc.suite.market, "check_submit_zk", lambda *a, **k: delivered.append("check"))
    monkeypatch.setattr(svc.suite.market, "submit_zk", lambda *a, **k: delivered.append("submit"))
    try:
        with pytest.raises(JobNotOpen, match="cannot be started"):
            svc.submit_zk(job_id, env, body, sig)
        svc.pool.shutdown()  # waits for the worker
        assert proven.is_set() and delivered == []
        assert svc.db.get(job_id) is None  # forgotten: the client may retry
        job = suite.market.read_job(job_id)
        assert job.status == JobStatus.OPEN and job.started_at == 0
    finally:
        svc.prover.close()


@pytest.mark.slow
def test_a_started_jobs_proof_overlaps_its_start_job(tmp_path: Path, published, mlp, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The same with ``start_job`` mined (after a 1 s delay injected): the job is submitted and paid,
    and the worker waited for the transaction only for what was left of it after its proof."""
    from veilproof.chain.job_market import JobStatus
    from veilproof.protocol.api import JobState

    net, suite, owner, mid = published
    svc = _service(
        tmp_path, net, suite, ServedModel(mid, zk_package=mlp.package.manifest_digest), mlp.package.store.root
    )
    svc.load_models()
    job_id, env, body, sig = _job_for(svc, suite, owner, mid, mlp.package)
    real_start = svc.suite.market.start_job
    proven = threading.Event()
    real_prove = svc._prove

    def prove(lm, x):  # type: ignore[no-untyped-def]
        r = real_prove(lm, x)
        proven.set()
        return r

    def slow_start(job_id: int, *, sender):  # type: ignore[no-untyped-def]
        assert proven.wait(90)
        return real_start(job_id, sender=sender)

    monkeypatch.setattr(svc, "_prove", prove)
    monkeypatch.setattr(svc.suite.market, "start_job", slow_start)
    try:
        svc.submit_zk(job_id, env, body, sig)
        svc.pool.shutdown()
        row = svc.db.get(job_id)
        assert row is not None and JobState(row.state) == JobState.SUBMITTED, row and row.error
        assert suite.market.read_job(job_id).status in (JobStatus.SUBMITTED, JobStatus.SETTLED)
        phases = svc.timers.get(job_id).report().phases
        assert "verify" not in phases  # the chain's eth_call verified the proof, not the prover twice
        assert phases["start_job"] > 0  # the worker's wait for the transaction after its proof
    finally:
        svc.prover.close()
