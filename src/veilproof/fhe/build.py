"""Train, compile and package the reference FHE models.

Why this exists: a model that is published for private inference is two artifacts — ``client.zip``
(quantizers + crypto parameters; everything a client needs to make keys, encrypt and decrypt) and
``server.zip`` (the compiled circuit; everything a node needs to evaluate). Their sha256 digests are the
on-chain commitments ``fhe_client_hash`` / ``fhe_server_hash``; both go into the content-addressed
:class:`~veilproof.artifacts.ArtifactStore` under those digests.

The dataset is scikit-learn's bundled breast-cancer set, standardised with a scaler fitted on the
training split only, with a fixed seed and a fixed stratified 75/25 split, so the accuracy numbers in a
bundle are reproducible. The zips themselves are *not* byte-reproducible across builds (Concrete writes
timestamps and fresh compilation artifacts), which is fine: the commitment is to the artifact that was
built and published, not to a recipe.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from veilproof.artifacts import ArtifactStore
from veilproof.errors import InputError

ModelKind = Literal["logreg", "xgb", "nn"]
KINDS: tuple[ModelKind, ...] = ("logreg", "xgb", "nn")

#: Kinds whose server evaluation is byte-deterministic for identical (circuit, evaluation keys,
#: ciphertext) *across processes*, which is what third-party re-execution needs. Measured: only logreg
#: (a linear circuit: no programmable bootstrapping, pure integer arithmetic). xgb and nn are
#: deterministic within one process but NOT across processes: each PBS goes through a floating-point
#: FFT whose plan Concrete picks at runtime (by timing), so two processes -- more so under CPU load --
#: produce ciphertexts that decrypt identically but differ in their low-order noise bits.
DETERMINISTIC_KINDS: frozenset[str] = frozenset({"logreg"})

SEED = 0
TEST_SIZE = 0.25


@dataclass(frozen=True)
class Dataset:
    """Standardised breast-cancer split. ``mean``/``scale`` let a client standardise raw inputs."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def load_dataset(seed: int = SEED, test_size: float = TEST_SIZE) -> Dataset:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    return Dataset(
        x_train=scaler.transform(x_tr).astype(np.float32),
        x_test=scaler.transform(x_te).astype(np.float32),
        y_train=y_tr.astype(np.int64),
        y_test=y_te.astype(np.int64),
        mean=scaler.mean_.astype(np.float64),
        scale=scaler.scale_.astype(np.float64),
    )


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


@dataclass
class CompiledModel:
    """A compiled Concrete ML model plus uniform prediction callables (used by tests and the bench).

    ``predict_proba(x, fhe)`` accepts ``fhe`` in {"disable", "simulate", "execute"} like Concrete ML.
    """

    kind: str
    model: Any
    predict_proba: Callable[[np.ndarray, str], np.ndarray]
    float_predict: Callable[[np.ndarray], np.ndarray]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def train_and_compile(kind: str, data: Dataset) -> CompiledModel:
    """Fit the float model, quantize, compile to an FHE circuit. Sizes are kept small on purpose:
    the point is a fast, honest end-to-end path on a 2-core machine, not state-of-the-art accuracy."""
    import torch

    x_tr, y_tr = data.x_train, data.y_train
    if kind == "logreg":
        from concrete.ml.sklearn import LogisticRegression

        m: Any = LogisticRegression(n_bits=8, random_state=SEED)
        m.fit(x_tr, y_tr)
        m.compile(x_tr)
        return CompiledModel(
            kind,
            m,
            lambda x, fhe="disable": m.predict_proba(x, fhe=fhe),
            lambda x: m.sklearn_model.predict(x),
        )
    if kind == "xgb":
        import xgboost
        from concrete.ml.sklearn import XGBClassifier

        params = {"n_estimators": 8, "max_depth": 3, "random_state": SEED, "n_jobs": 1}
        m = XGBClassifier(n_bits=5, **params)
        m.fit(x_tr, y_tr)
        m.compile(x_tr)
        # Concrete ML fits its trees on *quantized* inputs, so its ``sklearn_model`` is not a float
        # reference; the honest float baseline is the same xgboost config fit on float features.
        ref = xgboost.XGBClassifier(**params).fit(x_tr, y_tr)
        return CompiledModel(
            kind, m, lambda x, fhe="disable": m.predict_proba(x, fhe=fhe), lambda x: ref.predict(x)
        )
    if kind == "nn":
        from concrete.ml.sklearn import NeuralNetClassifier

        torch.manual_seed(SEED)
        np.random.seed(SEED)
        # Quantization-aware training (2-bit weights, 3-bit activations) keeps every PBS at <= 8 bits: post-training
        # quantization of a float MLP needed 9-14 bit lookups, whose keygen/eval took minutes.
        m = NeuralNetClassifier(**NN_PARAMS)
        m.fit(x_tr, y_tr)
        m.compile(x_tr)
        # The float reference of a QAT net is the same torch module run without FHE quantization
        # of the graph (brevitas fake-quant in float arithmetic).
        return CompiledModel(
            kind,
            m,
            lambda x, fhe="disable": m.predict_proba(x, fhe=fhe),
            lambda x: m.sklearn_model.predict(x),
        )
    raise InputError("kind", f"one of {KINDS}", kind)


