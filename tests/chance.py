"""Bounds for tests whose outcome depends on chance: such a test fails only above a threshold whose
false-failure probability is computed, never by luck of the draw."""

from __future__ import annotations

import math

#: Largest false-failure probability any chance-based assertion of the suite may have.
MAX_FALSE_FAILURE = 1e-9


def binomial_tail(n: int, p: float, k: int) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


def chance_threshold(n: int, p: float, alpha: float = MAX_FALSE_FAILURE) -> int:
    """Smallest k with P(Binomial(n, p) >= k) < alpha: at least k hits out of n is not chance.

    Raises if even n hits out of n could be chance at that level (the test would be unable to tell).
    """
    for k in range(n + 1):
        if binomial_tail(n, p, k) < alpha:
            return k
    raise ValueError(f"{n} trials at p={p} cannot reach a false-failure probability below {alpha}")


def assert_wrong_key_garbage(right: object, wrong: object, bit_width: int) -> None:
    """Integers decrypted under a wrong key are unrelated to the right ones.

    With a wrong secret key s', an LWE phase b - <a, s'> = <a, s - s'> + Δm + e is uniform (a is), so
    each decrypted integer is uniform over a decoding space of at least 2^w values for a w-bit output
    (observed: 2^(w+1), the padding bit included) and equals the right one with p <= 2^-w, independently
    per integer and per key. Fails only if at least ``chance_threshold(n, p)`` of the n integers are
    equal: false-failure probability < MAX_FALSE_FAILURE; a key that decrypts makes all n equal.
    """
    import numpy as np

    r, w = np.asarray(right).ravel(), np.asarray(wrong).ravel()
    assert r.shape == w.shape and r.size > 0
    k = chance_threshold(r.size, 2.0**-bit_width)
    equal = int(np.sum(r == w))
    assert equal < k, f"{equal} of {r.size} integers equal under a wrong key (chance allows < {k})"
