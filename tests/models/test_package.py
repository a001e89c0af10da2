"""Model packages: caching, commitments, integrity, accuracy of the quantized circuit."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from veilproof.artifacts import ArtifactStore
from veilproof.models import ModelPackage, build_zk_package, circuit_outputs
from veilproof.zk.errors import ArtifactHashMismatchError
from veilproof.zk.srs import UnsafeSrsWarning

pytestmark = pytest.mark.slow


def test_second_build_is_cache_hit(mlp) -> None:  # type: ignore[no-untyped-def]
    ex, pkg = mlp.example, mlp.package
    with pytest.warns(UnsafeSrsWarning):
        again = build_zk_package(ex.onnx_path, ex.calibration_path, pkg.store, name=pkg.name)
    assert again.manifest_digest == pkg.manifest_digest


def test_manifest_and_commitments(mlp) -> None:  # type: ignore[no-untyped-def]
    pkg = mlp.package
    m = json.loads(pkg.store.get_bytes(pkg.manifest_digest))
    assert set(m["artifacts"]) == {"onnx", "calibration", "settings", "compiled", "vk", "pk", "srs", "vka"}
    assert m["logrows"] == pkg.settings.logrows <= 13
    assert m["input_shape"] == [1, 30]
    assert m["visibility"] == {"input": "hashed", "output": "public", "params": "fixed"}
    c = pkg.commitments()
    for k in ("onnx_hash", "zk_settings_hash", "zk_vk_hash", "zk_vka_hash", "zk_srs_hash"):
        assert len(c[k]) == 64 and pkg.store.has(c[k])


def test_tampered_artifact_detected(mlp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pkg = mlp.package
    root = tmp_path / "store"
    shutil.copytree(pkg.store.root, root)
    store = ArtifactStore(root)
    vk = store.path(pkg.artifacts["vk"])
    vk.chmod(0o644)
    data = bytearray(vk.read_bytes())
    data[100] ^= 1
    vk.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSrsWarning)
        with pytest.raises(ArtifactHashMismatchError):
            ModelPackage.load(store, pkg.manifest_digest)


def test_quantized_accuracy_close_to_float(logreg, mlp) -> None:  # type: ignore[no-untyped-def]
    for built in (logreg, mlp):
        ex = built.example
        preds = [int(np.argmax(circuit_outputs(built.package, x))) for x in ex.x_test[:60]]
        q_acc = float(np.mean(np.array(preds) == ex.y_test[:60]))
        from veilproof.models.examples import onnx_accuracy

        f_acc = onnx_accuracy(ex.onnx_path, ex.x_test[:60], ex.y_test[:60])
        assert abs(q_acc - f_acc) <= 0.02, (built.package.name, q_acc, f_acc)
