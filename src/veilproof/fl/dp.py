"""Optional differential privacy with client-side clipping (Flower's DP primitives, made checkable).

Flower's ready-made pieces do not fit signed, re-aggregatable rounds as they are: ``fixedclipping_mod`` clips
the reply *after* the ClientApp returns, so the update the server gets is not the one the client signed, and
``DifferentialPrivacyClientSideFixedClipping`` draws its Gaussian noise from an unseeded global RNG, so nobody
could re-aggregate a round to the posted hash. The same math from ``flwr.common.differential_privacy`` is used
here instead: the client clips its update to ``clipping_norm`` (``compute_clip_model_update``) *before*
signing it, and the server adds noise of std ``noise_multiplier * clipping_norm / n`` (``compute_stdv``,
``add_gaussian_noise_inplace``) from an RNG seeded by the round's updates root: unpredictable to a client
before the round (it depends on everyone's updates), reproducible by anyone afterwards.
"""

from __future__ import annotations

import numpy as np
from flwr.common.differential_privacy import (
    add_gaussian_noise_inplace,
    compute_clip_model_update,
    compute_stdv,
)

from veilproof.fl.model import Arrays


def clip_update(new: Arrays, g: Arrays, clipping_norm: float) -> Arrays:
    """``new`` with its update ``new - g`` scaled down to L2 norm <= ``clipping_norm`` (Flower's FlatClip)."""
    if update_norm(new, g) <= clipping_norm:
        return new  # within bounds (and Flower's clip divides by the norm: a free-rider's 0 would raise)
    keys = sorted(new)
    p1 = [np.array(new[k], dtype=np.float64) for k in keys]
    compute_clip_model_update(p1, [g[k] for k in keys], clipping_norm)
    return dict(zip(keys, p1, strict=True))


def update_norm(new: Arrays, g: Arrays) -> float:
    return float(np.sqrt(sum(float(((new[k] - g[k]) ** 2).sum()) for k in g)))


def add_noise(agg: Arrays, noise_multiplier: float, clipping_norm: float, n: int, seed: bytes) -> Arrays:
    """The aggregate plus Gaussian noise of Flower's client-side-clipping std, drawn from ``seed``."""
    keys = sorted(agg)
    arrays = [np.array(agg[k], dtype=np.float64) for k in keys]
    state = np.random.get_state()  # Flower draws from the global RNG: seed it, then put it back
    try:
        np.random.seed(int.from_bytes(seed[:4], "big"))
        add_gaussian_noise_inplace(arrays, compute_stdv(noise_multiplier, clipping_norm, n))
    finally:
        np.random.set_state(state)
    return dict(zip(keys, arrays, strict=True))
