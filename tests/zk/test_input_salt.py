"""Hiding, per-job ZK input commitments (issue #12): the attacks an unsalted commitment allows, played
with real EZKL packages, real proofs and EZKL's real verifier on chain, against a package compiled with
a client salt (veilproof.zk.salt) — where they must fail — and against an unsalted package.

Unsalted packages (built with ``salt_elements=0``, and every package built before salts) stay
vulnerable: those cases are ``xfail(strict=True)``, so they fail today and turn red if that changes.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite, deploy_zk_verifier
from veilproof.chain.suite import Suite
from veilproof.chain.views import MODE_ZK, SETTLED, read_job
from veilproof.client.publish import publish_model
from veilproof.errors import ContractReverted, InputError
from veilproof.models import prove
from veilproof.zk import evm
from veilproof.zk.instances import input_commitment
from veilproof.zk.salt import SALT_BITS, new_salt, salt_layout, salted_input

pytestmark = pytest.mark.slow
PRICE = 2 * ONE_VEIL
UNSALTED = (
    "issue #12: an unsalted package commits poseidon(input): equal inputs give equal commitments across "
    "jobs and clients (linkable, guessable, and one proof serves every such job); build with salt_elements"
)


@pytest.fixture(
    scope="module",
    params=["salted", pytest.param("unsalted", marks=pytest.mark.xfail(strict=True, reason=UNSALTED))],
)
def m(request, mlp, mlp_salted):  # type: ignore[no-untyped-def]
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    built = mlp_salted if request.param == "salted" else mlp
    pkg = built.package
    net = connect()
    owner, node, alice, bob = net.new_accounts(4)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    s = Suite.attach(net, d)
    pub = publish_model(s, owner, name="mlp", price=PRICE, onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg)
    for acct, amount in ((node, 1000), (alice, 100), (bob, 100)):
        s.token.mint(acct.address, amount * ONE_VEIL, sender=owner)
    s.nodes.register("http://127.0.0.1:1", b"\x02" * 33, [pub.model_id], sender=node)
    s.token.approve(s.nodes.address, 1000 * ONE_VEIL, sender=node)
    s.nodes.stake(1000 * ONE_VEIL, sender=node)
    return SimpleNamespace(
        net=net, s=s, node=node, alice=alice, bob=bob, mid=pub.model_id, built=built, pkg=pkg
    )


def _client_input(m, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """What a client sends and commits to (Client._salted): x, plus a fresh salt if the circuit has one."""
    n, k = salt_layout(m.pkg.path("onnx"))
    assert n == x.size
    return salted_input(x, new_salt(k, m.pkg.settings.input_scale)) if k else x


def _open(m, client, xc: np.ndarray) -> int:  # type: ignore[no-untyped-def]
    s = m.s
    s.token.approve(s.market.address, PRICE, sender=client)
    commit = input_commitment(m.pkg.settings, xc).to_bytes(32, "big")
    rcpt = s.market.open_job(
        m.mid, m.node.address, commit, MODE_ZK, m.net.now() + 3600, max_price=PRICE, sender=client
    )
    return s.market.opened_job_id(rcpt)


def _start_and_submit(m, job_id, proof) -> None:  # type: ignore[no-untyped-def]
    if read_job(m.s, job_id).started_at == 0:
        m.s.market.start_job(job_id, sender=m.node)
    pb, inst = evm.calldata(proof)
    m.s.market.submit_zk(job_id, inst, pb, sender=m.node, gas=3_000_000)


def test_a_proof_serves_only_its_own_job(m) -> None:  # type: ignore[no-untyped-def]
    """Two clients ask the same question (a default form, a popular query). The node proves once and
    submits the same proof for both jobs. The second submission must fail ``input mismatch``: each
    job's commitment carries its own salt."""
    x = m.built.example.x_test[0]
    xa, xb = _client_input(m, x), _client_input(m, x)
    j1, j2 = _open(m, m.alice, xa), _open(m, m.bob, xb)
    r = prove(m.pkg, xa)  # the node proves exactly what Alice sent
    _start_and_submit(m, j1, r.proof)
    assert read_job(m.s, j1).status == SETTLED
    with pytest.raises(ContractReverted, match="input mismatch"):
        _start_and_submit(m, j2, r.proof)  # unsalted: accepted, paid twice for one proof
    # an honest proof of Bob's own input settles his job with the same outputs
    rb = prove(m.pkg, xb)
    _start_and_submit(m, j2, rb.proof)
    assert read_job(m.s, j2).status == SETTLED
    assert rb.outputs == r.outputs  # same answer, two proofs


