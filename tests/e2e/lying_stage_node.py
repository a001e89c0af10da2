"""Fault injection for tests/e2e/test_pipeline_network.py: a node that proves its pipeline stage honestly
but hands over another output than the one it proved (every value + 0.5).

Run as ``python -m lying_stage_node NODE.json`` with ``tests/e2e`` on ``PYTHONPATH``. Only the answer is
altered (``slicing.stage_output`` is wrapped); the node, its claim and its proof are real.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from veilproof.models import slicing
from veilproof.node.runner import load_config, run_node


def main() -> None:
    honest = slicing.stage_output

    def lie(*args: Any, **kw: Any) -> Any:
        return honest(*args, **kw) + 0.5

    slicing.stage_output = lie
    run_node(load_config(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
