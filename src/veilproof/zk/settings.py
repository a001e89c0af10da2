"""Circuit settings: generate, calibrate and read EZKL's settings.json.

Visibility is fixed by design: the input is **hashed** (Poseidon; the client commits to it before a
job opens without revealing it on chain), the output is **public** (the chain pays for it), the
parameters are **fixed** (weights become fixed columns, so the verifying key itself commits to the
weights — a node swapping models cannot produce a proof that verifies under the published vk).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from veilproof.zk import _ezkl
from veilproof.zk.errors import CalibrationShapeError

#: Decomposition used for range checks. EZKL's default base 2^14 forces logrows >= 15 even for tiny
#: models; base 2^10 with 3 legs covers the same ±2^30 range at logrows 11 (16x smaller pk).
DECOMP_BASE = 1024
DECOMP_LEGS = 3
DEFAULT_SCALE = 10


@dataclass(frozen=True)
class CircuitSettings:
    """The fields of settings.json the rest of veilproof needs."""

    path: Path
    logrows: int
    num_rows: int
    input_scale: int
    param_scale: int
    output_scales: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    input_visibility: str
    output_visibility: str
    param_visibility: str

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CircuitSettings:
        s = json.loads(Path(path).read_text())
        ra = s["run_args"]

        def vis(v: str | dict[str, Any]) -> str:
            return v if isinstance(v, str) else next(iter(v))  # {"Hashed": {...}} -> "Hashed"

        return cls(
            path=Path(path),
            logrows=int(ra["logrows"]),
            num_rows=int(s["num_rows"]),
            input_scale=int(ra["input_scale"]),
            param_scale=int(ra["param_scale"]),
            output_scales=tuple(int(x) for x in s["model_output_scales"]),
            output_shapes=tuple(tuple(int(d) for d in sh) for sh in s["model_instance_shapes"]),
            input_visibility=vis(ra["input_visibility"]),
            output_visibility=vis(ra["output_visibility"]),
            param_visibility=vis(ra["param_visibility"]),
        )

    @property
    def num_outputs(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.output_shapes))


def onnx_input_shape(onnx_path: str | os.PathLike[str]) -> tuple[int, ...]:
    """Shape of the model's single input, batch axis included (symbolic dims read as 1)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise CalibrationShapeError((), (len(inputs),))
    dims = inputs[0].type.tensor_type.shape.dim
    return tuple(int(d.dim_value) if d.dim_value > 0 else 1 for d in dims)


def check_input_shape(onnx_path: str | os.PathLike[str], data: np.ndarray) -> np.ndarray:
    """Return ``data`` as float32 (n, *input_shape[1:]); raise CalibrationShapeError otherwise.

    A single sample without its batch axis is accepted too.
    """
    shape = onnx_input_shape(onnx_path)
    per_sample = shape[1:]
    arr = np.asarray(data, dtype=np.float32)
    if arr.shape == per_sample:
        arr = arr[None, ...]
    if arr.ndim != len(shape) or arr.shape[1:] != per_sample or arr.shape[0] < 1:
        raise CalibrationShapeError(shape, tuple(arr.shape))
    if not np.all(np.isfinite(arr)):
        raise CalibrationShapeError(shape, tuple(arr.shape))
    return arr


def write_input_json(data: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """EZKL's input format: ``{"input_data": [flat list]}`` (samples concatenated on the batch axis)."""
    p = Path(path)
    p.write_text(json.dumps({"input_data": [np.asarray(data, dtype=np.float64).reshape(-1).tolist()]}))
    return p


def generate_settings(
    onnx_path: str | os.PathLike[str],
    settings_path: str | os.PathLike[str],
    calibration: np.ndarray,
    *,
    scale: int = DEFAULT_SCALE,
    workdir: str | os.PathLike[str] | None = None,
    output_visibility: str = "public",
) -> CircuitSettings:
    """gen_settings (hashed/public/fixed) then calibrate against ``calibration`` samples.

    ``output_visibility="hashed"`` is for a pipeline stage / model slice that is not the last one: its
    output stays private and the proof exposes only its Poseidon hash, which is the next stage's
    (hashed) input commitment, so the chain can link stages without seeing intermediate values.

    Calibration picks logrows and lookup ranges so that every calibration sample fits the circuit;
    inputs far outside that range later fail witness generation, so calibrate on real data.
    """
    data = check_input_shape(onnx_path, calibration)
    ra = _ezkl.run_args()
    ra.input_visibility = "hashed"
    if output_visibility not in ("public", "hashed"):
        raise ValueError(f"output_visibility: expected 'public' or 'hashed', got {output_visibility!r}")
    ra.output_visibility = output_visibility
    ra.param_visibility = "fixed"
    ra.decomp_base = DECOMP_BASE
    ra.decomp_legs = DECOMP_LEGS
    settings_path = Path(settings_path)
    _ezkl.call("gen_settings", _ezkl.ezkl.gen_settings, str(onnx_path), str(settings_path), py_run_args=ra)
    wd = Path(workdir) if workdir else settings_path.parent
    cal_json = write_input_json(data, wd / "calibration.json")
    _ezkl.call(
        "calibrate_settings",
        _ezkl.ezkl.calibrate_settings,
        str(cal_json),
        str(onnx_path),
        str(settings_path),
        "resources",
        scales=[scale],
        # A hashed output is the next stage's hashed input, hashed at the *input* scale: force EZKL
        # to rebase every product back to the input scale (multiplier 1), else a Gemm's output stays
        # at scale 2x and its Poseidon hash can never equal the next stage's input commitment.
        **({"scale_rebase_multiplier": [1]} if output_visibility == "hashed" else {}),
    )
    return CircuitSettings.load(settings_path)
