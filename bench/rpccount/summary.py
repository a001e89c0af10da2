"""Summarise ``VP_RPC_COUNT_DIR``: JSON-RPC requests per role and method (see sitecustomize.py).

python bench/rpccount/summary.py DIR [--jobs N] [--callers]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--jobs", type=int, default=0, help="divide by this many jobs")
    ap.add_argument("--callers", action="store_true", help="also show method | caller rows")
    a = ap.parse_args()
    by_role: dict[str, Counter[str]] = {}
    for p in sorted(a.dir.glob("*.json")):
        d = json.loads(p.read_text())
        argv = " ".join(d.get("argv", []))
        role = (
            "node"
            if ("node.runner" in argv or "node/runner" in argv)
            else "client"
            if "--client" in argv
            else d["role"]
        )
        by_role.setdefault(role, Counter()).update(d["counts"])
    for role, c in sorted(by_role.items()):
        methods = {k: v for k, v in c.items() if " | " not in k}
        total = sum(methods.values())
        per = f", {total / a.jobs:.1f}/job" if a.jobs else ""
        print(f"## {role}: {total} requests{per}")
        for k, v in sorted(methods.items(), key=lambda kv: -kv[1]):
            print(f"  {k:32s} {v:7d}" + (f"  {v / a.jobs:6.2f}/job" if a.jobs else ""))
        if a.callers:
            rows = {k: v for k, v in c.items() if " | " in k}
            for k, v in sorted(rows.items(), key=lambda kv: -kv[1])[:40]:
                print(f"    {v:7d}" + (f"  {v / a.jobs:6.2f}/job" if a.jobs else "") + f"  {k}")


if __name__ == "__main__":
    main()
