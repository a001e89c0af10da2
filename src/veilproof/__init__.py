"""veilproof: private (FHE) and verifiable (ZKML) AI inference on an open network.

``from veilproof import Client, connect`` — imported lazily so ``import veilproof`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Client", "connect"]


def __getattr__(name: str) -> Any:
    if name == "Client":
        from veilproof.client import Client

        return Client
    if name == "connect":
        from veilproof.chain import connect

        return connect
    raise AttributeError(name)