def test_commitments_hide_the_input_and_do_not_link_jobs(m) -> None:  # type: ignore[no-untyped-def]
    """Anyone reading JobOpened sees the commitment and can read the circuit settings (public
    artifacts). From a small candidate set (e.g. the 10 forms a hospital sends) the attacker must not
    tell which input a job used, and two jobs on the same input must not share a commitment."""
    settings = m.pkg.settings
    candidates = [m.built.example.x_test[i] for i in range(10)]
    secret = 7
    job = _open(m, m.alice, _client_input(m, candidates[secret]))
    on_chain = read_job(m.s, job).input_commitment
    # the attacker hashes each candidate (with the salt the attacker cannot know, an all-zero guess)
    guesses = [
        i for i, c in enumerate(candidates) if input_commitment(settings, _attacker_input(m, c)) == on_chain
    ]
    assert guesses != [secret], "the attacker recovered the input by hashing 10 candidates"
    again = _open(m, m.bob, _client_input(m, candidates[secret]))
    assert read_job(m.s, again).input_commitment != read_job(m.s, job).input_commitment


def _attacker_input(m, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    n, k = salt_layout(m.pkg.path("onnx"))
    return salted_input(x, np.zeros(k, dtype=np.float32)) if k else x


def test_salt_is_exact_and_ignored_by_the_model(mlp, mlp_salted) -> None:  # type: ignore[no-untyped-def]
    """The salt reaches the hash bit for bit (f32 carries it exactly), never the computation: the
    salted circuit's outputs equal the unsalted circuit's on the same input, for the smallest and
    largest salts, and each salt element carries SALT_BITS bits (8 x 16 = 128)."""
    from veilproof.zk.instances import felt_hex_to_int, quantize_input

    pkg = mlp_salted.package
    n, k = salt_layout(pkg.path("onnx"))
    assert (n, k, pkg.salt_elements) == (30, 8, 8) and k * SALT_BITS >= 128
    assert pkg.model_input_shape == (1, 30) and pkg.input_shape == (1, 38)
    x = mlp.example.x_test[2]
    base = prove(mlp.package, x).outputs
    scale = pkg.settings.input_scale
    for r in (0, 2**SALT_BITS - 1):
        salt = np.full(k, r / 2**scale, dtype=np.float32)
        felts = [felt_hex_to_int(h) for h in quantize_input(pkg.settings, salted_input(x, salt))[n:]]
        assert felts == [r] * k
        assert prove(pkg, x, salt=salt).outputs == base


def test_a_client_salts_each_job_through_a_live_node(tmp_path, mlp_salted) -> None:  # type: ignore[no-untyped-def]
    """The whole path with a node as its own process: Client.infer reads the salt layout from the
    committed ONNX, salts, commits and sends; the node (which knows nothing of salts) checks the
    commitment and proves; the chain settles. Two jobs on one input: two commitments, same answer."""
    from veilproof.chain.deploy import SuiteParams
    from veilproof.client import Client
    from veilproof.demo.network import LocalNetwork
    from veilproof.models.package import circuit_outputs
    from veilproof.node.config import ServedModel
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    pkg = mlp_salted.package
    v = evm.compile_reusable_verifier()
    lnet = LocalNetwork.start(
        tmp_path / "net", None, params=SuiteParams.dev(max_deadline=3600), verifier=(v.abi, v.bytecode)
    )
    try:
        pub = publish_model(
            lnet.suite,
            lnet.owner,
            name="mlp-salted",
            price=PRICE,
            onnx_hash=pkg.commitments()["onnx_hash"],
            zk=pkg,
        )
        node = lnet.start_node(
            "n", [ServedModel(pub.model_id, zk_package=pkg.manifest_digest)], artifacts_dir=pkg.store.root
        )
        client = Client(
            lnet.suite, lnet.new_funded(100), tmp_path / "client", deadline_s=1800, poll_interval=0.2
        )
        try:
            x = mlp_salted.example.x_test[4]
            r1 = client.infer(pub.model_id, x, node=node.account.address)
            r2 = client.infer(pub.model_id, x, node=node.account.address)
        finally:
            client.close()
        j1, j2 = read_job(lnet.suite, r1.job_id), read_job(lnet.suite, r2.job_id)
        assert j1.status == j2.status == SETTLED
        assert j1.input_commitment != j2.input_commitment
        assert r1.output == r2.output and np.allclose(r1.output, circuit_outputs(pkg, x), atol=1e-6)
        jobs = lnet.suite.market.job_count()
        c2 = Client(lnet.suite, lnet.new_funded(10), tmp_path / "c2")
        try:  # a wrong-sized input is refused by the client before any job opens (it would be salt)
            with pytest.raises(InputError, match="30 numbers"):
                c2.infer(pub.model_id, np.zeros(29))
        finally:
            c2.close()
        assert lnet.suite.market.job_count() == jobs
    finally:
        lnet.stop()
