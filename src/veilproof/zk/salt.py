"""Client salt in the hashed input: hiding, per-job ZK input commitments.

Why: with EZKL's "hashed" input visibility the job's commitment is ``poseidon(input)``. Without
randomness equal inputs give equal commitments, so a node proves once and is paid for every job on
that input (replay), anyone can recover a low-entropy input by hashing candidates, and repeated queries
are linkable (tests/zk/test_input_salt.py plays all three).

How: a salted package compiles a wrapped ONNX whose single input is the flat model input followed by
``k`` salt columns; a ``Slice`` named :data:`SALT_NODE` keeps the first ``n`` columns and a ``Reshape``
restores the model's input shape, so the salt reaches no operation but is part of the hashed input.
EZKL still commits one felt, ``poseidon(x ‖ r)``: ``instances = [commitment, outputs...]`` keeps its
layout and JobMarket's ``instances[0] == input_commitment`` check makes every proof per job.

Each salt element is a uniform integer below ``2**SALT_BITS`` sent as ``r / 2**input_scale``: EZKL
quantises inputs as f32 at the input scale, and such values are exact in f32, so the felt is exactly
``r``. With the defaults, 8 elements carry 128 bits. Measured on the 30-feature MLP (EZKL 23, logrows
11): 1232 -> 1560 rows, logrows unchanged, outputs identical to the unsalted circuit.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from veilproof.zk.errors import CalibrationShapeError

SALT_NODE = "veilproof_salt"  # the Slice that drops the salt; its presence marks a salted circuit
SALT_ELEMENTS = 8
SALT_BITS = 16


def _single_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise CalibrationShapeError((), (len(inputs),))
    return inputs[0]


def wrap_onnx(src: str | os.PathLike[str], dst: str | os.PathLike[str], k: int = SALT_ELEMENTS) -> None:
    """Write ``src`` with a flat ``(1, n + k)`` input whose last ``k`` columns (the salt) feed nothing."""
    if k <= 0:
        raise ValueError(f"salt elements: expected a positive count, got {k}")
    model = onnx.load(str(src))
    g = model.graph
    if any(node.name == SALT_NODE for node in g.node):
        raise ValueError(f"{src}: already salted")
    inp = _single_input(model)
    dims = [int(d.dim_value) if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]
    n = int(np.prod(dims[1:]))
    salted = helper.make_tensor_value_info("veilproof_salted_input", TensorProto.FLOAT, [1, n + k])
    consts = {
        "veilproof_salt_starts": np.array([0], dtype=np.int64),
        "veilproof_salt_ends": np.array([n], dtype=np.int64),
        "veilproof_salt_axes": np.array([1], dtype=np.int64),
        "veilproof_model_shape": np.array([1, *dims[1:]], dtype=np.int64),
    }
    g.initializer.extend(numpy_helper.from_array(v, name) for name, v in consts.items())
    nodes = [
        helper.make_node(
            "Slice",
            [salted.name, "veilproof_salt_starts", "veilproof_salt_ends", "veilproof_salt_axes"],
            ["veilproof_model_flat"],
            name=SALT_NODE,
        ),
        helper.make_node("Reshape", ["veilproof_model_flat", "veilproof_model_shape"], [inp.name]),
    ]
    for i, node in enumerate(nodes):
        g.node.insert(i, node)
    g.input.remove(inp)
    g.input.insert(0, salted)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def salt_layout(onnx_path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(n, k)``: the model's input size and the number of salt elements (0: an unsalted circuit)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    inp = _single_input(model)
    width = int(np.prod([int(d.dim_value) if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]))
    for node in model.graph.node:
        if node.name == SALT_NODE and node.op_type == "Slice" and node.input[0] == inp.name:
            ends = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}[node.input[2]]
            n = int(ends[0])
            return n, width - n
    return width, 0


def new_salt(k: int, input_scale: int) -> np.ndarray:
    """``k`` fresh salt elements (float32, each exactly ``r / 2**input_scale`` with ``r < 2**SALT_BITS``)."""
    r = [secrets.randbelow(2**SALT_BITS) for _ in range(k)]
    return (np.asarray(r, dtype=np.float64) / float(2**input_scale)).astype(np.float32)


def salted_input(x: np.ndarray, salt: np.ndarray) -> np.ndarray:
    """The circuit's input: the flat model input followed by the salt, shape ``(1, n + k)``."""
    flat = np.asarray(x, dtype=np.float32).reshape(-1)
    return np.concatenate([flat, np.asarray(salt, dtype=np.float32).reshape(-1)])[None, :]


def salt_calibration(calibration: np.ndarray, k: int, input_scale: int, seed: int = 0) -> np.ndarray:
    """Calibration samples with salt columns spanning the salt's full range (deterministic, so a
    package build stays reproducible)."""
    rng = np.random.default_rng(seed)
    flat = np.asarray(calibration, dtype=np.float32).reshape(len(calibration), -1)
    r = rng.integers(0, 2**SALT_BITS, size=(len(flat), k))
    r[0, :] = 2**SALT_BITS - 1  # the extremes are in range too
    r[-1, :] = 0
    return np.concatenate([flat, (r / float(2**input_scale)).astype(np.float32)], axis=1)


def save_npy(arr: np.ndarray, path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    np.save(p, arr)
    return p
