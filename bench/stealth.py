"""How long a recipient takes to scan ERC-5564 announcements for its payments, with and without view tags.

Why: a recipient (a node paid through stealth addresses) must check every announcement on chain.
With view tags a foreign announcement costs one scalar multiplication and one keccak (255 of 256
stop there); without them every announcement also costs a point addition and an address derivation.
Also measured: the payer's cost to derive a stealth address, and reading announcements back from an
embedded chain (``--chain N`` announcements, 0 to skip).

Run: ``.venv/bin/python bench/stealth.py [--n 10000] [--mine 10] [--repeat 3] [--chain 200]``.
Writes a table to stdout and JSON to bench/results/stealth.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from veilproof.agents.stealth import (
    Announcement,
    StealthKeys,
    generate_stealth_address,
    scan,
    scan_with_keys,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "stealth.json"
CALLER = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20


def make_announcements(n: int, mine: int, me: StealthKeys, seed: int = 7) -> tuple[list[Announcement], float]:
    """``n`` announcements, ``mine`` of them to ``me`` at random positions; returns them and the
    payer-side seconds per stealth address derivation."""
    rng = random.Random(seed)
    others = [StealthKeys.generate().meta_address for _ in range(50)]
    targets = set(rng.sample(range(n), mine))
    anns: list[Announcement] = []
    t0 = time.perf_counter()
    for i in range(n):
        meta = me.meta_address if i in targets else others[i % len(others)]
        sa = generate_stealth_address(meta)
        anns.append(Announcement(1, sa.address, CALLER, sa.ephemeral_pubkey, sa.metadata(TOKEN, 10**18 + i)))
    return anns, (time.perf_counter() - t0) / n


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def chain_read(n: int) -> dict[str, float]:
    """Announce ``n`` payments on an embedded chain and time reading them back as logs."""
    from veilproof.agents.payments import AnnouncerClient
    from veilproof.chain import connect

    net = connect()
    (payer,) = net.new_accounts(1)
    announcer = AnnouncerClient(net, str(net.deploy("StealthAnnouncer", sender=payer).address))
    keys = StealthKeys.generate()
    gas = []
    for _ in range(n):
        sa = generate_stealth_address(keys.meta_address)
        gas.append(announcer.announce(payer, sa, sa.metadata(TOKEN, 1)).gas_used)
    t0 = time.perf_counter()
    anns = announcer.announcements()
    read = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = scan_with_keys(anns, keys)
    scanned = time.perf_counter() - t0
    assert len(found) == n
    net.close()
    return {
        "announcements": n,
        "announce_gas_median": statistics.median(gas),
        "read_logs_s": read,
        "read_logs_us_per_announcement": read / n * 1e6,
        "scan_s": scanned,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="announcements to scan")
    ap.add_argument("--mine", type=int, default=10, help="how many belong to the scanning recipient")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (median reported)")
    ap.add_argument(
        "--chain", type=int, default=200, help="announcements to post and read on an embedded chain"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    me = StealthKeys.generate()
    anns, derive_s = make_announcements(args.n, args.mine, me)
    spend_pub = me.meta_address.spending_pubkey

    rows: list[tuple[str, float, int]] = []
    t, found = timed(lambda: scan_with_keys(anns, me), args.repeat)
    assert len(found) == args.mine
    rows.append(("view tags, with spending key", t, len(found)))
    t, found = timed(lambda: scan(anns, me.viewing_key, spend_pub), args.repeat)
    rows.append(("view tags, watch-only (viewing key)", t, len(found)))
    t, found = timed(lambda: scan_with_keys(anns, me, use_view_tags=False), args.repeat)
    assert len(found) == args.mine
    rows.append(("no view tags (full derivation)", t, len(found)))
    stranger = StealthKeys.generate()
    t, found = timed(lambda: scan_with_keys(anns, stranger), args.repeat)
    assert found == []
    rows.append(("view tags, key with no payments", t, 0))

    table = Table(title=f"Scanning {args.n:,} ERC-5564 announcements ({args.mine} ours)")
    table.add_column("scan")
    table.add_column("total (s)", justify="right")
    table.add_column("µs / announcement", justify="right")
    table.add_column("found", justify="right")
    for name, t, f in rows:
        table.add_row(name, f"{t:.3f}", f"{t / args.n * 1e6:.1f}", str(f))
    console = Console()
    console.print(table)
    speedup = rows[2][1] / rows[0][1]
    console.print(
        f"view-tag speedup: {speedup:.2f}x; payer derives one stealth address in {derive_s * 1e6:.0f} µs"
    )

    result: dict[str, Any] = {
        "announcements": args.n,
        "ours": args.mine,
        "repeat": args.repeat,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "scan": {
            name: {"seconds": t, "us_per_announcement": t / args.n * 1e6, "found": f} for name, t, f in rows
        },
        "view_tag_speedup": speedup,
        "payer_derive_us": derive_s * 1e6,
    }
    if args.chain:
        c = chain_read(args.chain)
        result["embedded_chain"] = c
        console.print(
            f"embedded chain: announce {c['announce_gas_median']:.0f} gas; reading {c['announcements']} "
            f"announcements as logs {c['read_logs_us_per_announcement']:.0f} µs each"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
