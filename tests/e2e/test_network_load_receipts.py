"""The network under a small load on its flagship settlement path, pay-on-proof (#14, ReceiptMarket,
docs/settlement.md), as a correctness check: anvil, 2 node processes, 4 client processes, 20 paid jobs.
ZK jobs are orders paid by receipts the nodes settle in batches; FHE jobs stay on JobMarket (FHE on
ReceiptMarket is not built). Asserted: every behaviour ran; receipted orders were settled by their node
in a batch; orders a lazy client walked away from were claimed by their node with the proof (at the
client's cost); vanished orders (signed, deposited, never sent) cost nothing and their deposit came back;
every attempt of the cheater against its own receipted order reverted; no node slashed; VEIL conserved
(clients paid = nodes + owner + treasury earned; the market holds exactly what is pending). No timing
is asserted.
"""

from __future__ import annotations

import json
import random

import pytest

from veilproof.demo.load import (
    BOGUS_CHALLENGE,
    HONEST,
    LAZY,
    VANISH,
    LoadConfig,
    _plan,
    build_models,
    run_load,
)

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

JOBS = 20
#: what each cheating attempt against a receipted order must be refused with (ReceiptMarket's reasons)
REFUSALS = {
    "challenge of the delivered order": "claim is valid",
    "challenge with a changed output": "bad node signature",
    "delivery replayed on another order": "bad node signature",
    "claim_with_proof by the client": "not order node",
    "demand of the delivered order": "deadline not passed",
    "withdraw the deposit at once": "no request",
}


def _seed_with_every_behaviour(cfg: LoadConfig, models) -> int:  # type: ignore[no-untyped-def]
    """The first seed whose plan has a ZK job of every behaviour and an FHE job (20 jobs are few)."""
    for seed in range(200):
        plan = [j for per in _plan(cfg, models, random.Random(seed)) for j in per]
        zk = {j.behaviour for j in plan if j.mode == "zk"}
        if zk >= {HONEST, LAZY, VANISH, BOGUS_CHALLENGE} and any(j.mode == "fhe" for j in plan):
            return seed
    raise AssertionError("no seed gives every behaviour")


def test_twenty_pay_on_proof_jobs_two_nodes_cheating_and_vanishing_clients(tmp_path, mlp) -> None:  # type: ignore[no-untyped-def]
    models = build_models(tmp_path / "models", mlp.package, mlp.example.x_test)
    cfg = LoadConfig(
        jobs=JOBS, nodes=2, fhe_share=0.2, inflight_per_node=2, settlement="receipts", timeout=900
    )
    cfg.seed = _seed_with_every_behaviour(cfg, models)
    r = run_load(cfg, models, root=tmp_path / "run")
    (tmp_path / "load.json").write_text(json.dumps(r, indent=1, default=str))  # kept for a failure's reader
    c = r["checks"]
    rc = c["receipts"]
    # the run exercised what it claims to: every ZK behaviour on ReceiptMarket, FHE on JobMarket
    assert r["computed_by_market"].get("zk on ReceiptMarket", 0) > 0, r
    assert r["computed_by_market"].get("fhe on JobMarket", 0) > 0, r
    assert "zk on JobMarket" not in r["computed_by_market"], r
    for b in (HONEST, LAZY, VANISH, BOGUS_CHALLENGE):
        assert r["behaviours"].get(b, 0) > 0, (b, r["behaviours"])
    assert sum(r["behaviours"].values()) == JOBS
    assert r["outcomes"].get("failed", 0) == 0, r["failures"]
    # each order ended as its client's behaviour says (checked per order in the books): receipted ->
    # settled by receipt in a node's batch, lazy -> claimed by the node with the proof, vanished -> unpaid
    assert c["wrong_end_state"] == [], c
    zk = {b: n for b, n in r["behaviours_by_market"].get("receipt", {}).items()}
    ends = rc["orders_by_end"]
    assert ends.get("receipt", 0) == zk.get(HONEST, 0) + zk.get(BOGUS_CHALLENGE, 0) > 0, (ends, zk)
    assert ends.get("claim", 0) == zk.get(LAZY, 0) > 0, (ends, zk)
    assert ends.get("unpaid", 0) == zk.get(VANISH, 0) > 0, (ends, zk)
    assert "closed unpaid" not in ends and rc["receipts_skipped"] == 0 and rc["open_demands"] == 0, rc
    assert 1 <= rc["settle_batches"] < ends["receipt"], rc  # batched: fewer settle txs than receipts
    # the lazy client paid the proof claim's surcharge, the vanisher nothing: every deposit came back
    assert rc["claim_value"] > 0 and rc["deposits_left"] == 0
    assert rc["market_holds"] == rc["pending_in_market"], rc
    # nobody honest lost, no attacker gained: every attempt reverted with the contract's reason
    assert c["nodes_slashed"] == {}, c
    assert c["attacks_accepted"] == []
    n_bogus = zk[BOGUS_CHALLENGE]
    assert sum(r["attacks"].values()) == len(REFUSALS) * n_bogus, r["attacks"]
    assert set(r["attacks"]) == {f"{a}: reverted: {why}" for a, why in REFUSALS.items()}, r["attacks"]
    assert c["clients_paid"] == c["settled_value"] == c["earned_by_nodes_owner_treasury"] > 0, c
    assert c["conserved"] and c["ok"], c
    # gas: the receipts' settle is shared by the batch; a claim verifies the proof on chain
    g = r["gas"]["receipts"]
    assert g["receipts_settled"] == ends["receipt"] and g["claims"]["n"] == ends["claim"], g
    assert g["settle_gas_per_receipt"] < g["claims"]["mean"], g
    # the nodes' pay-on-proof maintenance never failed (it raised on every pass with receipts held,
    # before ReceiptMarket's reads took lowercase addresses)
    for log in (tmp_path / "run" / "net" / "nodes").glob("*/node.log"):
        assert "ERROR chain watch (orders)" not in log.read_text(errors="replace"), log