NN_PARAMS: dict[str, Any] = {
    "module__n_layers": 2,
    "module__n_w_bits": 2,
    "module__n_a_bits": 3,
    "module__n_accum_bits": 8,
    "module__n_hidden_neurons_multiplier": 2,
    "max_epochs": 80,
    "lr": 0.002,
    "batch_size": 16,
    "verbose": 0,
}


def accuracy_report(compiled: CompiledModel, data: Dataset) -> AccuracyReport:
    float_pred = np.asarray(compiled.float_predict(data.x_test)).reshape(-1)
    q_pred = compiled.predict_proba(data.x_test, "disable").argmax(axis=1)
    return AccuracyReport(
        float_accuracy=float((float_pred == data.y_test).mean()),
        quantized_accuracy=float((q_pred == data.y_test).mean()),
        agreement=float((float_pred == q_pred).mean()),
        n_test=len(data.y_test),
    )


def package(compiled: CompiledModel, data: Dataset, store: ArtifactStore) -> FheBundle:
    """Save client.zip/server.zip with ``FHEModelDev``, put both in the store, describe them."""
    from importlib.metadata import version

    from concrete.ml.deployment import FHEModelDev

    with tempfile.TemporaryDirectory(prefix="veilproof-fhe-") as tmp:
        out = Path(tmp) / "model"
        FHEModelDev(str(out), compiled.model).save()
        client_hash = store.put_file(out / "client.zip")
        server_hash = store.put_file(out / "server.zip")
    shutil.rmtree(out, ignore_errors=True)
    n_classes = int(compiled.predict_proba(data.x_test[:1], "disable").shape[1])
    return FheBundle(
        kind=compiled.kind,
        client_zip_hash=client_hash,
        server_zip_hash=server_hash,
        n_features=data.n_features,
        n_classes=n_classes,
        client_zip_path=store.path(client_hash),
        server_zip_path=store.path(server_hash),
        accuracy=accuracy_report(compiled, data),
        deterministic=compiled.kind in DETERMINISTIC_KINDS,
        feature_mean=[float(v) for v in data.mean],
        feature_scale=[float(v) for v in data.scale],
        versions={"concrete-ml": version("concrete-ml"), "concrete-python": version("concrete-python")},
    )


def build_bundle(kind: str, store: ArtifactStore, data: Dataset | None = None) -> FheBundle:
    """Train + compile + package one model kind. Takes seconds (logreg, xgb) to ~10 s (nn)."""
    bundle, _ = build_bundle_with_model(kind, store, data)
    return bundle


def build_bundle_with_model(
    kind: str, store: ArtifactStore, data: Dataset | None = None
) -> tuple[FheBundle, CompiledModel]:
    """Like :func:`build_bundle` but also returns the in-memory model (for tests and benchmarks)."""
    if kind not in KINDS:
        raise InputError("kind", f"one of {KINDS}", kind)
    data = data or load_dataset()
    compiled = train_and_compile(kind, data)
    return package(compiled, data, store), compiled


def build_all(store: ArtifactStore, kinds: tuple[str, ...] = KINDS) -> dict[str, FheBundle]:
    data = load_dataset()
    return {k: build_bundle(k, store, data) for k in kinds}
