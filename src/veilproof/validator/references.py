"""Known answers for audit inputs, derived only from artifacts whose hashes are on chain.

Why derive them ourselves: a validator that trusted a node for the reference would audit nothing.
The ONNX file (ZK) and the FHE client/server zips are content-addressed; they are fetched from any
node's ``/artifacts`` endpoint and kept only if they hash to the on-chain commitment.

* ZK: onnxruntime on the committed ONNX. The circuit is quantized (EZKL scale), so a match is the same
  argmax and every output within ``atol`` of the float model.
* FHE: the validator runs the committed server circuit itself, once per input, on its own encryption
  under a validator-only key, and decrypts. Concrete's integer evaluation is exact, so every honest
  node's decrypted answer must equal it (``atol`` only absorbs float dequantisation noise).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from veilproof.artifacts import ArtifactStore
from veilproof.artifacts.remote import fetch_artifact
from veilproof.chain.views import OnchainModel

if TYPE_CHECKING:
    from veilproof.fhe import FheClient, FheServer

Reference = Callable[[np.ndarray], Sequence[float]]


def matches(output: Sequence[float], expected: Sequence[float], atol: float) -> bool:
    """Same shape, same argmax, every value within ``atol``."""
    a = np.asarray(output, dtype=np.float64).ravel()
    b = np.asarray(expected, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size == 0 or not np.all(np.isfinite(a)):
        return False
    return int(np.argmax(a)) == int(np.argmax(b)) and bool(np.all(np.abs(a - b) <= atol))


@dataclass
class ReferenceBook:
    """Caches reference answers per (model, input). Thread-safe; shareable by in-process validators.

    (Validators on different hosts each build their own; sharing one book in the demo only saves
    the same public computation three times.)
    """

    root: Path
    sources: list[str] = field(default_factory=list)  # node base URLs to fetch artifacts from
    _cache: dict[tuple[int, bytes], list[float]] = field(default_factory=dict)
    _onnx: dict[int, Any] = field(default_factory=dict)
    _fhe: dict[int, tuple[FheClient, FheServer]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.store = ArtifactStore(self.root / "artifacts")

    def add_sources(self, urls: Sequence[str]) -> None:
        """Nodes to fetch committed artifacts from (any will do: blobs are checked against the chain)."""
        with self._lock:
            self.sources.extend(u for u in urls if u and u not in self.sources)

    def answer(self, model: OnchainModel, x: np.ndarray, private: bool) -> list[float]:
        key = (model.model_id * 2 + int(private), np.asarray(x, dtype=np.float64).tobytes())
        with self._lock:
            if key not in self._cache:
                fn = self._fhe_answer if private else self._zk_answer
                self._cache[key] = [float(v) for v in fn(model, np.asarray(x))]
            return self._cache[key]

    def _zk_answer(self, model: OnchainModel, x: np.ndarray) -> Sequence[float]:
        import onnxruntime as ort

        from veilproof.zk.salt import salt_layout, salted_input

        if model.model_id not in self._onnx:
            path = fetch_artifact(self.store, model.onnx_hash, self.sources)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            self._onnx[model.model_id] = (sess, salt_layout(path)[1])
        sess, salt_elements = self._onnx[model.model_id]
        name = sess.get_inputs()[0].name
        feed = np.asarray(x, dtype=np.float32).reshape(1, -1)
        if salt_elements:  # a salted circuit drops its salt columns: any salt gives the model's answer
            feed = salted_input(feed, np.zeros(salt_elements, dtype=np.float32))
        return list(sess.run(None, {name: feed})[0].ravel())

    def _fhe_answer(self, model: OnchainModel, x: np.ndarray) -> Sequence[float]:
        if model.model_id not in self._fhe:
            self._fhe_setup(model)
        fc, fs = self._fhe[model.model_id]
        out = fs.run(fc.encrypt(np.asarray(x, dtype=np.float32).reshape(1, -1)), fc.evaluation_keys())
        return list(np.asarray(fc.decrypt(out), dtype=np.float64).ravel())

    def fhe_server(self, model: OnchainModel) -> FheServer:
        """A running server for ``model``'s committed circuit (re-execution reuses it)."""
        with self._lock:
            if model.model_id not in self._fhe:
                self._fhe_setup(model)
            return self._fhe[model.model_id][1]

    def _fhe_setup(self, model: OnchainModel) -> None:
        from veilproof.fhe import FheClient, FheServer

        client_zip = fetch_artifact(self.store, model.fhe_client_hash, self.sources)
        server_zip = fetch_artifact(self.store, model.fhe_server_hash, self.sources)
        fc = FheClient(client_zip, self.root / "reference-keys", expected_client_hash=model.fhe_client_hash)
        self._fhe[model.model_id] = (fc, FheServer(server_zip, expected_hash=model.fhe_server_hash))

    def close(self) -> None:
        for _fc, fs in self._fhe.values():
            fs.close()
        self._fhe.clear()
