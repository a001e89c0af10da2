"""The training task: logistic regression in numpy on scikit-learn's breast-cancer data.

Why numpy and not torch: the model is 31 numbers, a round is milliseconds, and the aggregation is then a
pure function of numpy arrays that anyone can re-run bit for bit (:mod:`veilproof.fl.commit`).

The split is fixed by ``seed``: a test set (reported accuracy), a public validation set (its hash is on
chain; contributions are measured on it) and the private rest, cut into one shard per client. The
standardisation uses the validation set's statistics only, so it is part of the public task, not a peek
at any client's data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from veilproof.errors import ConfigError

Arrays = dict[str, NDArray[np.float64]]
ARCHITECTURE = "veilproof.fl.logreg/v1: breast_cancer 30 features -> sigmoid(x.w + b), float64"


@dataclass(frozen=True)
class Split:
    x_train: NDArray[np.float64]
    y_train: NDArray[np.float64]
    x_val: NDArray[np.float64]
    y_val: NDArray[np.float64]
    x_test: NDArray[np.float64]
    y_test: NDArray[np.float64]


def load_split(seed: int = 7) -> Split:
    """The bundled dataset cut into train / public validation / test (60/20/20), standardised."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    n_test = len(y) // 5
    test, val, train = idx[:n_test], idx[n_test : 2 * n_test], idx[2 * n_test :]
    mu, sd = x[val].mean(axis=0), x[val].std(axis=0) + 1e-9
    xs = (x - mu) / sd
    yf = y.astype(np.float64)
    return Split(xs[train], yf[train], xs[val], yf[val], xs[test], yf[test])


def partition(split: Split, index: int, count: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Client ``index``'s private shard of the training set (IID, disjoint)."""
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"partition {index} of {count}: expected 0 <= partition-id < num-partitions")
    sel = np.arange(len(split.y_train)) % count == index
    return split.x_train[sel], split.y_train[sel]


def init_arrays() -> Arrays:
    """The model every job starts from (zeros: deterministic, so its hash is known before round 1)."""
    return {"w": np.zeros(30), "b": np.zeros(1)}


def predict_proba(a: Arrays, x: NDArray[np.float64]) -> NDArray[np.float64]:
    z = np.clip(x @ a["w"] + a["b"][0], -30.0, 30.0)
    return 1.0 / (1.0 + np.exp(-z))


def log_loss(a: Arrays, x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    p = np.clip(predict_proba(a, x), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def accuracy(a: Arrays, x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    return float(np.mean((predict_proba(a, x) >= 0.5) == (y >= 0.5)))


def train(
    a: Arrays, x: NDArray[np.float64], y: NDArray[np.float64], *, epochs: int = 20, lr: float = 0.5
) -> Arrays:
    """Full-batch gradient descent on the log loss (deterministic: no shuffling)."""
    w, b = a["w"].copy(), a["b"].copy()
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w + b[0], -30.0, 30.0)))
        g = p - y
        w -= lr * (x.T @ g) / len(y)
        b -= lr * np.array([g.mean()])
    return {"w": w, "b": b}


def train_central(split: Split, rounds: int, epochs: int = 20) -> Arrays:
    """The centrally trained baseline: the same model and optimiser on all the training data at once."""
    return train(init_arrays(), split.x_train, split.y_train, epochs=rounds * epochs)
