"""Compile the Vyper sources in ``contracts/`` (shipped as ``veilproof/contracts_src``) into ABI + bytecode.

Why a cache: compiling a contract costs about a second, and every test, node and CLI call deploys
or loads the same handful of contracts. Output is keyed by the sha256 of the source (and of every
file in ``contracts/``, since contracts import interfaces and modules, and of the installed snekmate
version), so an edit or an upgrade always recompiles.

Imports resolve against the contract's own folder, then the folder holding the installed ``snekmate``
package (``from snekmate.auth import ownable``: audited Vyper modules, pinned in pyproject.toml).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from veilproof.errors import ConfigError

VYPER_EVM_VERSION = "cancun"


def contracts_dir() -> Path:
    """Where the Vyper sources live: ``$VEILPROOF_CONTRACTS``, else the package's ``contracts_src``.

    ``veilproof/contracts_src`` is a symlink to the checkout's ``contracts/`` (one copy of the sources);
    building a wheel follows it, so an installed package carries the sources as package data and can
    compile and deploy outside the repo. Resolved, so a checkout's paths read ``contracts/...``.
    """
    env = os.environ.get("VEILPROOF_CONTRACTS")
    if env:
        return Path(env)
    bundled = Path(__file__).resolve().parent.parent / "contracts_src"
    if bundled.is_dir() and any(bundled.glob("*.vy")):
        return bundled.resolve()
    raise ConfigError(
        f"contract sources not found in {bundled}: reinstall veilproof, or set VEILPROOF_CONTRACTS "
        "to the folder of the Vyper sources"
    )


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "veilproof" / "vyper"
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class CompiledContract:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed init code

    @property
    def size(self) -> int:
        return (len(self.bytecode) - 2) // 2


@lru_cache(maxsize=1)
def snekmate_root() -> Path | None:
    """The folder that holds the installed ``snekmate`` package (a Vyper search path), or None."""
    spec = importlib.util.find_spec("snekmate")
    if spec is None:
        return None
    for loc in spec.submodule_search_locations or []:  # a namespace package: no __init__.py
        if (Path(loc) / "auth" / "ownable.vy").is_file():
            return Path(loc).parent
    return None


def _search_paths(folder: Path) -> list[Path]:
    root = snekmate_root()
    return [folder] if root is None else [folder, root]


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    import vyper

    h.update(vyper.__version__.encode())
    if snekmate_root() is not None:
        h.update(b"snekmate " + importlib.metadata.version("snekmate").encode())
    for p in sorted(folder.rglob("*.vy*")):
        h.update(str(p.relative_to(folder)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


@lru_cache(maxsize=64)
def _compile_cached(path_str: str, tree_digest: str) -> CompiledContract:
    path = Path(path_str)
    cache_file = _cache_dir() / f"{path.stem}-{tree_digest[:24]}.json"
    if cache_file.exists():
        data = json.loads(cache_file.read_text())
        return CompiledContract(path.stem, data["abi"], data["bytecode"])
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.compiler.settings import Settings
    from vyper.exceptions import ModuleNotFound

    try:
        out = vyper.compile_code(
            path.read_text(),
            contract_path=path.name,
            resolved_path=path,
            input_bundle=FilesystemInputBundle(_search_paths(path.parent)),
            output_formats=["abi", "bytecode"],
            settings=Settings(evm_version=VYPER_EVM_VERSION),
        )
    except ModuleNotFound as e:
        if "snekmate" in str(e) and snekmate_root() is None:
            raise ConfigError("snekmate is not installed: pip install -c constraints.txt -e .") from e
        raise
    tmp = cache_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"abi": out["abi"], "bytecode": out["bytecode"]}))
    os.replace(tmp, cache_file)
    return CompiledContract(path.stem, out["abi"], out["bytecode"])


def compile_contract(name_or_path: str | Path) -> CompiledContract:
    """Compile ``contracts/<name>.vy`` (or a path to any .vy file)."""
    p = Path(name_or_path)
    if p.suffix != ".vy":
        p = contracts_dir() / f"{name_or_path}.vy"
    if not p.is_file():
        raise ConfigError(f"contract source not found: {p}")
    p = p.resolve()
    return _compile_cached(str(p), _tree_digest(p.parent))
