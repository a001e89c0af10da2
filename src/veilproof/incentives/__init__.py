"""Incentive layer: Yuma-style consensus (contract mirror), audit detection math, economic simulation.

Pure Python except :mod:`veilproof.incentives.deploy` and :mod:`veilproof.incentives.onchain`, which
talk to the chain layer (the simulation only reads the deploy constants from them, so what it tunes
is what is deployed). Nothing here imports ZK, FHE or HTTP code.
"""

from veilproof.incentives.yuma import EpochResult, YumaParams, epoch_step

__all__ = ["EpochResult", "YumaParams", "epoch_step"]
