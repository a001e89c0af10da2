"""The FHE form of an owner's ONNX model (``veilproof model build --fhe``): what Concrete ML refuses is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from veilproof.artifacts import ArtifactStore
from veilproof.fhe.bundle import build_from_onnx
from veilproof.fhe.errors import FheError


def test_a_circuit_concrete_refuses_is_one_line_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veilproof.models.examples import build_example

    monkeypatch.chdir(tmp_path)  # the user's folder: Concrete's debug dump (.artifacts/) must not land here

    ex = build_example("breast_cancer_mlp", tmp_path / "ex")
    store = ArtifactStore(tmp_path / "store")
    with pytest.raises(FheError) as e:  # 8 bits: a 17-bit accumulator feeds the ReLU's table lookup
        build_from_onnx(ex.onnx_path, np.load(ex.calibration_path), store, n_bits=8)
    msg = str(e.value)
    assert "\n" not in msg and "only up to 16-bit table lookups" in msg and "try fewer --bits" in msg
    assert not (tmp_path / ".artifacts").exists()
