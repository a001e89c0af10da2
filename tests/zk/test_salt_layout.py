"""The salt wrapper (veilproof.zk.salt) on a tiny ONNX graph: fast checks of what the slow proving
tests in test_input_salt.py rely on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from veilproof.zk.salt import (
    SALT_BITS,
    SALT_ELEMENTS,
    new_salt,
    salt_calibration,
    salt_layout,
    salted_input,
    wrap_onnx,
)


def _relu(path: Path, shape: list[int]) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("shape", [[1, 30], [1, 1, 4, 4]])
def test_wrapped_model_ignores_the_salt(tmp_path: Path, shape: list[int]) -> None:
    src = _relu(tmp_path / "m.onnx", shape)
    n = int(np.prod(shape[1:]))
    assert salt_layout(src) == (n, 0)
    wrap_onnx(src, tmp_path / "s.onnx")
    assert salt_layout(tmp_path / "s.onnx") == (n, SALT_ELEMENTS)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    sess = ort.InferenceSession(str(tmp_path / "s.onnx"), providers=["CPUExecutionProvider"])
    for salt in (np.zeros(SALT_ELEMENTS), new_salt(SALT_ELEMENTS, 10)):
        (y,) = sess.run(None, {sess.get_inputs()[0].name: salted_input(x, salt)})
        assert y.shape == tuple(shape) and np.array_equal(y, np.maximum(x, 0))
    with pytest.raises(ValueError, match="already salted"):
        wrap_onnx(tmp_path / "s.onnx", tmp_path / "s2.onnx")


def test_salt_values_are_exact_integers_at_the_input_scale() -> None:
    for scale in (7, 10, 13):
        s = new_salt(SALT_ELEMENTS, scale)
        r = s.astype(np.float64) * 2**scale
        assert (
            s.dtype == np.float32
            and np.array_equal(r, np.round(r))
            and r.min() >= 0
            and r.max() < 2**SALT_BITS
        )
    assert not np.array_equal(new_salt(SALT_ELEMENTS, 10), new_salt(SALT_ELEMENTS, 10))  # P(equal) = 2^-128
    cal = salt_calibration(np.ones((4, 30)), SALT_ELEMENTS, 10)
    assert cal.shape == (4, 38) and cal[:, 30:].max() == (2**SALT_BITS - 1) / 2**10 and cal[:, 30:].min() == 0
    assert np.array_equal(cal, salt_calibration(np.ones((4, 30)), SALT_ELEMENTS, 10))  # reproducible builds
