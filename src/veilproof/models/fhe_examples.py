"""The example FHE models (logistic regression, XGBoost, a QAT neural net) on the breast-cancer split.

Sizes are kept small on purpose: the point is a fast, honest end-to-end path on a 2-core machine, not
state-of-the-art accuracy. Everything is seeded, so accuracy numbers in a bundle are reproducible.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from veilproof.artifacts import ArtifactStore
from veilproof.errors import InputError
from veilproof.fhe.bundle import DETERMINISTIC_KINDS, AccuracyReport, FheBundle, package
from veilproof.models.datasets import SEED, Dataset
from veilproof.models.datasets import breast_cancer as load_dataset

ModelKind = Literal["logreg", "xgb", "nn"]
KINDS: tuple[ModelKind, ...] = ("logreg", "xgb", "nn")


class PredictProba(Protocol):
    """``predict_proba(x, fhe="disable")``, ``fhe`` in {"disable", "simulate", "execute"}."""

    def __call__(self, x: np.ndarray, fhe: str = "disable", /) -> np.ndarray: ...


@dataclass
class CompiledModel:
    """A compiled Concrete ML model plus uniform prediction callables (used by tests and the bench).

    ``predict_proba(x, fhe)`` accepts ``fhe`` in {"disable", "simulate", "execute"} like Concrete ML.
    """

    kind: str
    model: Any
    predict_proba: PredictProba
    float_predict: Callable[[np.ndarray], np.ndarray]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def train_and_compile(kind: str, data: Dataset) -> CompiledModel:
    """Fit the float model, quantize, compile to an FHE circuit."""
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


def package_example(compiled: CompiledModel, data: Dataset, store: ArtifactStore) -> FheBundle:
    """Package one trained example with its accuracy and the standardisation a client applies."""
    return package(
        compiled.model,
        store,
        kind=compiled.kind,
        n_features=data.n_features,
        n_classes=int(compiled.predict_proba(data.x_test[:1], "disable").shape[1]),
        accuracy=accuracy_report(compiled, data),
        deterministic=compiled.kind in DETERMINISTIC_KINDS,
        feature_mean=[float(v) for v in data.mean],
        feature_scale=[float(v) for v in data.scale],
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
    return package_example(compiled, data, store), compiled


def build_all(store: ArtifactStore, kinds: tuple[str, ...] = KINDS) -> dict[str, FheBundle]:
    data = load_dataset()
    return {k: build_bundle(k, store, data) for k in kinds}


__all__ = [
    "DETERMINISTIC_KINDS",
    "KINDS",
    "CompiledModel",
    "Dataset",
    "build_all",
    "build_bundle",
    "build_bundle_with_model",
    "load_dataset",
    "train_and_compile",
]
