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


SCORE_SCALE = 10_000  # scores are posted on chain in basis points of held-out log-loss


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


def log_loss(package: bytes | dict[str, Any], x: np.ndarray, y: np.ndarray) -> float:
    """Mean held-out negative log-likelihood of a binary package (lower is better)."""
    p = json.loads(package) if isinstance(package, bytes) else package
    z = (np.asarray(x, dtype=float) - np.array(p["mean"])) / np.array(p["scale"])
    logit = z @ np.array(p["coef"])[0] + p["intercept"][0]
    prob = np.clip(1 / (1 + np.exp(-logit)), 1e-12, 1 - 1e-12)
    positive = np.asarray(y) == p["classes"][1]
    return float(-np.mean(np.where(positive, np.log(prob), np.log(1 - prob))))


EXACT_MAX = 8  # up to 2^8 = 256 fits; above that, truncated Monte-Carlo over permutations


def shapley_scores(
    job: LogisticRegressionJob,
    contributions: list[list[Record]],
    held_out_x: np.ndarray,
    held_out_y: np.ndarray,
    permutations: int = 64,
    seed: int = 0,
    exact_max: int = EXACT_MAX,
) -> list[int]:
    """Each contributor's Shapley value over contributors, in basis points of held-out log-loss
    (utility of a coalition = ln 2 - log-loss of a model trained on its rows; no rows, or one class
    only, is worth 0, a coin's ln 2).

    Why Shapley and log-loss, not leave-one-out accuracy: with redundant honest contributors,
    removing any one of them barely moves accuracy, and on a 142-row held-out set one row is 70 bp,
    so leave-one-out gave honest contributors negative scores (measured: -141, -70, 0 on the demo's
    3 x 50 rows); Shapley averages each one's marginal value over every coalition and log-loss moves
    continuously, giving 2132, 1855, 2131. Rows already registered by someone else are removed first
    (:func:`effective_records`), so a copier adds nothing to any coalition and scores exactly 0;
    rows that mislead the model (flipped labels) score below 0. Exact for up to 8 contributors;
    above, truncated Monte-Carlo over ``permutations`` seeded permutations (deterministic)."""
    import math

    eff = effective_records(contributions)
    n = len(eff)
    cache: dict[frozenset[int], float] = {}

    def utility(coalition: frozenset[int]) -> float:
        if coalition not in cache:
            rows = [r for i in sorted(coalition) for r in eff[i]]
            if len({r.label for r in rows}) < 2:
                cache[coalition] = 0.0
            else:
                cache[coalition] = math.log(2) - log_loss(job.run(rows, b"\x00" * 32), held_out_x, held_out_y)
        return cache[coalition]

    values = [0.0] * n
    if n <= exact_max:
        from itertools import combinations

        for i in range(n):
            others = [j for j in range(n) if j != i]
            for k in range(n):
                w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                for c in combinations(others, k):
                    s = frozenset(c)
                    values[i] += w * (utility(s | {i}) - utility(s))
    else:
        rng = np.random.default_rng(seed)
        full = utility(frozenset(range(n)))
        for _ in range(permutations):
            grown: frozenset[int] = frozenset()
            prev = 0.0
            for i in rng.permutation(n):
                if abs(full - prev) < 1e-4:  # truncation: the rest add ~nothing
                    break
                grown = grown | {int(i)}
                cur = utility(grown)
                values[int(i)] += (cur - prev) / permutations
                prev = cur
    return [0 if not eff[i] else round(v * SCORE_SCALE) for i, v in enumerate(values)]
