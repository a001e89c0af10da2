"""The ZK input commitment is an unsalted Poseidon hash of the input (issue #12, medium): what it lets
an attacker do today, played with a real EZKL package, real proofs and EZKL's real verifier on chain.

Each test asserts the property we want and is marked ``xfail(strict=True)``: it fails on today's code
(the attack works), and the day a client salt lands it passes, which strict mode turns into a failure
so the marker is removed with the fix. The fix is designed in docs/design.md ("Hiding, per-job input
commitments").
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import pytest

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite, deploy_zk_verifier
from veilproof.chain.suite import Suite
from veilproof.chain.views import MODE_ZK, SETTLED, read_job
from veilproof.client.publish import publish_model
from veilproof.errors import ContractReverted
from veilproof.zk import evm
from veilproof.zk.instances import input_commitment

pytestmark = pytest.mark.slow
PRICE = 2 * ONE_VEIL
UNSALTED = (
    "issue #12: the ZK input commitment is poseidon(input) with no client salt, so equal inputs give "
    "equal commitments across jobs and clients (linkable, guessable, and one proof serves every such job)"
)


@pytest.fixture(scope="module")
def m(mlp):  # type: ignore[no-untyped-def]
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    net = connect()
    owner, node, alice, bob = net.new_accounts(4)
    d = deploy_suite(net, owner, SuiteParams())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    s = Suite.attach(net, d)
    pub = publish_model(
        s, owner, name="mlp", price=PRICE, onnx_hash=mlp.package.commitments()["onnx_hash"], zk=mlp.package
    )
    for acct, amount in ((node, 1000), (alice, 100), (bob, 100)):
        s.token.mint(acct.address, amount * ONE_VEIL, sender=owner)
    s.nodes.register("http://127.0.0.1:1", b"\x02" * 33, [pub.model_id], sender=node)
    s.token.approve(s.nodes.address, 1000 * ONE_VEIL, sender=node)
    s.nodes.stake(1000 * ONE_VEIL, sender=node)
    return SimpleNamespace(net=net, s=s, node=node, alice=alice, bob=bob, mid=pub.model_id)


def _open(m, mlp, client, x) -> int:  # type: ignore[no-untyped-def]
    """Open a job exactly as today's client does (Client._infer_zk: commitment = input_commitment(x))."""
    s = m.s
    s.token.approve(s.market.address, PRICE, sender=client)
    commit = input_commitment(mlp.package.settings, x).to_bytes(32, "big")
    rcpt = s.market.open_job(m.mid, m.node.address, commit, MODE_ZK, m.net.now() + 3600, sender=client)
    return s.market.opened_job_id(rcpt)


def _start_and_submit(m, job_id, proof) -> None:  # type: ignore[no-untyped-def]
    m.s.market.start_job(job_id, sender=m.node)
    pb, inst = evm.calldata(proof)
    m.s.market.submit_zk(job_id, inst, pb, sender=m.node, gas=3_000_000)


@pytest.mark.xfail(strict=True, reason=UNSALTED)
def test_a_proof_serves_only_its_own_job(m, mlp, mlp_proof) -> None:  # type: ignore[no-untyped-def]
    """Two clients ask the same question (a common input: a default form, a popular query). The node
    proves once and submits the same proof for both jobs: paid twice for one proof. Wanted: the second
    submission fails ``input mismatch`` because each job's commitment carries its own salt."""
    x = mlp.example.x_test[0]
    j1, j2 = _open(m, mlp, m.alice, x), _open(m, mlp, m.bob, x)
    _start_and_submit(m, j1, mlp_proof.proof)
    assert read_job(m.s, j1).status == SETTLED
    with pytest.raises(ContractReverted, match="input mismatch"):
        _start_and_submit(m, j2, mlp_proof.proof)  # today: accepted, the job settles on a replayed proof


@pytest.mark.xfail(strict=True, reason=UNSALTED)
def test_commitments_hide_the_input_and_do_not_link_jobs(m, mlp) -> None:  # type: ignore[no-untyped-def]
    """Anyone reading JobOpened sees the commitment and can read the circuit settings (public
    artifacts). Wanted: from a small candidate set (e.g. the 10 forms a hospital sends) the attacker
    cannot tell which input a job used, and two jobs on the same input do not share a commitment."""
    settings = mlp.package.settings
    candidates = [mlp.example.x_test[i] for i in range(10)]
    secret = 7
    job = _open(m, mlp, m.alice, candidates[secret])
    on_chain = read_job(m.s, job).input_commitment
    guesses = [i for i, c in enumerate(candidates) if input_commitment(settings, c) == on_chain]
    assert guesses != [secret], "the attacker recovered the input by hashing 10 candidates"
    again = _open(m, mlp, m.bob, candidates[secret])
    assert read_job(m.s, again).input_commitment != read_job(m.s, job).input_commitment
