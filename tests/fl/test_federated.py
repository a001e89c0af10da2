"""Federated training on Flower's deployment runtime, committed on TrainingMarket (issue #16).

The slow tests run a real SuperLink and one real SuperNode process per client on 127.0.0.1 against the
embedded EVM; the fast ones check the commitment and contribution code on real round files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from eth_account.signers.local import LocalAccount

from veilproof.chain import Network
from veilproof.chain.deploy import ONE_VEIL
from veilproof.chain.token import Token
from veilproof.chain.training_market import TrainingMarket, deploy_training_market
from veilproof.fl import contrib
from veilproof.fl.client_app import local_update
from veilproof.fl.commit import (
    ReaggregationMismatch,
    RoundRecord,
    aggregate,
    arrays_hash,
    check_round,
    leaf,
    merkle_proof,
    read_round,
    write_round,
)
from veilproof.fl.coordinator import open_and_fill, run_job, verify_round
from veilproof.fl.model import init_arrays
from veilproof.fl.runtime import ClientSpec
from veilproof.fl.sign import UpdateDomain
from veilproof.fl.split import split_bounty

BOUNTY, STAKE, CSTAKE = 1_000 * ONE_VEIL, 10 * ONE_VEIL, 50 * ONE_VEIL
BEHAVIORS = ["honest", "honest", "honest", "freerider", "poisoner"]


def _synthetic_round(
    tmp: Path,
    addrs: list[str],
    signers: dict[str, LocalAccount] | None = None,
    domain: UpdateDomain | None = None,
) -> RoundRecord:
    """One round computed in-process from the real client code (no Flower): for the fast checks. With
    ``signers``/``domain`` every update is signed by ``signers[its address]`` as a client would."""
    g = init_arrays()
    ups = [local_update(g, b, i, len(addrs), 20, 7) for i, b in enumerate(BEHAVIORS[: len(addrs)])]
    order = sorted(range(len(addrs)), key=lambda i: addrs[i].lower())
    ups = [ups[i] for i in order]
    ps = [addrs[i] for i in order]
    rec = RoundRecord(
        1, arrays_hash(g), ps, [arrays_hash(u) for u in ups], arrays_hash(aggregate(ups)),
        contrib.scores(g, ups), contrib.leave_one_out(ups), 0.0, 0.0, 0.0,
        [domain.sign(signers[p], 1, arrays_hash(u)) for p, u in zip(ps, ups, strict=True)]
        if signers and domain else [],
    )  # fmt: skip
    write_round(tmp, rec, ups, g)
    return rec


def test_free_rider_and_poisoner_score_zero_honest_positive(tmp_path: Path) -> None:
    addrs = [f"0x{i + 1:040x}" for i in range(5)]
    rec = _synthetic_round(tmp_path, addrs)
    by = {p: s for p, s in zip(rec.participants, rec.scores, strict=True)}
    assert [by[a] > 0 for a in addrs] == [True, True, True, False, False]


def test_reaggregation_check_catches_a_forged_model_hash(tmp_path: Path) -> None:
    rec = _synthetic_round(tmp_path, [f"0x{i + 1:040x}" for i in range(5)])
    check_round(tmp_path, 1, rec.aggregated_hash, rec.root)  # the honest claim passes
    # the coordinator claims plain FedAvg (the poisoner included) instead of the committed trimmed mean
    _, ups, _ = read_round(tmp_path, 1)
    forged = arrays_hash({k: np.mean([u[k] for u in ups], axis=0) for k in ups[0]})
    with pytest.raises(ReaggregationMismatch, match="aggregate to"):
        check_round(tmp_path, 1, forged, rec.root)
    # or drops an update from the set it committed to
    with pytest.raises(ReaggregationMismatch, match="Merkle root"):
        check_round(tmp_path, 1, rec.aggregated_hash, b"\1" * 32)


def test_honest_clients_score_zero_in_every_round_once_the_model_has_converged() -> None:
    """Why a participant scoring 0 in every round is not slashed (docs/federated.md): five honest clients,
    six rounds in process; in rounds 4-6 (a job that starts from an already trained model) three of the five
    honest clients score 0 in every round, so that rule would slash honest participants."""
    g = init_arrays()
    zero_throughout = set(range(5))
    for r in range(1, 7):
        ups = [local_update(g, "honest", i, 5, 20, 7) for i in range(5)]
        sc = contrib.scores(g, ups)
        if r == 1:
            assert all(x > 0 for x in sc)
        if r >= 4:
            zero_throughout &= {i for i, x in enumerate(sc) if x == 0}
        g = aggregate(ups)
    assert len(zero_throughout) >= 3, zero_throughout


def test_check_round_catches_an_update_attributed_to_someone_who_did_not_sign_it(tmp_path: Path) -> None:
    """Off-chain mirror of post_round's signature check: a round file whose update for participant 0 the
    coordinator signed itself fails check_round (participants' own signatures pass)."""
    from eth_account import Account

    accts = [Account.create() for _ in range(5)]
    coord = Account.create()
    dom = UpdateDomain(1337, "0x" + "ab" * 20, 1)
    addrs = [str(a.address) for a in accts]
    rec = _synthetic_round(tmp_path / "ok", addrs, {str(a.address): a for a in accts}, dom)
    check_round(tmp_path / "ok", 1, rec.aggregated_hash, rec.root, dom)
    forged = {str(a.address): a for a in accts} | {addrs[0]: coord}
    rec = _synthetic_round(tmp_path / "bad", addrs, forged, dom)
    with pytest.raises(ReaggregationMismatch, match=f"attributed to {addrs[0]} is not signed by it"):
        check_round(tmp_path / "bad", 1, rec.aggregated_hash, rec.root, dom)


def _world(
    net: Network, n: int
) -> tuple[TrainingMarket, Token, LocalAccount, LocalAccount, LocalAccount, list[LocalAccount]]:
    owner, sponsor, coord, *parts = net.new_accounts(3 + n)
    token = Token(net, net.deploy("Token", sender=owner).address)
    return deploy_training_market(net, owner, token.address), token, owner, sponsor, coord, parts


@pytest.mark.slow
def test_five_flower_clients_free_rider_and_poisoner_earn_nothing(net: Network, tmp_path: Path) -> None:
    market, token, owner, sponsor, coord, parts = _world(net, 5)
    job = open_and_fill(
        market, token, owner, sponsor, coord, parts,
        rounds=3, min_participants=4, bounty=BOUNTY, stake=STAKE, coordinator_stake=CSTAKE,
    )  # fmt: skip
    specs = [ClientSpec(p.address, p.key.hex(), b) for p, b in zip(parts, BEHAVIORS, strict=True)]
    run = run_job(market, job, coord, specs, tmp_path / "job")
    print(
        f"\nround s {[round(s, 1) for s in run.round_seconds]}  gas {run.round_gas}  "
        f"val acc {run.val_accuracy}  test acc fed {run.test_accuracy:.4f} central {run.central_test_accuracy:.4f}"
    )
    assert market.job(job).state == "finished"
    for r in range(1, 4):
        verify_round(market, job, tmp_path / "job", r)
        rec, ups, _ = read_round(tmp_path / "job", r)
        leaves = [leaf(p, h) for p, h in zip(rec.participants, rec.update_hashes, strict=True)]
        for i, p in enumerate(rec.participants):
            assert market.verify_inclusion(job, r, p, arrays_hash(ups[i]), merkle_proof(leaves, i))
    assert run.test_accuracy >= run.central_test_accuracy - 0.05
    scores = {str(a.address): market.score(job, a.address) for a in parts}
    labels = [f"{b}{i}" for i, b in enumerate(BEHAVIORS)]
    print("scores", {lbl: scores[str(a.address)] for a, lbl in zip(parts, labels, strict=True)})
    mirror = split_bounty(BOUNTY, 1000, scores)
    for acct, b in zip(parts, BEHAVIORS, strict=True):
        paid = market.claim(job, sender=acct)
        assert paid == STAKE + mirror.shares[acct.address]
        assert (paid > STAKE) == (b == "honest"), f"{b} was paid {paid - STAKE} above its stake"


@pytest.mark.slow
def test_dp_rounds_run_reaggregate_and_report_the_accuracy_cost(tmp_path: Path) -> None:
    """The 5-client job of the test above with DP on (clip 1.0, noise multiplier 0.5), on the embedded chain
    only: every round is posted, re-aggregates to the posted (noised) hash, every committed update is
    clipped, and the poisoner's clipped update still scores 0."""
    from veilproof.chain import connect
    from veilproof.fl.dp import update_norm

    market, token, owner, sponsor, coord, parts = _world(connect(), 5)
    job = open_and_fill(
        market, token, owner, sponsor, coord, parts,
        rounds=3, min_participants=4, bounty=BOUNTY, stake=STAKE, coordinator_stake=CSTAKE,
    )  # fmt: skip
    specs = [ClientSpec(p.address, p.key.hex(), b) for p, b in zip(parts, BEHAVIORS, strict=True)]
    run = run_job(market, job, coord, specs, tmp_path / "job", dp=(0.5, 1.0))
    print(
        f"\nDP clip 1.0 noise 0.5: round s {[round(s, 1) for s in run.round_seconds]}  gas {run.round_gas}  "
        f"val acc {run.val_accuracy}  test acc fed+DP {run.test_accuracy:.4f} central {run.central_test_accuracy:.4f}"
    )
    for r in range(1, 4):
        verify_round(market, job, tmp_path / "job", r)
        rec, ups, g = read_round(tmp_path / "job", r)
        assert rec.noise_multiplier == 0.5 and len(rec.participants) == 5
        assert all(update_norm(u, g) <= 1.0 + 1e-9 for u in ups)
        assert rec.aggregated_hash != arrays_hash(aggregate(ups))  # the noise is in the posted model
    by = {str(a.address): market.score(job, a.address) for a in parts}
    print(
        "DP scores",
        {f"{b}{i}": by[str(a.address)] for i, (a, b) in enumerate(zip(parts, BEHAVIORS, strict=True))},
    )
    assert by[str(parts[4].address)] == 0


@pytest.mark.slow
def test_killed_client_mid_round_is_left_out_and_unpaid(tmp_path: Path) -> None:
    # One backend: the kill is a process fault, not a chain one (the five-client run covers anvil), and
    # the run waits out a 25 s round timeout, so each backend added ~64 s to the suite.
    from veilproof.chain import connect

    market, token, owner, sponsor, coord, parts = _world(connect(), 4)
    job = open_and_fill(
        market, token, owner, sponsor, coord, parts,
        rounds=2, min_participants=3, bounty=BOUNTY, stake=STAKE, coordinator_stake=CSTAKE,
    )  # fmt: skip
    specs = [ClientSpec(p.address, p.key.hex()) for p in parts]
    specs[3] = ClientSpec(
        parts[3].address, parts[3].key.hex(), delay=60.0
    )  # still training when it is killed
    run = run_job(market, job, coord, specs, tmp_path / "job", round_timeout=25.0, kill_after=(3, 8.0))
    print(f"\nround s {[round(s, 1) for s in run.round_seconds]}  gas {run.round_gas}")
    posted = market.rounds(job)
    assert [r.round for r in posted] == [1, 2]
    assert all(parts[3].address not in r.participants and len(r.participants) == 3 for r in posted)
    assert market.score(job, parts[3].address) == 0
    assert market.claim(job, sender=parts[3]) == STAKE  # its stake back, no reward
    assert market.claim(job, sender=parts[0]) > STAKE


def test_onnx_export_matches_the_numpy_model(tmp_path: Path) -> None:
    import onnxruntime as ort

    from veilproof.fl.model import load_split, predict_proba, train
    from veilproof.fl.publish import export_onnx

    s = load_split()
    a = train(init_arrays(), s.x_train, s.y_train, epochs=30)
    sess = ort.InferenceSession(str(export_onnx(a, tmp_path / "m.onnx")))
    got = [float(sess.run(None, {"input": x[None].astype(np.float32)})[0][0, 0]) for x in s.x_test[:20]]
    np.testing.assert_allclose(got, predict_proba(a, s.x_test[:20]), atol=1e-5)
    # logit only (what the ZK build uses: no sigmoid lookup table): the same class, by the sign of the logit
    sess = ort.InferenceSession(str(export_onnx(a, tmp_path / "z.onnx", logit_only=True)))
    z = [float(sess.run(None, {"input": x[None].astype(np.float32)})[0][0, 0]) for x in s.x_test[:20]]
    np.testing.assert_allclose(z, s.x_test[:20] @ a["w"].reshape(-1) + a["b"][0], atol=1e-4)


@pytest.mark.slow
def test_trained_model_is_published_with_zk_and_lineage_naming_the_job(tmp_path: Path) -> None:
    """The re-aggregated model of a posted job: ONNX -> EZKL package -> ModelRegistry (VKA registered), lineage
    naming the job; then one proven inference of it verifies (what a node serving it would return)."""
    import warnings

    from veilproof.artifacts import ArtifactStore
    from veilproof.chain import connect
    from veilproof.chain.deploy import SuiteParams, deploy_suite, deploy_zk_verifier
    from veilproof.chain.suite import Suite
    from veilproof.fl.coordinator import final_model, post_round_file, update_domain
    from veilproof.fl.model import load_split, predict_proba
    from veilproof.fl.publish import publish_trained
    from veilproof.models.package import prove, verify
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    net = connect()
    (owner,) = net.new_accounts(1)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    suite = Suite.attach(net, d)
    market = deploy_training_market(net, owner, d.token)
    sponsor, coord, *parts = net.new_accounts(7)
    job = open_and_fill(
        market, suite.token, owner, sponsor, coord, parts,
        rounds=1, min_participants=5, bounty=BOUNTY, stake=STAKE, coordinator_stake=CSTAKE,
    )  # fmt: skip
    _synthetic_round(
        tmp_path / "job",
        [str(p.address) for p in parts],
        {str(p.address): p for p in parts},
        update_domain(market, job),
    )
    post_round_file(market, job, tmp_path / "job", 1, coord)
    verify_round(market, job, tmp_path / "job", 1)
    model = final_model(tmp_path / "job", 1)
    store = ArtifactStore(tmp_path / "store")
    # logit only (the demo's graph): logrows 11, where the sigmoid graph took logrows 17 and ~260 s to build
    out = publish_trained(
        suite, owner, market, job, model, tmp_path, name="fl", price=1, zk_store=store, logit_only=True
    )
    m = suite.models.read_model(out.published.model_id)
    assert m.has_zk and m.training_code_hash.removeprefix("0x") == market.job(job).arch_hash.hex()
    assert suite.models.datasets(m.model_id) == [out.job_dataset, out.validation_dataset]
    assert suite.models.read_dataset(out.job_dataset).uri == f"trainingmarket:{market.address}/{job}?rounds=1"
    pkg = out.zk_package
    assert pkg is not None
    x = load_split().x_test[0]
    res = prove(pkg, x.astype(np.float32))
    (z,) = verify(pkg, res.proof, res.input_commitment)
    q = float(predict_proba(model, x[None])[0])
    assert abs(z - float(np.log(q / (1 - q)))) < 0.25  # the proven logit is the model's logit
