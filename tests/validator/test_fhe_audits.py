"""FHE audits on a live node process: an honest node passes a known-answer audit under a fresh key;
a wrong answer (fault injected on the client side only) is caught; a disclosed job whose posted output
hash is not what the circuit computes is refuted by re-execution and slashed through FheQuorum."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from world import PRICE, FheWorld, make_fhe_world

from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.views import MODE_FHE, SLASHED, SUBMITTED, read_job, read_model
from veilproof.validator import DisclosureBox, Validator, WeightedPolicy
from veilproof.validator.audits import ClientFactory

pytestmark = pytest.mark.slow
MakeValidator = Callable[..., Validator]  # the make_validator fixture (tests/validator/conftest.py)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FheWorld]:
    w = make_fhe_world(tmp_path_factory.mktemp("val-fhe"), None)
    assert w.lnet.suite.quorum is not None  # the default deployment wires FheQuorum in as arbiter
    try:
        yield w
    finally:
        w.lnet.stop()


def test_fhe_audit_honest_node_passes_under_a_fresh_key(
    world: FheWorld, tmp_path: Path, make_validator: MakeValidator
) -> None:
    v = make_validator(world, tmp_path / "v")
    try:
        audit = v.audit_epoch()
    finally:
        v.close()
    (st,) = audit.stats.values()
    assert st.attempted == 1 and st.correctness == 1.0 and st.availability == 1.0
    assert audit.weights[st.index] == 65_535
    # the audit used a key directory of its own (fresh keys), not the validator's
    homes = list((tmp_path / "v" / "audit-clients").iterdir())
    assert len(homes) == 1 and any(homes[0].rglob("keyset.bin"))
    job = read_job(world.lnet.suite, st.records[0].job_id)
    assert job.client != v.account.address and job.mode == MODE_FHE


def test_fhe_audit_catches_a_wrong_answer(
    world: FheWorld, tmp_path: Path, make_validator: MakeValidator, wrong_answer_clients: ClientFactory
) -> None:
    v = make_validator(world, tmp_path / "v", client_factory=wrong_answer_clients)
    try:
        audit = v.audit_epoch()
    finally:
        v.close()
    (st,) = audit.stats.values()
    assert st.wrong == 1 and "expected" in st.records[0].detail
    assert WeightedPolicy().score(st) == 0.0 and audit.weights[st.index] == 0


def test_reexecution_refutes_a_wrong_posted_hash_and_slashes(
    world: FheWorld, tmp_path: Path, make_validator: MakeValidator
) -> None:
    from veilproof.fhe import FheClient

    w = world
    suite, net = w.lnet.suite, w.lnet.net
    box = DisclosureBox(tmp_path / "disclosed")
    # Validators of earlier tests stay registered: by default it bonds 3x their stake, so it holds the
    # 2/3 quorum alone.
    v = make_validator(w, tmp_path / "v", disclosures=box)
    node = w.node.account  # the test plays the node's part on chain, with the node's key
    model = read_model(suite, w.model_id)
    server = v.references.fhe_server(model)
    fc = FheClient(
        w.bundle.client_zip_path, tmp_path / "patient-keys", expected_client_hash=model.fhe_client_hash
    )
    keys = fc.evaluation_keys()
    client = w.lnet.new_funded(10)
    suite.token.approve(suite.market.address, 10 * ONE_VEIL, sender=client)

    def job(ct: bytes, output: bytes) -> int:
        rcpt = suite.market.open_job(
            w.model_id, node.address, hashlib.sha256(ct).digest(), MODE_FHE, net.now() + 900,
            max_price=10 * ONE_VEIL, eval_keys_hash=hashlib.sha256(keys).digest(), sender=client,
        )  # fmt: skip
        jid = suite.market.opened_job_id(rcpt)
        suite.market.start_job(jid, sender=node)
        suite.market.submit_fhe(
            jid, hashlib.sha256(keys).digest(), hashlib.sha256(ct).digest(),
            hashlib.sha256(output).digest(), bytes.fromhex(model.fhe_server_hash), sender=node,
        )  # fmt: skip
        box.disclose(jid, ct, keys)
        return jid

    x0, x1 = (w.data.x_test[i].reshape(1, -1).astype(np.float32) for i in (0, 1))
    ct0, ct1 = fc.encrypt(x0), fc.encrypt(x1)
    honest_job = job(ct0, server.run(ct0, keys))
    cheat_job = job(ct1, server.run(ct0, keys))  # the node reuses an earlier output
    stake0 = suite.nodes.read_node(node.address).stake
    try:
        audit = v.audit_epoch()
    finally:
        v.close()
    by_job = {r.job_id: r for r in audit.reexecutions}
    assert by_job[honest_job].match and not by_job[honest_job].attested
    assert not by_job[cheat_job].match and by_job[cheat_job].attested
    assert read_job(suite, honest_job).status == SUBMITTED
    assert read_job(suite, cheat_job).status == SLASHED  # this validator holds ≥ 2/3 of validator stake
    assert suite.nodes.read_node(node.address).stake < stake0
    (st,) = audit.stats.values()
    assert st.wrong == 1 and audit.weights[st.index] == 0  # the refutation also zeroes its weight
    # the challenger share of the slash is pulled by the winning attester (FheQuorum.collect + claim)
    before = suite.token.balance_of(v.account.address)
    reward = v.reexecutor.collect_rewards()
    assert reward > 0 and suite.token.balance_of(v.account.address) - before == reward
    assert not v.reexecutor.attested and v.reexecutor.collect_rewards() == 0
    assert PRICE  # (the audit jobs were paid like any other)
