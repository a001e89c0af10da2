"""Incentive layer: Yuma-style consensus (contract mirror), audit detection math, economic simulation.

Pure Python except :mod:`veilproof.incentives.deploy` and :mod:`veilproof.incentives.onchain`, which
talk to the chain layer. Nothing here imports ZK, FHE or HTTP code.
"""

from veilproof.incentives.yuma import EpochResult, YumaParams, epoch_step

__all__ = ["EpochResult", "YumaParams", "epoch_step"]
