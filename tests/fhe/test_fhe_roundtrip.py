"""encrypt -> (isolated) server run -> decrypt equals Concrete ML's quantized clear prediction."""

from __future__ import annotations

import numpy as np
import pytest

#: FHE rows evaluated per kind in the agreement test (logreg is fast enough for the whole split).
FHE_SUBSET = {"logreg": None, "xgb": 5, "nn": 5}

KINDS = ["logreg", pytest.param("xgb", marks=pytest.mark.slow), pytest.param("nn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("kind", KINDS)
def test_roundtrip_equals_quantized_clear(fhe_world, kind: str) -> None:
    c = fhe_world.client(kind)
    _, out = fhe_world.job(kind, 0)
    got = c.decrypt(out)
    want = fhe_world.clear_proba(kind, fhe_world.data.x_test[:1])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    assert c.decrypt_label(out) == int(np.argmax(want))


@pytest.mark.parametrize("kind", KINDS)
def test_fhe_agreement_with_quantized_clear(fhe_world, kind: str) -> None:
    """FHE labels vs quantized-clear labels on the test split (a prefix subset for slow kinds)."""
    data = fhe_world.data
    n = FHE_SUBSET[kind] or len(data.y_test)
    c = fhe_world.client(kind)
    fhe_labels = np.array([c.decrypt_label(fhe_world.job(kind, i)[1]) for i in range(n)])
    clear_labels = fhe_world.clear_proba(kind, data.x_test[:n]).argmax(axis=1)
    agreement = float((fhe_labels == clear_labels).mean())
    assert agreement == 1.0, f"{kind}: FHE vs quantized clear agreement {agreement:.3f} on {n} rows"
    if n == len(data.y_test):
        fhe_acc = float((fhe_labels == data.y_test).mean())
        assert fhe_acc >= fhe_world.bundle(kind).accuracy.float_accuracy - 0.01
