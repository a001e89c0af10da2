"""The example datasets, split once: scikit-learn's bundled sets (no downloads), seeded and stratified.

Why one module: the ZK examples, the FHE examples, the validators' audit inputs and the demo must all see
the *same* split (a row of ``x_test`` is the same patient everywhere), so it is written once, here.
Features are standardised with a scaler fitted on the training split only; ``mean``/``scale`` let a client
standardise raw inputs the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEED = 0
TEST_SIZE = 0.25


@dataclass(frozen=True)
class Dataset:
    """A train/test split. ``mean``/``scale`` are the standardisation (identity for digits)."""

    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))


def breast_cancer(seed: int = SEED, test_size: float = TEST_SIZE) -> Dataset:
    """Breast-cancer (30 features, 2 classes), standardised on the training split."""
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


def digits(seed: int = SEED, test_size: float = TEST_SIZE) -> Dataset:
    """8x8 digits as (1, 8, 8) images in [0, 1], 10 classes."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    return Dataset(
        x_train=x_tr,
        x_test=x_te,
        y_train=y_tr.astype(np.int64),
        y_test=y_te.astype(np.int64),
        mean=np.zeros(1),
        scale=np.ones(1),
    )


def load(name: str) -> Dataset:
    """``"breast_cancer"`` or ``"digits"``."""
    loaders = {"breast_cancer": breast_cancer, "digits": digits}
    if name not in loaders:
        raise ValueError(f"unknown dataset {name!r}: expected one of {sorted(loaders)}")
    return loaders[name]()
