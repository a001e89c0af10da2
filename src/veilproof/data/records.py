"""Records: one row of a tabular dataset, its salted hash (what goes on chain) and a demo split.

Why salted: a record hash on chain must not reveal the row. A row of a public-looking table has low
entropy (30 floats and a label can be guessed from a near copy), so each record carries 16 random
bytes known to its subject and the data host; ``sha256(salt ‖ row bytes)`` cannot be tested against
guesses without the salt.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import numpy as np

from veilproof.errors import InputError

SALT_BYTES = 16


@dataclass(frozen=True)
class Record:
    """One row: ``features`` (float64) and an integer ``label``, with the subject's ``salt``."""

    features: tuple[float, ...]
    label: int
    salt: bytes

    def content(self) -> bytes:
        """The row's canonical bytes (little-endian float64 features, then the label as int64)."""
        return np.asarray(self.features, dtype="<f8").tobytes() + int(self.label).to_bytes(
            8, "little", signed=True
        )

    @property
    def record_hash(self) -> bytes:
        """What the subject consents to and the chain stores: sha256(salt ‖ content)."""
        return hashlib.sha256(self.salt + self.content()).digest()

    def to_bytes(self) -> bytes:
        return self.salt + self.content()

    @classmethod
    def from_bytes(cls, raw: bytes, n_features: int) -> Record:
        want = SALT_BYTES + 8 * n_features + 8
        if len(raw) != want:
            raise InputError("record", f"{want} bytes ({n_features} features)", len(raw))
        feats = np.frombuffer(raw[SALT_BYTES : SALT_BYTES + 8 * n_features], dtype="<f8")
        label = int.from_bytes(raw[-8:], "little", signed=True)
        return cls(tuple(float(f) for f in feats), label, raw[:SALT_BYTES])

    @classmethod
    def new(cls, features: np.ndarray, label: int) -> Record:
        return cls(tuple(float(f) for f in features), int(label), secrets.token_bytes(SALT_BYTES))


def to_xy(records: list[Record]) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix and labels, in the given order."""
    if not records:
        raise InputError("records", "at least one record")
    return np.array([r.features for r in records]), np.array([r.label for r in records])


@dataclass(frozen=True)
class DemoSplit:
    """A scikit-learn dataset split among contributors, plus a held-out set the scorer keeps."""

    contributions: list[list[Record]]
    held_out_x: np.ndarray
    held_out_y: np.ndarray


def breast_cancer_split(n_contributors: int, held_out: float = 0.25, seed: int = 0) -> DemoSplit:
    """The bundled breast-cancer table (569 rows, 30 features), shuffled with ``seed``: ``held_out``
    of it kept by the scorer, the rest dealt round-robin to ``n_contributors``."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    k = int(len(y) * held_out)
    rows = [Record.new(x[i], int(y[i])) for i in range(k, len(y))]
    return DemoSplit([rows[i::n_contributors] for i in range(n_contributors)], x[:k], y[:k])
