"""An FHE model as published: ``client.zip`` + ``server.zip``, their digests and what they were built from.

Why this exists: a model that is published for private inference is two artifacts — ``client.zip``
(quantizers + crypto parameters; everything a client needs to make keys, encrypt and decrypt) and
``server.zip`` (the compiled circuit; everything a node needs to evaluate). Their sha256 digests are the
on-chain commitments ``fhe_client_hash`` / ``fhe_server_hash``; both go into the content-addressed
:class:`~veilproof.artifacts.ArtifactStore` under those digests.

The zips are *not* byte-reproducible across builds (Concrete writes timestamps and fresh compilation
artifacts), which is fine: the commitment is to the artifact that was built and published, not to a recipe.
Which models to train lives in :mod:`veilproof.models.fhe_examples`; this module only packages one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veilproof.artifacts import ArtifactStore

#: Kinds whose server evaluation is byte-deterministic for identical (circuit, evaluation keys,
#: ciphertext) *across processes*, which is what third-party re-execution needs. Measured: only logreg
#: (a linear circuit: no programmable bootstrapping, pure integer arithmetic). xgb and nn are
#: deterministic within one process but NOT across processes: each PBS goes through a floating-point
#: FFT whose plan Concrete picks at runtime (by timing), so two processes -- more so under CPU load --
#: produce ciphertexts that decrypt identically but differ in their low-order noise bits.
DETERMINISTIC_KINDS: frozenset[str] = frozenset({"logreg"})


def circuit_is_deterministic(server_zip: bytes | str | os.PathLike[str]) -> bool:
    """Whether a committed ``server.zip``'s evaluation is byte-deterministic across processes.

    Why from the artifact and not from a model kind: the kind is not on chain, the ``server.zip`` is
    (its hash), so every validator derives the same answer from the same committed bytes. The test is
    the circuit's keyset: a circuit without bootstrap keys does no programmable bootstrapping, hence
    no FFT, only integer arithmetic (logreg); any bootstrap key means PBS, whose FFT plan Concrete
    picks at runtime (xgb, nn: measured different output hashes in 3 of 3 processes). Making PBS
    deterministic would need a Concrete built with a fixed FFT plan, impossible with the prebuilt
    wheels (tfhe-rs issue #1765). A zip that cannot be read counts as not deterministic: hashes of a
    circuit nobody can classify must never be used as evidence against a node.
    """
    try:
        data = server_zip if isinstance(server_zip, bytes) else Path(server_zip).read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            specs = json.loads(z.read("client.specs.json"))
        return specs["keyset"]["lweBootstrapKeys"] == []
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return False


@dataclass(frozen=True)
class AccuracyReport:
    """Accuracy on the test split. ``agreement`` = share of test rows where float and quantized agree."""

    float_accuracy: float
    quantized_accuracy: float
    agreement: float
    n_test: int


@dataclass(frozen=True)
class FheBundle:
    """What publishing an FHE model produces; ``client_zip_hash``/``server_zip_hash`` go on chain."""

    kind: str
    client_zip_hash: str
    server_zip_hash: str
    n_features: int
    n_classes: int
    client_zip_path: Path
    server_zip_path: Path
    accuracy: AccuracyReport
    deterministic: bool
    #: Standardisation applied before encryption (client side); inputs to encrypt are standardised.
    feature_mean: list[float] = field(default_factory=list)
    feature_scale: list[float] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    def standardise(self, x_raw: np.ndarray) -> np.ndarray:
        """Raw breast-cancer features -> the standardised features the model was trained on."""
        return (
            (np.asarray(x_raw, dtype=np.float64) - np.asarray(self.feature_mean))
            / np.asarray(self.feature_scale)
        ).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["client_zip_path"] = str(self.client_zip_path)
        d["server_zip_path"] = str(self.server_zip_path)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FheBundle:
        d = dict(d)
        d["client_zip_path"] = Path(d["client_zip_path"])
        d["server_zip_path"] = Path(d["server_zip_path"])
        d["accuracy"] = AccuracyReport(**d["accuracy"])
        return cls(**d)

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))
        return p

    @classmethod
    def load(cls, path: str | Path) -> FheBundle:
        return cls.from_dict(json.loads(Path(path).read_text()))


def package(
    model: Any,
    store: ArtifactStore,
    *,
    kind: str,
    n_features: int,
    n_classes: int,
    accuracy: AccuracyReport,
    deterministic: bool,
    feature_mean: list[float],
    feature_scale: list[float],
) -> FheBundle:
    """Save a compiled Concrete ML model's client.zip/server.zip with ``FHEModelDev``, put both in the
    store, describe them."""
    from importlib.metadata import version

    from concrete.ml.deployment import FHEModelDev

    with tempfile.TemporaryDirectory(prefix="veilproof-fhe-") as tmp:
        out = Path(tmp) / "model"
        FHEModelDev(str(out), model).save()
        client_hash = store.put_file(out / "client.zip")
        server_hash = store.put_file(out / "server.zip")
    shutil.rmtree(out, ignore_errors=True)
    return FheBundle(
        kind=kind,
        client_zip_hash=client_hash,
        server_zip_hash=server_hash,
        n_features=n_features,
        n_classes=n_classes,
        client_zip_path=store.path(client_hash),
        server_zip_path=store.path(server_hash),
        accuracy=accuracy,
        deterministic=deterministic,
        feature_mean=feature_mean,
        feature_scale=feature_scale,
        versions={"concrete-ml": version("concrete-ml"), "concrete-python": version("concrete-python")},
    )


@dataclass(frozen=True)
class OnnxFheBuild:
    """The FHE form of an owner's ONNX model: its two artifacts (in the store) and what quantization cost.

    ``max_abs_error`` / ``agreement`` compare the quantized circuit (simulated in the clear, which FHE
    reproduces exactly) with the float ONNX on the calibration rows: the owner sees the accuracy price of
    ``n_bits`` before publishing.
    """

    client_zip_hash: str
    server_zip_hash: str
    n_features: int
    n_outputs: int
    n_bits: int
    max_abs_error: float
    agreement: float  # share of calibration rows where float and quantized pick the same argmax


def build_from_onnx(
    onnx_path: str | Path, calibration: np.ndarray, store: ArtifactStore, *, n_bits: int = 8
) -> OnnxFheBuild:
    """Compile an ONNX model for FHE with Concrete ML (calibrated on ``calibration``) and store its
    client.zip / server.zip: the same model a ZK package proves, served privately.

    Concrete ML reads ONNX opset 14; other opsets are converted first. A graph Concrete cannot compile
    (an unsupported operator, an accumulator wider than 16 bits) is a :class:`FheError` naming the cause.
    """
    import onnx
    import onnxruntime as ort
    from concrete.ml.deployment import FHEModelDev
    from concrete.ml.torch.compile import compile_onnx_model
    from onnx import version_converter

    from veilproof.fhe.errors import FheError

    x = np.asarray(calibration, dtype=np.float32)
    model = onnx.load(str(onnx_path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 14)
    try:
        if opset != 14:
            model = version_converter.convert_version(model, 14)
        # Concrete dumps debug files into ./.artifacts when a compile fails: keep them out of the user's folder.
        with tempfile.TemporaryDirectory(prefix="veilproof-concrete-") as scratch, contextlib.chdir(scratch):
            compiled = compile_onnx_model(model, x, n_bits=n_bits)
    except (AssertionError, RuntimeError, ValueError, NotImplementedError) as e:
        raise FheError(
            f"Concrete ML cannot compile {Path(onnx_path).name} for FHE at {n_bits} bits: {_why(str(e))}"
        ) from e
    sess = ort.InferenceSession(str(onnx_path))
    name = sess.get_inputs()[0].name  # one row at a time: exported graphs often fix the batch axis at 1
    want = np.stack([np.asarray(sess.run(None, {name: row[None]})[0], dtype=np.float64).ravel() for row in x])
    got = np.asarray(compiled.forward(x, fhe="disable"), dtype=np.float64).reshape(len(x), -1)
    with tempfile.TemporaryDirectory(prefix="veilproof-fhe-") as tmp:
        out = Path(tmp) / "model"
        FHEModelDev(str(out), compiled).save()
        client_hash = store.put_file(out / "client.zip")
        server_hash = store.put_file(out / "server.zip")
    return OnnxFheBuild(
        client_zip_hash=client_hash,
        server_zip_hash=server_hash,
        n_features=int(np.prod(x.shape[1:])),
        n_outputs=int(want.shape[1]),
        n_bits=n_bits,
        max_abs_error=float(np.max(np.abs(want - got))),
        agreement=float(np.mean(np.argmax(want, axis=1) == np.argmax(got, axis=1))),
    )


def _why(message: str) -> str:
    """Concrete's refusal in one line: it prints the whole circuit and marks the culprit with ``^^^``
    annotations ("this 17-bit value is used as an input to a table lookup", "but only up to 16-bit ...")."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    marks = [ln.lstrip("^ ").strip() for ln in lines if ln.startswith("^")]
    if not marks:
        return lines[0] if lines else "unknown reason"
    hint = "; try fewer --bits" if any("bit" in m for m in marks) else ""
    return ", ".join(marks) + hint
