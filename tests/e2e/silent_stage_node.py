"""Fault injection for tests/e2e/test_pipeline_network.py: a node that claims and proves its pipeline
stage but never submits it (as a node that crashed or hung after answering would).

Run as ``python -m silent_stage_node NODE.json`` with ``tests/e2e`` on ``PYTHONPATH``. Only the submit is
suppressed (``PipelineMarket.submit_stage`` raises); the node, its claim and its proof are real.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from veilproof.chain.pipeline_market import PipelineMarket
from veilproof.node.runner import load_config, run_node


def main() -> None:
    def never(self: PipelineMarket, *args: Any, **kw: Any) -> Any:
        raise ConnectionAbortedError("silent node: the stage is never submitted")

    PipelineMarket.submit_stage = never  # type: ignore[method-assign]
    run_node(load_config(Path(sys.argv[1])))


if __name__ == "__main__":
    main()
