"""The network under a small load, as a correctness check (#14, "1,000 jobs, measured"; the benchmark
is bench/network.py): anvil, 2 node processes, 4 client processes sending 30 paid ZK and FHE jobs at
once, one client cheating (challenge_zk with a tampered claim, and with a settled job's signed claim
replayed on a new job, to farm a slash; walks away without its results) and
one vanishing after opening some jobs. Asserted: every paid job ends as its client's behaviour says
(settled, or refunded without a slash for the vanished ones), no honest node is slashed, no cheat is
accepted, and VEIL is conserved (what clients paid is what nodes, owner and treasury earned). No
timing is asserted.
"""

from __future__ import annotations

import pytest

from veilproof.demo.load import BOGUS_CHALLENGE, HONEST, LAZY, VANISH, LoadConfig, build_models, run_load

pytestmark = [pytest.mark.slow, pytest.mark.anvil]


def test_thirty_paid_jobs_two_nodes_cheating_and_vanishing_clients(tmp_path, mlp) -> None:  # type: ignore[no-untyped-def]
    models = build_models(tmp_path / "models", mlp.package, mlp.example.x_test)
    cfg = LoadConfig(jobs=30, nodes=2, fhe_share=0.3, inflight_per_node=2, seed=0, timeout=1500)
    r = run_load(cfg, models, root=tmp_path / "run")
    c = r["checks"]
    # the run exercised what it claims to: both modes, every client behaviour
    assert r["computed_by_mode"].get("zk", 0) > 0 and r["computed_by_mode"].get("fhe", 0) > 0, r
    for b in (HONEST, LAZY, VANISH, BOGUS_CHALLENGE):
        assert r["behaviours"].get(b, 0) > 0, (b, r["behaviours"])
    assert sum(r["behaviours"].values()) == 30
    # every honest job settled, seen by its client; nothing failed
    assert r["outcomes"].get("failed", 0) == 0, r["failures"]
    assert r["outcomes"]["settled"] == r["behaviours"][HONEST] + r["behaviours"][BOGUS_CHALLENGE]
    # on chain: the vanished jobs (and the cheater's replay targets, never sent to a node) refunded,
    # every other one paid; nothing open, nothing in escrow
    assert c["wrong_end_state"] == [], c
    n_bogus = r["behaviours"][BOGUS_CHALLENGE]
    assert c["by_status"].get("refunded", 0) == r["behaviours"][VANISH] + n_bogus
    assert c["by_status"].get("settled", 0) == 30 - r["behaviours"][VANISH]
    assert c["escrowed_left"] == 0
    # nobody honest lost, no attacker gained
    assert c["nodes_slashed"] == {}, c
    assert c["attacks_accepted"] == []
    assert sum(r["attacks"].values()) == 2 * n_bogus
    assert all(k.endswith(("job not open", "not node signature")) for k in r["attacks"]), r["attacks"]
    assert c["clients_paid"] == c["settled_value"] == c["earned_by_nodes_owner_treasury"] > 0
    assert c["ok"]
    # FHE jobs their clients never accepted were finalized by the nodes' own maintenance loops
    assert r["finalized_by_harness"] == 0, r
