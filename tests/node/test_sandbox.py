"""Model packages carry data, never code: what :mod:`veilproof.artifacts.sandbox` refuses, and that a
real Concrete ML package passes (see docs/design.md, "What a node loads")."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from veilproof.artifacts.sandbox import UnsafeArtifact, check_blob, check_onnx, check_zip

ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 57
CONCRETE_SERVER = {  # what FHEModelDev(...).save() writes into server.zip (concrete-ml 1.9, via MLIR)
    "circuit.mlir": b"module { }",
    "is_simulated": b"0",
    "configuration.json": b"{}",
    "composition_rules.json": b"[]",
    "client.specs.json": b"{}",
    "versions.json": b"{}",
}


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_a_concrete_package_passes(tmp_path: Path) -> None:
    check_zip(_zip(tmp_path / "server.zip", CONCRETE_SERVER), "server.zip")


@pytest.mark.parametrize(
    "name,data,why",
    [
        ("sharedlib.so", ELF, "named like native"),
        ("lib/libevil.so.1", b"text", "named like native"),
        ("evil.dylib", b"x", "named like native"),
        ("hook.py", b"import os", "named like native or interpreted"),
        ("cache.pyc", b"\x00", "named like"),
        ("weights.bin", ELF, "ELF"),  # a benign name does not hide the bytes
        ("model.json", b"\xcf\xfa\xed\xfe" + b"\0" * 8, "Mach-O"),
        ("run", b"#!/bin/sh\nrm -rf /", "script"),
        ("../../etc/cron.d/x", b"data", "escapes"),
    ],
)
def test_executable_payloads_are_refused(tmp_path: Path, name: str, data: bytes, why: str) -> None:
    z = _zip(tmp_path / "server.zip", {**CONCRETE_SERVER, name: data})
    with pytest.raises(UnsafeArtifact, match=why):
        check_zip(z, "server.zip")


def test_a_library_in_a_nested_zip_is_refused(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("payload", ELF)
    outer = _zip(tmp_path / "client.zip", {"versions.json": b"{}", "client.zip": inner.getvalue()})
    with pytest.raises(UnsafeArtifact, match="ELF"):
        check_zip(outer, "client.zip")


def test_raw_artifacts_and_onnx(tmp_path: Path) -> None:
    (tmp_path / "pk").write_bytes(b"\x11\0\0\0" + b"\1" * 100)
    check_blob(tmp_path / "pk", "pk")
    (tmp_path / "lib").write_bytes(ELF)
    with pytest.raises(UnsafeArtifact, match="ELF"):
        check_blob(tmp_path / "lib", "compiled")
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [w],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), tmp_path / "ok.onnx")
    check_onnx(tmp_path / "ok.onnx", "onnx")
    t = graph.initializer[0]
    t.data_location = TensorProto.EXTERNAL
    t.ClearField("float_data")
    ext = t.external_data.add()
    ext.key, ext.value = "location", "../../../etc/passwd"
    onnx.save(helper.make_model(graph), tmp_path / "ext.onnx")
    with pytest.raises(UnsafeArtifact, match="external data"):
        check_onnx(tmp_path / "ext.onnx", "onnx")
