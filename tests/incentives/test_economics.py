"""The economics of issue #12: every attack profits less than honest work, and each fix is why.

Profit = emissions + fees + challenger shares - compute - slashes - gas (``veilproof.incentives.simulate``),
settled by the exact mirror of Rewards.vy. Each test switches one fix (or one tuned parameter) off
and checks that its attack then pays: the assertions can fail, and they say which knob matters.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from veilproof.cli.main import app
from veilproof.errors import InputError
from veilproof.incentives.simulate import (
    CLIENT_STRATEGIES,
    NODE_STRATEGIES,
    RECEIPT_CLIENT_STRATEGIES,
    RECEIPT_NODE_STRATEGIES,
    VALIDATOR_STRATEGIES,
    Protocol,
    SimConfig,
    SimResult,
    run,
    today,
)

EPOCHS = 100


def rows(r: SimResult) -> dict[str, object]:
    return {x.strategy: x for x in r.rows()}


@pytest.fixture(scope="module")
def fixed() -> SimResult:
    return run(SimConfig(epochs=EPOCHS))


def without(fix: str, **kw: object) -> SimResult:
    """The default subnet with one fix of #12 switched off."""
    return run(SimConfig(epochs=EPOCHS, protocol=replace(Protocol(), **{fix: False}), **kw))  # type: ignore[arg-type]


def test_every_strategy_is_in_the_table(fixed: SimResult) -> None:
    labels = set(fixed.final())
    want = (
        {f"node:{s}" for s in NODE_STRATEGIES}
        | {f"validator:{s}" for s in VALIDATOR_STRATEGIES}
        | {f"client:{s}" for s in CLIENT_STRATEGIES}
        | {f"receipt_node:{s}" for s in RECEIPT_NODE_STRATEGIES}
        | {f"receipt_client:{s}" for s in RECEIPT_CLIENT_STRATEGIES}
    )
    assert labels == want


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_attack_profits_less_than_honest(seed: int, fixed: SimResult) -> None:
    r = fixed if seed == 0 else run(SimConfig(epochs=EPOCHS, seed=seed))
    assert r.losers() == [], [(x.strategy, round(x.profit)) for x in r.rows()]
    f = r.final()
    # the attacks that cost their author more than they bring are outright losses
    for s in (
        "node:fhe_garbage",
        "node:zk_swapper",
        "node:lazy",
        "node:burst_refuser",
        "node:rep_self_dealer",
        "validator:quorum_griefer",
        "client:slash_farmer",
    ):
        assert f[s] < 0, (s, f[s])
    # an honest node is never slashed, an honest validator never penalised
    rw = rows(r)
    assert rw["node:honest"].slashes == 0 and rw["validator:honest"].slashes == 0  # type: ignore[attr-defined]
    assert f["node:honest"] > 0 and f["validator:honest"] > 0


def test_same_seed_same_table() -> None:
    a = json.dumps(run(SimConfig(epochs=20, seed=7)).to_json())  # NaN == NaN only as text
    b = json.dumps(run(SimConfig(epochs=20, seed=7)).to_json())
    assert a == b
    assert a != json.dumps(run(SimConfig(epochs=20, seed=8)).to_json())


def test_audit_rate_zero_makes_the_fhe_cheater_profitable() -> None:
    """The mis-tuned knob: without audits, cheating on non-deterministic circuits is never caught."""
    pop = {"nodes": {"honest": 10, "fhe_cheater": 10}, "validators": {"honest": 8, "copier": 2}}
    tuned = run(SimConfig(epochs=EPOCHS, cheat_fraction=1.0, **pop)).final()  # type: ignore[arg-type]
    untuned = run(SimConfig(epochs=EPOCHS, cheat_fraction=1.0, audit_rate=0.0, **pop)).final()  # type: ignore[arg-type]
    assert tuned["node:fhe_cheater"] < 0.8 * tuned["node:honest"]
    assert untuned["node:fhe_cheater"] > 1.05 * untuned["node:honest"]


def test_missed_deadlines_pay_without_require_start(fixed: SimResult) -> None:
    open_ = without("require_start").final()
    assert fixed.final()["node:lazy"] < 0 < open_["node:lazy"]


def test_garbage_fhe_pays_without_the_eval_key_commitment(fixed: SimResult) -> None:
    open_ = without("eval_key_commitment").final()
    assert fixed.final()["node:fhe_garbage"] < 0
    assert open_["node:fhe_garbage"] > 0.95 * open_["node:honest"]


