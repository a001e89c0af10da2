"""Honest FHE nodes on circuits with programmable bootstrapping (XGBoost here) are never treated as
cheaters (issue #12 item 5).

A PBS circuit's output ciphertext differs between processes in its noise bits (Concrete picks its FFT
plan at runtime), so an honest node's output hash is not what a validator recomputes. Before the fix
the validator read that as fraud: its own audit of an honest node scored 0, and a disclosed job was
attested in FheQuorum and the honest node slashed. Now validators tell such circuits by their keyset
(a circuit with bootstrap keys does PBS), never attest or score their hashes, and judge those nodes
by the decrypted answers of their own audit queries -- which still catch a wrong answer.

Real parts: chain, contracts, a node process serving the XGBoost circuit, real keys and ciphertexts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from world import PRICE, SLASH

from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.views import MODE_FHE, SUBMITTED, read_job, read_model
from veilproof.client.publish import publish_model
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.incentives.deploy import deploy_incentives
from veilproof.node.config import ServedModel
from veilproof.validator import DisclosureBox, Validator, WeightedPolicy
from veilproof.validator.audits import ClientFactory

pytestmark = pytest.mark.slow
MakeValidator = Callable[..., Validator]  # the make_validator fixture (tests/validator/conftest.py)


@dataclass
class XgbWorld:
    lnet: LocalNetwork
    model_id: int
    node: NodeProcess
    bundle: Any  # veilproof.fhe.FheBundle
    data: Any  # veilproof.models.datasets.Dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XgbWorld]:
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.fhe_examples import build_bundle, load_dataset

    root = tmp_path_factory.mktemp("val-xgb")
    store = ArtifactStore(root / "store")
    data = load_dataset()
    bundle = build_bundle("xgb", store, data)
    assert not bundle.deterministic
    params = SuiteParams.dev(slash_amount=SLASH, max_deadline=3600, challenge_window=1800)
    lnet = LocalNetwork.start(root / "net", None, params=params)
    try:
        deploy_incentives(lnet.net, lnet.owner, lnet.suite.deployment)
        pub = publish_model(
            lnet.suite, lnet.owner, name="xgb-fhe", price=PRICE, royalty_bps=2_000,
            onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
            fhe_server_hash=bundle.server_zip_hash,
        )  # fmt: skip
        node = lnet.start_node(
            "xgb-node",
            [ServedModel(pub.model_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash)],
            artifacts_dir=store.root,
            stake_veil=300,
        )
        yield XgbWorld(lnet, pub.model_id, node, bundle, data)
    finally:
        lnet.stop()


def _disclosed_honest_job(w: XgbWorld, box: DisclosureBox, root: Path) -> int:
    """A patient's job that the node answered honestly, disclosed while still inside its window. The
    test plays the node's on-chain part with the node's key; the output is computed by a FheServer
    of its own (its own worker process, as the node's would be)."""
    from veilproof.fhe import FheClient, FheServer

    suite, net, b = w.lnet.suite, w.lnet.net, w.bundle
    node = w.node.account
    fc = FheClient(b.client_zip_path, root / "patient-keys", expected_client_hash=b.client_zip_hash)
    keys = fc.evaluation_keys()
    ct = fc.encrypt(w.data.x_test[3].reshape(1, -1).astype(np.float32))
    with FheServer(b.server_zip_path, expected_hash=b.server_zip_hash) as node_server:
        out = node_server.run(ct, keys)
    assert np.argmax(fc.decrypt(out)) in (0, 1)  # a real, decryptable answer
    client = w.lnet.new_funded(10)
    suite.token.approve(suite.market.address, 10 * ONE_VEIL, sender=client)
    rcpt = suite.market.open_job(
        w.model_id,
        node.address,
        hashlib.sha256(ct).digest(),
        MODE_FHE,
        net.now() + 900,
        max_price=10 * ONE_VEIL,
        eval_keys_hash=hashlib.sha256(keys).digest(),
        sender=client,
    )
    jid = suite.market.opened_job_id(rcpt)
    suite.market.start_job(jid, sender=node)
    suite.market.submit_fhe(
        jid, hashlib.sha256(keys).digest(), hashlib.sha256(ct).digest(), hashlib.sha256(out).digest(),
        bytes.fromhex(b.server_zip_hash), sender=node,
    )  # fmt: skip
    box.disclose(jid, ct, keys)
    return jid


def test_honest_node_on_a_pbs_circuit_keeps_full_score_and_is_never_disputed(
    world: XgbWorld, tmp_path: Path, make_validator: MakeValidator
) -> None:
    w = world
    suite = w.lnet.suite
    box = DisclosureBox(tmp_path / "disclosed")
    v = make_validator(w, tmp_path / "v", disclosures=box)  # holds the 2/3 quorum alone
    job = _disclosed_honest_job(w, box, tmp_path)
    stake0 = suite.nodes.read_node(w.node.account.address).stake
    try:
        audit = v.audit_epoch()
    finally:
        v.close()
    (st,) = audit.stats.values()
    assert st.attempted >= 1 and st.wrong == 0, [r.detail for r in st.records]
    assert st.correctness == 1.0 and audit.weights[st.index] == 65_535  # full score
    assert all(not r.attested for r in audit.reexecutions)
    assert suite.quorum is not None and not suite.quorum.attested(job, v.account.address)
    assert read_job(suite, job).status == SUBMITTED  # never disputed
    assert suite.nodes.read_node(w.node.account.address).stake == stake0  # never slashed


def test_cheater_on_a_pbs_circuit_is_caught_by_audit_answers(
    world: XgbWorld, tmp_path: Path, make_validator: MakeValidator, wrong_answer_clients: ClientFactory
) -> None:
    v = make_validator(world, tmp_path / "v", client_factory=wrong_answer_clients)
    try:
        audit = v.audit_epoch()
    finally:
        v.close()
    (st,) = audit.stats.values()
    assert st.wrong >= 1 and "expected" in st.records[0].detail
    assert WeightedPolicy().score(st) == 0.0 and audit.weights[st.index] == 0
    assert read_model(world.lnet.suite, world.model_id).fhe_server_hash == world.bundle.server_zip_hash
