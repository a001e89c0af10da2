"""The demo's cheating node: it serves a committed ZK model but proves with a substituted package.

Why it lives here: a node that cheats is needed to show (in ``veilproof demo`` and the end-to-end
tests) that the network catches it — the chain rejects the proof, the client challenges the signed
claim, the node is slashed, validators give it no weight. Production node code must not carry a
switch that makes a node cheat, so the node itself (:mod:`veilproof.node`) knows nothing of this:
this module subclasses :class:`NodeService` and runs it through the ordinary runner's
``factory`` hook, as its own process (``python -m veilproof.demo.cheater NODE.json MODEL_ID=DIGEST``).

The cheat is the one a real node would try: the committed package is fetched and checked against the
chain as usual (so the node starts, registers and answers like an honest one), but every proof for
the model is made with the substitute — same input shape, other weights, cheaper or just wrong.
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from eth_account.signers.local import LocalAccount

from veilproof.chain import Network
from veilproof.chain.suite import Suite
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.errors import ContractReverted
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.runner import load_config, run_node
from veilproof.node.service import LoadedModel, NodeService
from veilproof.protocol.api import JobState, ZkClaim

if TYPE_CHECKING:
    from veilproof.models.package import ModelPackage, ZkResult

log = logging.getLogger("veilproof.node")


class SubstitutingNodeService(NodeService):
    """A node that proves model ``m`` with the package ``substitutes[m]`` instead of the committed one."""

    def __init__(
        self, cfg: NodeConfig, net: Network, suite: Suite, account: LocalAccount, substitutes: dict[int, str]
    ) -> None:
        super().__init__(cfg, net, suite, account)
        self.substitutes = dict(substitutes)
        self._substitute_packages: dict[int, ModelPackage] = {}

    def load_models(self) -> None:
        super().load_models()
        for model_id, digest in self.substitutes.items():
            self._substitute_packages[model_id] = self._load_package(digest)
            log.warning("DEMO CHEATER: model %s is proved with uncommitted package %s", model_id, digest)

    def _prove(self, lm: LoadedModel, x: np.ndarray) -> ZkResult:
        pkg = self._substitute_packages.get(lm.served.model_id)
        return super()._prove(lm, x) if pkg is None else self.prover.prove(pkg, x)

    def _check_claim(self, job_id: int, instances: list[int], proof: bytes) -> None:
        """A cheater does not ask the chain first whether its proof verifies (it knows it will not)."""

    def _zk_submit_rejected(self, job_id: int, claim: ZkClaim, e: ContractReverted) -> None:
        """…and hands its signed claim to the client anyway: the evidence ``challenge_zk`` slashes."""
        self.db.update(job_id, state=JobState.FAILED, error=f"chain rejected the result: {e.reason}",
                       result_json=claim.model_dump_json())  # fmt: skip


def start_cheater(
    lnet: LocalNetwork, name: str, model_id: int, package: str, substitute: str, **kw: Any
) -> NodeProcess:
    """Start a cheating node process serving ``model_id`` (committed ZK ``package``), proving with the
    ``substitute`` package. ``kw`` go to :meth:`LocalNetwork.start_node` (artifacts_dir, stake_veil…)."""
    return lnet.start_node(
        name,
        [ServedModel(model_id, zk_package=package)],
        module=__name__,
        args=[f"{model_id}={substitute}"],
        honest=False,
        **kw,
    )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or not all("=" in a for a in args[1:]):
        raise SystemExit(
            "usage: python -m veilproof.demo.cheater NODE_CONFIG.json MODEL_ID=PACKAGE_DIGEST..."
        )
    substitutes = {int(k): v for k, v in (a.split("=", 1) for a in args[1:])}
    run_node(load_config(Path(args[0])), factory=partial(SubstitutingNodeService, substitutes=substitutes))


if __name__ == "__main__":
    main()
