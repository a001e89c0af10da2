"""Fault injection for tests/e2e/test_chain_faults.py: a node that dies (``os._exit``) right after its
ZK submit is mined, before it can write that down — the crash window recovery must reconcile.

Run as ``python -m faulty_node NODE.json`` with ``tests/e2e`` on ``PYTHONPATH``. Only the fault is
injected (the facade's ``submit_zk`` is wrapped); the node, its chain and its proof are real.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from veilproof.chain.job_market import JobMarket
from veilproof.node.runner import load_config, run_node


def main() -> None:
    submit = JobMarket.submit_zk

    def submit_then_die(self: JobMarket, *args: Any, **kw: Any) -> Any:
        submit(self, *args, **kw)
        os._exit(9)

    JobMarket.submit_zk = submit_then_die  # type: ignore[method-assign]
    run_node(load_config(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
