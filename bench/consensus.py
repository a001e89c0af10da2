"""Gas of one epoch of Rewards.vy at the documented maximum size (16 validators x 64 nodes).

Run: .venv/bin/python bench/consensus.py [--validators 16] [--nodes 64] [--epochs 2]
Prints the gas of each commit, reveal and finalize, and checks the contract against the mirror.
"""

from __future__ import annotations

import argparse
import random
import time

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL
from veilproof.incentives.deploy import IncentiveParams
from veilproof.incentives.onchain import Subnet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--validators", type=int, default=16)
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    net = connect()
    t0 = time.time()
    s = Subnet.create(
        net,
        args.nodes,
        [rng.randint(2, 10) * 1_000 * ONE_VEIL for _ in range(args.validators)],
        IncentiveParams(validator_min_stake=1_000 * ONE_VEIL),
    )
    print(f"setup: {args.nodes} nodes, {args.validators} validators in {time.time() - t0:.0f}s")
    for k in range(args.epochs):
        base = [rng.randint(0, 65535) for _ in range(args.nodes)]
        weights = {
            v.address: [max(0, min(65535, b + rng.randint(-8000, 8000))) for b in base] for v in s.validators
        }
        t = time.time()
        ce = s.run_epoch(weights)
        commits = s.gas["commit_weights"][-args.validators :]
        reveals = s.gas["reveal_weights"][-args.validators :]
        total = sum(commits) + sum(reveals) + ce.gas["finalize"]
        print(
            f"epoch {k}: commit max {max(commits):,}  reveal max {max(reveals):,}  finalize {ce.gas['finalize']:,}  "
            f"epoch total {total:,}  mirror agrees: {ce.agrees()}  ({time.time() - t:.0f}s)"
        )


if __name__ == "__main__":
    main()
