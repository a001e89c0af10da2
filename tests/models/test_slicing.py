"""Model slicing (issue 18): cut at single-tensor layer boundaries, prove slices, chain them by hash."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from veilproof.artifacts.store import ArtifactStore
from veilproof.models.package import circuit_outputs
from veilproof.models.slicing import (
    SlicingError,
    build_sliced,
    choose_cuts,
    cut_candidates,
    links_hold,
    prove_pipeline,
    prove_stage,
    run_onnx,
    split_onnx,
)
from veilproof.zk.errors import ModelTooLargeError
from veilproof.zk.resources import estimate_prove_bytes
from veilproof.zk.settings import generate_settings


def _small_cnn(path: Path) -> tuple[Path, np.ndarray]:
    """A 'third-party' CNN shape we did not write the slicer for: four padded conv blocks and a head."""
    import torch

    torch.manual_seed(3)
    nn = torch.nn
    layers: list[Any] = [nn.Conv2d(1, 4, 3, padding=1), nn.ReLU()]
    for _ in range(3):
        layers += [nn.Conv2d(4, 4, 3, padding=1), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).eval()
    x = np.random.default_rng(3).normal(size=(8, 1, 4, 4)).astype(np.float32)
    torch.onnx.export(
        model, torch.tensor(x[:1]), str(path), input_names=["input"], output_names=["y"], opset_version=17
    )
    return path, x


def test_cut_candidates_and_split(mlp: Any, tmp_path: Path) -> None:
    onnx_path = mlp.example.onnx_path
    cands = cut_candidates(onnx_path)
    assert [i for i, _ in cands] == [1, 2]  # Gemm | Relu | Gemm: after each layer
    cuts = choose_cuts(onnx_path, 2)
    assert len(cuts) == 1
    paths = split_onnx(onnx_path, cuts, tmp_path)
    x = mlp.example.x_test[:5]
    np.testing.assert_allclose(
        run_onnx(paths[1], run_onnx(paths[0], x)), run_onnx(onnx_path, x), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(SlicingError, match="boundaries"):
        choose_cuts(onnx_path, 4)


@pytest.mark.slow
def test_sliced_mlp_matches_whole_and_links(mlp: Any, mlp_sliced: Any, mlp_sliced_proofs: Any) -> None:
    sliced = mlp_sliced
    assert len(sliced.packages) == 2
    assert [p.settings.output_visibility for p in sliced.packages] == ["Hashed", "Public"]
    x = mlp.example.x_test[0]
    proofs, out = mlp_sliced_proofs
    assert links_hold(proofs)
    whole = np.asarray(circuit_outputs(mlp.package, x))
    float_out = run_onnx(mlp.example.onnx_path, x[None])[0]
    err_whole = float(np.max(np.abs(out - whole)))
    err_float = float(np.max(np.abs(out - float_out)))
    print(f"\nsliced vs whole circuit max|d|={err_whole:.4f}, sliced vs float max|d|={err_float:.4f}")
    assert err_float < 0.05 and err_whole < 0.05
    # A stage-2 node that proves on another input (not what stage 1 produced) breaks the link.
    other, _ = prove_stage(sliced.packages[1], np.zeros(sliced.packages[1].input_shape, np.float32))
    assert not links_hold([proofs[0], other])
    # A stage-2 proof by the *whole* model's circuit (another model) does not link either.
    from veilproof.models import prove

    assert not links_hold([proofs[0], prove(mlp.package, x)])


@pytest.mark.slow
def test_third_party_cnn_auto_slices_to_fit(tmp_path: Path) -> None:
    onnx_path, x = _small_cnn(tmp_path / "cnn.onnx")
    cal = tmp_path / "cal.npy"
    np.save(cal, x)
    whole = generate_settings(onnx_path, tmp_path / "whole-settings.json", x).logrows
    # A machine that can prove one row-size less than the whole model needs.
    available = estimate_prove_bytes(whole - 1)
    store = ArtifactStore(tmp_path / "store")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ModelTooLargeError):
            build_sliced(onnx_path, cal, store, 1, available=available)
        sliced = build_sliced(onnx_path, cal, store, "auto", available=available)
    print(f"\nCNN whole 2^{whole} rows; auto: {len(sliced.packages)} slices at 2^{sliced.logrows}")
    assert len(sliced.packages) >= 2 and max(sliced.logrows) < whole
    proofs, out = prove_pipeline(sliced, x[0])
    assert links_hold(proofs)
    err = float(np.max(np.abs(out - run_onnx(onnx_path, x[:1])[0])))
    print(f"sliced CNN vs float max|d|={err:.4f}")
    assert err < 0.1
