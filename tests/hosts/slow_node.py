"""A node whose prover can be made slow, for the partition tests (``python -m slow_node NODE.json``
with ``tests/hosts`` on ``PYTHONPATH``).

Why: "cut the link after ``start_job`` and before the submit" must not race a 1.5 s proof. While the
file ``<home>/prove-delay`` holds a number of seconds, each proof starts that much later (a slower
machine); without the file the node is the production node. Everything else is real.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from veilproof.node.runner import load_config, run_node
from veilproof.node.service import NodeService


class SlowNode(NodeService):
    def _prove(self, lm: Any, x: Any) -> Any:
        f = self.cfg.home / "prove-delay"
        if f.is_file():
            time.sleep(float(f.read_text()))
        return super()._prove(lm, x)


def main() -> None:
    run_node(load_config(Path(sys.argv[1])), factory=SlowNode)


if __name__ == "__main__":
    main()
