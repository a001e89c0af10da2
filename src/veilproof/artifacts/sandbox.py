"""Refuse model artifacts that carry native code or other executable payloads.

The trust boundary (see docs/design.md, "What a node loads"): a model's artifacts are committed on
chain by their sha256, so a node or validator knows the bytes are the ones the model's owner
published, not that they are harmless. Nodes and validators load them automatically: an FHE
``server.zip`` is opened by Concrete, whose ``Server.load`` would ``dlopen`` a precompiled
``sharedlib.so`` if the zip carried one (a package saved without ``via_mlir``): arbitrary native
code from whoever published the model, run inside every node that serves it. Veilproof's packages
carry circuits as data only (MLIR text that Concrete compiles locally, EZKL's serialized circuit,
ONNX graphs), so anything that looks like executable code is refused before it is loaded:

* zip members named like native libraries, Python code or scripts (``.so``, ``.so.N``, ``.dylib``,
  ``.dll``, ``.pyd``, ``.py``, ``.pyc``, ``.sh``, ``.exe``…), or whose bytes start with an ELF,
  Mach-O or PE header or a ``#!`` line; symlinks, absolute paths and ``..`` in member names; nested
  zips are checked the same way; a zip that inflates beyond a bound (a zip bomb) is refused;
* any other artifact whose bytes start with an ELF or Mach-O header;
* an ONNX graph that points at external data files (a path the loader would read from disk).
"""

from __future__ import annotations

import io
import re
import stat
import zipfile
from pathlib import Path

from veilproof.errors import ArtifactError


class UnsafeArtifact(ArtifactError):
    """An artifact carries an executable payload (native library, code, script) and is not loaded."""


_NATIVE_MAGIC = {
    b"\x7fELF": "an ELF binary (Linux shared library or executable)",
    b"\xfe\xed\xfa\xce": "a Mach-O binary",
    b"\xfe\xed\xfa\xcf": "a Mach-O binary",
    b"\xce\xfa\xed\xfe": "a Mach-O binary",
    b"\xcf\xfa\xed\xfe": "a Mach-O binary",
    b"\xca\xfe\xba\xbe": "a Mach-O universal binary",
}
# In zip members (the packages hold JSON and MLIR text) these are refused too.
_MEMBER_MAGIC = {**_NATIVE_MAGIC, b"MZ": "a Windows PE binary", b"#!": "a script"}
_CODE_NAME = re.compile(
    r"\.(so(\.\d+)*|dylib|dll|pyd|py|pyc|pyo|pyw|sh|bash|exe|bat|cmd|ps1|jar|class|node|wasm)$", re.I
)
MAX_INFLATED_BYTES = 4 * 1024**3
_MAX_DEPTH = 3


def _magic(head: bytes, table: dict[bytes, str]) -> str | None:
    for m, what in table.items():
        if head.startswith(m):
            return what
    return None


def check_zip(path: str | Path, what: str) -> None:
    """Raise :class:`UnsafeArtifact` if the zip at ``path`` carries an executable payload."""
    try:
        with zipfile.ZipFile(path) as z:
            _check_zip(z, what, 0)
    except zipfile.BadZipFile as e:
        raise UnsafeArtifact(f"{what}: not a readable zip ({e})") from e


def _check_zip(z: zipfile.ZipFile, what: str, depth: int) -> None:
    total = 0
    for info in z.infolist():
        name = info.filename
        where = f"{what}: member {name!r}"
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", name):
            raise UnsafeArtifact(f"{where} escapes the package directory")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArtifact(f"{where} is a symlink")
        if info.is_dir():
            continue
        if _CODE_NAME.search(name):
            raise UnsafeArtifact(
                f"{where} is named like native or interpreted code; packages carry data only"
            )
        total += info.file_size
        if total > MAX_INFLATED_BYTES:
            raise UnsafeArtifact(f"{what}: inflates beyond {MAX_INFLATED_BYTES} bytes")
        with z.open(info) as f:
            head = f.read(4)
        kind = _magic(head, _MEMBER_MAGIC)
        if kind:
            raise UnsafeArtifact(f"{where} is {kind}; packages carry data only")
        if head.startswith(b"PK\x03\x04"):
            if depth >= _MAX_DEPTH:
                raise UnsafeArtifact(f"{where}: zips nested deeper than {_MAX_DEPTH}")
            with zipfile.ZipFile(io.BytesIO(z.read(info))) as inner:
                _check_zip(inner, f"{where}", depth + 1)


def check_blob(path: str | Path, what: str) -> None:
    """Raise :class:`UnsafeArtifact` if a non-zip artifact is a native binary (or a zip carrying one)."""
    with open(path, "rb") as f:
        head = f.read(4)
    kind = _magic(head, _NATIVE_MAGIC)
    if kind:
        raise UnsafeArtifact(f"{what} is {kind}")
    if head.startswith(b"PK\x03\x04"):
        check_zip(path, what)


def check_onnx(path: str | Path, what: str) -> None:
    """An ONNX graph must hold its weights: tensors that name external data files are refused."""
    check_blob(path, what)
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise UnsafeArtifact(f"{what}: not a readable ONNX model ({type(e).__name__})") from e
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for t in tensors:
        if t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) > 0:
            raise UnsafeArtifact(f"{what}: tensor {t.name!r} points at external data; weights must be inline")