def test_slash_farming_pays_without_registered_verifier_keys(fixed: SimResult) -> None:
    r = without("registered_vka_only")
    assert fixed.final()["client:slash_farmer"] < 0 < r.final()["client:slash_farmer"]
    assert rows(r)["node:honest"].slashes > 0  # type: ignore[attr-defined]


def test_honest_nodes_are_slashed_under_a_burst_without_reserving_first(fixed: SimResult) -> None:
    r = without("reserve_before_start")
    assert rows(fixed)["node:honest"].slashes == 0  # type: ignore[attr-defined]
    assert r.final()["node:honest"] < 0


def test_minority_griefing_pays_without_the_quorum_snapshot(fixed: SimResult) -> None:
    open_ = without("quorum_snapshot").final()
    assert fixed.final()["validator:quorum_griefer"] < 0
    assert open_["validator:quorum_griefer"] > open_["validator:honest"]


def test_sybils_take_every_validator_slot_without_eviction(fixed: SimResult) -> None:
    r = without("eviction")
    assert r.locked_out.get("validator:honest") == SimConfig().validators["honest"]
    assert r.final()["validator:sybil_validator"] > 10 * fixed.final()["validator:sybil_validator"]
    assert fixed.locked_out.get("validator:honest") is None


def test_self_dealt_ratings_pay_without_weighting() -> None:
    pop = {"nodes": {"honest": 10, "rep_self_dealer": 3}, "validators": {"honest": 6}}
    honest_alternative = run(SimConfig(epochs=EPOCHS, dealer_target=70.0, **pop)).final()  # type: ignore[arg-type]
    weighted = run(SimConfig(epochs=EPOCHS, **pop)).final()  # type: ignore[arg-type]
    unweighted = run(
        SimConfig(epochs=EPOCHS, protocol=replace(Protocol(), weighted_ratings=False), **pop)  # type: ignore[arg-type]
    ).final()
    base = honest_alternative["node:rep_self_dealer"]
    assert unweighted["node:rep_self_dealer"] > 1.5 * base
    assert weighted["node:rep_self_dealer"] < 0 < base


def test_today_every_hole_open() -> None:
    r = run(today(SimConfig(epochs=30)))
    assert not r.cheaters_lose()
    assert r.final()["client:slash_farmer"] > 0


def test_bad_parameter_is_one_clear_error() -> None:
    with pytest.raises(InputError, match="audit_rate"):
        run(SimConfig(epochs=5, audit_rate=1.5))
    with pytest.raises(InputError, match="nodes.miner"):
        run(SimConfig(epochs=5, nodes={"honest": 1, "miner": 2}))


def test_cli_prints_the_table_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "--epochs", "15", "--json", "--plot", str(tmp_path / "p.png")])
    doc = json.loads(res.output)
    assert doc["epochs"] == 15
    assert res.exit_code == (0 if doc["cheaters_lose"] else 1)  # 15 epochs: too few to decide
    row = next(x for x in doc["rows"] if x["strategy"] == "node:fhe_garbage")
    assert set(row) >= {"earnings", "compute", "slashes", "gas", "profit", "vs_honest"}
    assert (tmp_path / "p.png").stat().st_size > 5_000
    res = runner.invoke(app, ["simulate", "--epochs", "15", "--protocol", "today"])
    assert res.exit_code == 1 and "client:slash_farmer" in res.output
    res = runner.invoke(app, ["simulate", "--epochs", "5", "--audit-rate", "2"])
    assert res.exit_code != 0 and "audit_rate" in res.output


def test_copier_free_rides_on_too_many_unfunded_audits_in_a_clean_subnet() -> None:
    """With no cheater to catch, audits only cost: past ~1% of FHE jobs a copier saves more than
    its one-epoch lag loses, unless the audits are refunded (``audit_subsidy``, from the fee)."""
    pop = {"nodes": {"honest": 30}, "validators": {"honest": 8, "copier": 2, "random_weights": 1}}
    default = run(SimConfig(epochs=EPOCHS, **pop)).final()  # type: ignore[arg-type]
    many = run(SimConfig(epochs=EPOCHS, audit_rate=0.03, reexec_rate=0.05, **pop)).final()  # type: ignore[arg-type]
    funded = run(
        SimConfig(epochs=EPOCHS, audit_rate=0.03, reexec_rate=0.05, audit_subsidy=1.0, **pop)  # type: ignore[arg-type]
    ).final()
    assert default["validator:copier"] < default["validator:honest"]
    assert many["validator:copier"] > 1.05 * many["validator:honest"]
    assert funded["validator:copier"] < 0.95 * funded["validator:honest"]
    assert funded["validator:random_weights"] < 0.85 * funded["validator:honest"]
