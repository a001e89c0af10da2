"""Contribution of each client to a round, measured on the public validation set.

The score paid by: ``max(0, L(global) - L(update))`` in parts per million, where L is the validation log
loss: what the client's own update, applied alone, improves on the model it was sent. It is the first
marginal of every permutation in (truncated Monte-Carlo) Shapley and equals Shapley when the game is
additive. A free-rider that returns the global model scores exactly 0; an update that makes the model worse
(poison, noise) scores 0. Leave-one-out under the trimmed mean is computed too and reported, but not paid
by: removing one update changes which values the trimmed mean cuts, so a free-rider's LOO can be positive
(it dilutes a poisoner) and an honest client's negative.
"""

from __future__ import annotations

from veilproof.fl.commit import aggregate
from veilproof.fl.model import Arrays, load_split, log_loss

PPM = 1_000_000


def scores(global_arrays: Arrays, updates: list[Arrays], seed: int = 7) -> list[int]:
    s = load_split(seed)
    base = log_loss(global_arrays, s.x_val, s.y_val)
    return [max(0, round((base - log_loss(u, s.x_val, s.y_val)) * PPM)) for u in updates]


def leave_one_out(updates: list[Arrays], seed: int = 7) -> list[float]:
    s = load_split(seed)
    full = log_loss(aggregate(updates), s.x_val, s.y_val)
    out = []
    for i in range(len(updates)):
        rest = updates[:i] + updates[i + 1 :]
        out.append(log_loss(aggregate(rest), s.x_val, s.y_val) - full if rest else 0.0)
    return out
