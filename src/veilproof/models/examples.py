"""Example models trained at build time on scikit-learn's bundled datasets (no downloads).

* ``breast_cancer_logreg`` — logistic regression (a torch Linear 30→2) on standardised features.
* ``breast_cancer_mlp``    — MLP 30→8→2 with ReLU: a health-risk classifier.
* ``digits_cnn``           — Conv(1→4, 3×3) → ReLU → AvgPool 2 → Linear(36→10) on 8×8 digits.

Everything is seeded, so two builds produce the same weights and ONNX bytes (same commitments).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from veilproof.models import datasets
from veilproof.models.datasets import SEED


@dataclass(frozen=True)
class ExampleModel:
    name: str
    onnx_path: Path
    calibration_path: Path  # .npy of training samples (calibration data for the circuit)
    x_test: np.ndarray
    y_test: np.ndarray
    float_accuracy: float


def _dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = datasets.load(name)
    return d.x_train, d.x_test, d.y_train, d.y_test


def _architecture(kind: str, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    nn = torch.nn
    if kind == "logreg":
        return nn.Sequential(nn.Linear(30, 2))
    if kind == "mlp":
        return nn.Sequential(nn.Linear(30, 8), nn.ReLU(), nn.Linear(8, 2))
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(36, 10))
    raise ValueError(f"unknown architecture {kind!r}")


_SPECS = {
    "breast_cancer_logreg": ("breast_cancer", "logreg", 300),
    "breast_cancer_mlp": ("breast_cancer", "mlp", 300),
    "digits_cnn": ("digits", "cnn", 400),
}

EXAMPLES = tuple(_SPECS)


def train(
    name: str, seed: int = SEED
) -> tuple[torch.nn.Module, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Full-batch Adam training (deterministic on CPU); returns (model, xtr, xte, ytr, yte)."""
    ds, kind, epochs = _SPECS[name]
    xtr, xte, ytr, yte = _dataset(ds)
    torch.use_deterministic_algorithms(True)
    model = _architecture(kind, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.tensor(xtr), torch.tensor(ytr, dtype=torch.long)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    return model, xtr, xte, ytr, yte


def export_onnx(model: torch.nn.Module, sample: np.ndarray, path: Path) -> Path:
    torch.onnx.export(
        model,
        torch.tensor(sample[:1]),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        opset_version=17,
        do_constant_folding=True,
    )
    return path


def build_example(
    name: str, out_dir: str | Path, seed: int = SEED, n_calibration: int = 32, reuse: bool = True
) -> ExampleModel:
    """Train ``name``, export ONNX + calibration .npy into ``out_dir`` (seed != 0 gives other weights).

    With ``reuse`` an earlier export in ``out_dir`` is kept (training is deterministic anyway), so
    test sessions and benchmarks share one build.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if seed == SEED else f"-seed{seed}"
    onnx_path = out / f"{name}{suffix}.onnx"
    cal = out / f"{name}{suffix}-calibration.npy"
    if reuse and onnx_path.is_file() and cal.is_file():
        ds = _SPECS[name][0]
        xtr, xte, _, yte = _dataset(ds)
        return ExampleModel(name, onnx_path, cal, xte, yte, onnx_accuracy(onnx_path, xte, yte))
    model, xtr, xte, _, yte = train(name, seed)
    export_onnx(model, xtr, onnx_path)
    np.save(cal, xtr[:n_calibration])
    with torch.no_grad():
        acc = float((model(torch.tensor(xte)).argmax(1).numpy() == yte).mean())
    return ExampleModel(name, onnx_path, cal, xte, yte, acc)


def onnx_accuracy(onnx_path: Path, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the exported ONNX under onnxruntime (the float reference the circuit approximates)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    preds = [int(np.argmax(sess.run(None, {name: xi[None]})[0])) for xi in x]
    return float((np.array(preds) == y).mean())
