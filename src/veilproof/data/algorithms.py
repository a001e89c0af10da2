"""Committed algorithms a data host runs on a dataset version (compute-to-data), and quality scoring.

Why "committed": the buyer escrows a sale for one ``algo_hash`` = sha256 of the algorithm's canonical
spec (name, parameters, scikit-learn version and the sha256 of this module's source). The host
refuses a hash it does not know, and its receipt binds (version record root, algo hash, result
hash), so a result can be re-derived by anyone later given the same records: training here is
deterministic (lbfgs, records in record-hash order), which is what makes a host's result auditable
by re-execution (docs/data-market.md says who can re-execute, and what cannot be caught).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from veilproof.data.records import Record, to_xy
from veilproof.errors import InputError

_SOURCE_SHA256 = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def canonical(obj: Any) -> bytes:
    """The one JSON encoding hashed everywhere here (sorted keys, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class LogisticRegressionJob:
    """Standardise, then fit scikit-learn's LogisticRegression (lbfgs) on the version's records.

    The result package holds the fitted parameters (enough to predict, nothing of the rows) and, when
    the algorithm is given an evaluation set, its accuracy there."""

    c: float = 1.0
    max_iter: int = 500
    name: str = field(default="sklearn.LogisticRegression", init=False)

    def spec(self) -> dict[str, Any]:
        import sklearn

        return {
            "name": self.name,
            "params": {"C": self.c, "max_iter": self.max_iter, "solver": "lbfgs", "scaler": "standard"},
            "sklearn": sklearn.__version__,
            "code_sha256": _SOURCE_SHA256,
        }

    @property
    def algo_hash(self) -> bytes:
        return hashlib.sha256(canonical(self.spec())).digest()

    def fit(self, records: list[Record]) -> Any:
        """The fitted pipeline (records sorted by hash first: the result does not depend on order)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        rs = sorted(records, key=lambda r: r.record_hash)
        x, y = to_xy(rs)
        if len(set(y.tolist())) < 2:
            raise InputError("records", "rows of at least two classes", sorted(set(y.tolist())))
        pipe = make_pipeline(StandardScaler(), LogisticRegression(C=self.c, max_iter=self.max_iter))
        return pipe.fit(x, y)

    def run(self, records: list[Record], record_root: bytes) -> bytes:
        """The result package (canonical JSON bytes) of training on ``records``."""
        pipe = self.fit(records)
        scaler, lr = pipe[0], pipe[-1]
        package = {
            "algo_hash": self.algo_hash.hex(),
            "record_root": record_root.hex(),
            "n_records": len(records),
            "classes": [int(c) for c in lr.classes_],
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scaler.scale_],
            "coef": [[float(v) for v in row] for row in lr.coef_],
            "intercept": [float(v) for v in lr.intercept_],
        }
        return canonical(package)


def predict(package: bytes | dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Predict with a result package (what the buyer holds; no scikit-learn object needed)."""
    p = json.loads(package) if isinstance(package, bytes) else package
    z = (np.asarray(x, dtype=float) - np.array(p["mean"])) / np.array(p["scale"])
    logits = z @ np.array(p["coef"]).T + np.array(p["intercept"])
    classes = np.array(p["classes"])
    if logits.shape[1] == 1:
        return np.asarray(classes[(logits[:, 0] > 0).astype(int)])
    return np.asarray(classes[np.argmax(logits, axis=1)])


def accuracy(package: bytes | dict[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(package, x) == np.asarray(y)))


SCORE_SCALE = 10_000  # scores are posted on chain as accuracy differences in basis points


def effective_records(contributions: list[list[Record]]) -> list[list[Record]]:
    """Each contributor's records whose row content no earlier record had (contributors in
    registration order, records in order): a copy of someone else's row earns nothing."""
    seen: set[bytes] = set()
    out = []
    for recs in contributions:
        mine = []
        for r in recs:
            c = r.content()
            if c not in seen:
                seen.add(c)
                mine.append(r)
        out.append(mine)
    return out


def leave_one_out(
    job: LogisticRegressionJob,
    contributions: list[list[Record]],
    held_out_x: np.ndarray,
    held_out_y: np.ndarray,
) -> list[int]:
    """Each contributor's score: held-out accuracy with everyone's (de-duplicated) records minus
    accuracy without theirs, in basis points. Duplicates of earlier rows count for nothing, so a
    copier scores 0; rows that mislead the model (noise, flipped labels) score below 0."""
    eff = effective_records(contributions)
    everyone = [r for recs in eff for r in recs]
    root = b"\x00" * 32

    def acc(rows: list[Record]) -> float:
        return accuracy(job.run(rows, root), held_out_x, held_out_y)

    full = acc(everyone)
    scores = []
    for i, mine in enumerate(eff):
        if not mine:
            scores.append(0)
            continue
        rest = [r for j, recs in enumerate(eff) if j != i for r in recs]
        scores.append(round((full - acc(rest)) * SCORE_SCALE))
    return scores
