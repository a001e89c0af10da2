"""How the tuned parameters were chosen: sweeps of audit rate, slash and refuted-attestation penalty.

Run: PYTHONPATH=src .venv/bin/python bench/economics.py [--epochs 150] [--seeds 3]
Prints markdown tables (mean over seeds) for docs/incentives.md:
  1. FHE cheater (cheats on every non-deterministic FHE job) and garbage node, profit as % of an
     honest node's, over audit rate x slash;
  2. weight copier's profit as % of an honest validator's over the audit rate (audits are paid
     queries: more audits cost honest validators more, the copier nothing), also in a subnet with
     no cheater (audits catch nothing) and with audits refunded from the protocol fee;
  3. quorum griefer's profit over the refuted-attestation penalty;
  4. each fix of issue #12 (and of pay-on-proof, #14) switched off alone: its attacker's profit
     with and without it;
  5. pay-on-proof (ReceiptMarket): each receipt strategy's profit, % of honest, seed 0 and the
     worst (closest to honest) of seeds 0-9.
--receipts prints only 4 and 5 (seconds instead of minutes).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from statistics import mean

from veilproof.incentives.audits import min_audit_rate
from veilproof.incentives.simulate import Protocol, SimConfig, run


def pct(cfg_kw: dict[str, object], label: str, ref: str, epochs: int, seeds: int) -> float:
    out = []
    for seed in range(seeds):
        f = run(SimConfig(epochs=epochs, seed=seed, **cfg_kw)).final()  # type: ignore[arg-type]
        out.append(100.0 * f[label] / f[ref])
    return mean(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--receipts", action="store_true", help="only the fix table and pay-on-proof")
    a = ap.parse_args()
    e, s = a.epochs, a.seeds
    if not a.receipts:
        sweeps(e, s)
    fixes(e)
    receipts(e)


def sweeps(e: int, s: int) -> None:
    nodes = {"honest": 10, "fhe_cheater": 10, "fhe_garbage": 10}
    vals = {"honest": 8, "copier": 2}
    slashes = (50.0, 500.0, 1000.0, 2000.0)
    print("FHE cheater (every non-deterministic FHE job) / garbage node, profit % of honest")
    print()
    print("| audit rate | " + " | ".join(f"slash {x:.0f}" for x in slashes) + " |")
    print("|---|" + "---|" * len(slashes))
    base = SimConfig()
    for rate in (0.0, 0.005, 0.01, 0.02, 0.03):
        cells = []
        for sl in slashes:
            kw: dict[str, object] = {
                "audit_rate": rate,
                "slash": sl,
                "cheat_fraction": 1.0,
                "nodes": nodes,
                "validators": vals,
            }
            c = pct(kw, "node:fhe_cheater", "node:honest", e, s)
            g = pct(kw, "node:fhe_garbage", "node:honest", e, s)
            cells.append(f"{c:.0f}% / {g:.0f}%")
        print(f"| {rate:.3f} | " + " | ".join(cells) + " |")
    g = base.compute_cost - base.cheap_cost
    print()
    print(
        "break-even audit rate g / (slash + fee): "
        + ", ".join(f"slash {x:.0f}: {min_audit_rate(g, x + base.node_fee):.2%}" for x in slashes)
    )
    print()
    print("Weight copier, profit % of honest validator")
    print()
    print(
        "| audit rate | copier | random weights | copier, no cheater in the subnet "
        "| same, audits refunded (audit_subsidy 1) |"
    )
    print("|---|---|---|---|---|")
    vals2 = {"honest": 8, "copier": 2, "random_weights": 2}
    for rate in (0.0, 0.01, 0.03, 0.05, 0.1):
        kw = {"audit_rate": rate, "validators": vals2}
        c = pct(kw, "validator:copier", "validator:honest", e, s)
        r = pct(kw, "validator:random_weights", "validator:honest", e, s)
        kw["nodes"] = {"honest": 36}
        h = pct(kw, "validator:copier", "validator:honest", e, s)
        kw["audit_subsidy"] = 1.0
        hs = pct(kw, "validator:copier", "validator:honest", e, s)
        print(f"| {rate:.2f} | {c:.0f}% | {r:.0f}% | {h:.0f}% | {hs:.0f}% |")
    print()
    print("Quorum griefer (42% of stake, 2 false attestations per epoch), profit % of honest validator")
    print()
    print("| penalty of a refuted attestation (bps of attested stake) | griefer |")
    print("|---|---|")
    for bps in (0, 10, 100, 1000):
        kw = {"false_attest_bps": bps}
        g = pct(kw, "validator:quorum_griefer", "validator:honest", e, s)
        print(f"| {bps} | {g:.0f}% |")


def fixes(e: int) -> None:
    print()
    print("Each fix of #12 and #14 switched off alone (seed 0, the default subnet), profit of its attacker")
    print()
    print("| fix off | attacker | with the fix | without | honest (same group), without |")
    print("|---|---|---|---|---|")
    with_fix = run(SimConfig(epochs=e)).final()
    for fix, label in FIX_ATTACKER.items():
        f = run(SimConfig(epochs=e, protocol=replace(Protocol(), **{fix: False}))).final()
        ref = label.split(":")[0] + ":honest"
        print(f"| `{fix}` | {label} | {with_fix[label]:,.0f} | {f[label]:,.0f} | {f[ref]:,.0f} |")


def receipts(e: int, seeds: int = 10) -> None:
    """Pay-on-proof rows: seed 0 in full, and per strategy the seed where it came closest to honest."""
    print()
    print(f"Pay-on-proof (ReceiptMarket), {e} epochs: seed 0, and the worst of seeds 0-{seeds - 1}")
    print()
    print("| strategy | n | earnings | compute | slashes | gas | profit | vs honest | worst of seeds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    runs = [run(SimConfig(epochs=e, seed=seed)) for seed in range(seeds)]
    worst: dict[str, float] = {}
    for r in runs:
        for x in r.rows():
            if x.strategy.startswith("receipt_") and not x.strategy.endswith(":honest"):
                worst[x.strategy] = max(worst.get(x.strategy, -1e18), x.pct_of_honest)
    for x in runs[0].rows():
        if not x.strategy.startswith("receipt_"):
            continue
        honest = x.strategy.endswith(":honest")
        vs = "" if honest else f"{x.pct_of_honest:.1f}%"
        w = "" if honest else f"{worst[x.strategy]:.1f}%"
        print(
            f"| {x.strategy} | {x.count} | {x.earnings:,.0f} | {x.compute:,.0f} | {x.slashes:,.0f} "
            f"| {x.gas:,.1f} | {x.profit:,.0f} | {vs} | {w} |"
        )


FIX_ATTACKER = {
    "require_start": "node:lazy",
    "eval_key_commitment": "node:fhe_garbage",
    "registered_vka_only": "client:slash_farmer",
    "reserve_before_start": "node:honest",
    "quorum_snapshot": "validator:quorum_griefer",
    "eviction": "validator:sybil_validator",
    "weighted_ratings": "node:rep_self_dealer",
    "receipt_proof_claim": "receipt_client:withholder",
    "receipt_claim_after_deadline": "receipt_node:racer",
    "receipt_client_verifies": "receipt_node:wrong_proof",
    "receipt_demand": "receipt_node:no_show",
    "receipt_resolve_checks_paid": "receipt_client:griefer",
    "receipt_withdraw_delay": "receipt_client:escaper",
}


if __name__ == "__main__":
    main()
