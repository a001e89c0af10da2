"""The node's shared state, and the parts of it every section uses.

Why a core plus sections: the service has four jobs that read the same state (chain handles, the job
database, the worker pool, the loaded models) — start-up, admission, work, results. Each section is a
small module with one job (``node/startup.py``, ``admission.py``, ``work.py``, ``results.py``), and
:class:`veilproof.node.service.NodeService` is their sum. A variant (the demo's cheater) subclasses
``NodeService`` and overrides one step (``_prove``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import coincurve
import numpy as np
from eth_account.signers.local import LocalAccount

from veilproof.artifacts import ArtifactStore
from veilproof.chain import Network
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.suite import Suite
from veilproof.errors import InputError
from veilproof.node import store as st
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.errors import BadInput, NotServed
from veilproof.node.pool import WorkerPool
from veilproof.node.proving import ProcessProver
from veilproof.protocol import ClaimSigner, decrypt_for_node

if TYPE_CHECKING:
    from veilproof.fhe.server import FheServer
    from veilproof.models.package import ModelPackage

#: Gas for a ZK submit, fixed: verifying a Halo2 proof in the EVM is the slow part of an estimate and need
#: not run twice (~0.9M is used).
ZK_SUBMIT_GAS = 2_500_000


@dataclass
class LoadedModel:
    served: ServedModel
    onchain: OnchainModel
    zk: ModelPackage | None = None
    fhe: FheServer | None = None

    def require_zk(self) -> ModelPackage:
        """The ZK package; :class:`NotServed` when this node does not serve the model in ZK mode."""
        if self.zk is None:
            raise NotServed(f"this node does not serve model {self.served.model_id} in ZK mode")
        return self.zk

    def require_fhe(self) -> FheServer:
        """The FHE server; :class:`NotServed` when this node does not serve the model in FHE mode."""
        if self.fhe is None:
            raise NotServed(f"this node does not serve model {self.served.model_id} in FHE mode")
        return self.fhe


class NodeCore:
    """State shared by the sections; built once per node process."""

    def __init__(self, cfg: NodeConfig, net: Network, suite: Suite, account: LocalAccount) -> None:
        self.cfg = cfg
        self.net = net
        self.suite = suite
        self.account = account
        self.address = account.address
        self.pubkey = coincurve.PrivateKey(bytes(account.key)).public_key.format(compressed=True)
        self.store = ArtifactStore(cfg.home / "artifacts")
        self.db = st.NodeStore(cfg.home / "node.sqlite")
        self.pool = WorkerPool(cfg.workers, cfg.queue_limit)
        self.prover = ProcessProver(cfg.workers)
        self.claims = ClaimSigner(account, net.chain_id, suite.market.address)
        self.models: dict[int, LoadedModel] = {}
        self.started = time.time()

    def _decode_input(self, encrypted_input: bytes, lm: LoadedModel) -> np.ndarray:
        """The ZK input: decrypted with the node's key, parsed, checked against the model's shape.
        Admission decodes to check the commitment; work decodes again from the stored envelope (the
        plaintext is never stored)."""
        try:
            plain = decrypt_for_node(bytes(self.account.key), encrypted_input)
            x = np.asarray(json.loads(plain), dtype=np.float64)
        except (InputError, ValueError, TypeError) as e:
            raise BadInput(f"encrypted_input: cannot decrypt or parse ({type(e).__name__})") from e
        shape = tuple(lm.require_zk().input_shape)
        if x.size != int(np.prod(shape)) or not np.all(np.isfinite(x)):
            raise BadInput(f"input: expected {int(np.prod(shape))} finite numbers (shape {shape})")
        return x.reshape(shape)

    def _enqueue(self, job_id: int, mode: int) -> None:
        """Queue a recorded job for work (implemented by :class:`veilproof.node.work.Work`)."""
        raise NotImplementedError
