"""``make bench``: run every benchmark in turn; each prints a table and writes bench/results/<name>.json.

Benchmarks are separate scripts so one can be run alone (``python bench/zk.py``); this runner only
sequences them and reports which failed, so one broken benchmark does not hide the others.

``network`` runs its small default here (40 jobs, 2 nodes, a few minutes); the full 1,000-job run
with the 1/2/4-node scaling is ``make bench-network`` (see bench/network.py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["gas", "zk", "fhe", "consensus", "stealth", "network"]


def main() -> int:
    names = sys.argv[1:] or BENCHES
    failed = []
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(
            f"=== {name}: {'ok' if rc == 0 else f'FAILED ({rc})'} in {time.perf_counter() - t0:.0f}s ===",
            flush=True,
        )
        if rc:
            failed.append(name)
    print(f"\nresults in {HERE / 'results'}; failed: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
