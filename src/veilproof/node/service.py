"""The compute node's logic, independent of HTTP: check a request against the chain, run it, settle.

:class:`NodeService` is the sum of four sections that share one state (:mod:`veilproof.node.core`):
start-up (:mod:`~veilproof.node.startup`), admission (:mod:`~veilproof.node.admission`), work
(:mod:`~veilproof.node.work`), results (:mod:`~veilproof.node.results`), pay-on-proof orders
(:mod:`~veilproof.node.receipts`) and pipeline stages (:mod:`~veilproof.node.pipeline`). ``node/app.py`` maps its
typed refusals (:mod:`veilproof.node.errors`) to HTTP statuses.
"""

from __future__ import annotations

from veilproof.node.admission import Admission
from veilproof.node.core import ZK_SUBMIT_GAS, LoadedModel
from veilproof.node.pipeline import PipelineStages
from veilproof.node.receipts import Receipts
from veilproof.node.results import Results
from veilproof.node.startup import Startup
from veilproof.node.work import Work

__all__ = ["ZK_SUBMIT_GAS", "LoadedModel", "NodeService"]


class NodeService(Startup, Admission, Work, Receipts, Results, PipelineStages):
    """One compute node: start-up, admission, work, results and pipeline stages over one shared state."""
