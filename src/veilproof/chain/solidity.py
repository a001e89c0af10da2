"""Compile the governance Solidity (``contracts/solidity/Governance.sol``) against OpenZeppelin 5.x.

Why a shipped build: solcjs and ``@openzeppelin/contracts`` are npm tools of the checkout
(``tools/npm``, pinned), absent from an installed package; yet ``deploy_dao`` must put the Governor on
chain. ``contracts/solidity/Governance.json`` holds ABI + bytecode of each contract and the sha256 of
the source and of the OpenZeppelin version it came from; it is used while those match, else the
source is recompiled with solcjs (``tests/dao/test_governance_build.py`` checks the build is current).
The chain layer keeps its own small solcjs runner (it must not import ``veilproof.zk``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from veilproof.chain.compiler import contracts_dir
from veilproof.errors import ConfigError

SOURCE = "Governance.sol"
CONTRACTS = ("VeilVotes", "VeilTimelock", "VeilGovernor")
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200

# solc's import callback resolves "@openzeppelin/..." against node_modules.
_SOLC_JS = """
const solc = require(process.argv[2]);
const fs = require('fs'); const path = require('path');
const nm = process.argv[3];
function findImports(p) {
  try { return {contents: fs.readFileSync(path.join(nm, p), 'utf8')}; }
  catch (e) { return {error: 'not found: ' + p}; }
}
let data = '';
process.stdin.on('data', c => data += c);
process.stdin.on('end', () => process.stdout.write(solc.compile(data, {import: findImports})));
"""


@dataclass(frozen=True)
class SolidityContract:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed init code
    deployed_size: int


def source_path() -> Path:
    return contracts_dir() / "solidity" / SOURCE


def build_path() -> Path:
    return source_path().with_suffix(".json")


def _node_modules() -> Path:
    env = os.environ.get("VEILPROOF_NODE_MODULES")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        nm = parent / "tools" / "npm" / "node_modules"
        if nm.is_dir():
            return nm
    raise ConfigError(
        "tools/npm/node_modules not found (solcjs, @openzeppelin/contracts): run `make` in a checkout"
    )


def _oz_version() -> str:
    pkg = json.loads((_node_modules() / "@openzeppelin" / "contracts" / "package.json").read_text())
    return str(pkg["version"])


def _digest(source: str, oz_version: str) -> str:
    return hashlib.sha256(f"{source}\0{oz_version}\0{OPTIMIZER_RUNS}".encode()).hexdigest()


def compile_governance() -> dict[str, SolidityContract]:
    """Run solcjs on Governance.sol; ConfigError with the compiler's messages if it fails."""
    nm = _node_modules()
    node = shutil.which("node")
    if node is None:
        raise ConfigError("node not found: needed to run solcjs")
    std = {
        "language": "Solidity",
        "sources": {SOURCE: {"content": source_path().read_text()}},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(_SOLC_JS)
        script = f.name
    try:
        res = subprocess.run(
            [node, script, str(nm / "solc"), str(nm)],
            input=json.dumps(std),
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(script)
    if res.returncode != 0:
        raise ConfigError(f"solcjs failed: {res.stderr[:2000]}")
    out = json.loads(res.stdout)
    errs = [e["formattedMessage"] for e in out.get("errors", []) if e["severity"] == "error"]
    if errs:
        raise ConfigError("solc errors:\n" + "\n".join(errs)[:4000])
    result = {}
    for name in CONTRACTS:
        c = out["contracts"][SOURCE][name]
        result[name] = SolidityContract(
            name,
            c["abi"],
            "0x" + c["evm"]["bytecode"]["object"],
            len(c["evm"]["deployedBytecode"]["object"]) // 2,
        )
    return result


def write_governance_build() -> Path:
    """Recompile and write ``contracts/solidity/Governance.json`` (run after editing the source or
    bumping ``@openzeppelin/contracts``)."""
    compiled = compile_governance()
    oz = _oz_version()
    blob = {
        "source_sha256": _digest(source_path().read_text(), oz),
        "openzeppelin": oz,
        "solc": json.loads((_node_modules() / "solc" / "package.json").read_text())["version"],
        "optimizer_runs": OPTIMIZER_RUNS,
        "evm_version": EVM_VERSION,
        "contracts": {
            n: {"abi": c.abi, "bytecode": c.bytecode, "deployed_size": c.deployed_size}
            for n, c in compiled.items()
        },
    }
    out = build_path()
    out.write_text(json.dumps(blob, indent=1) + "\n")
    _load.cache_clear()
    return out


def build_is_current() -> bool:
    """True when the shipped build matches the source and the installed OpenZeppelin."""
    if not build_path().is_file():
        return False
    d = json.loads(build_path().read_text())
    return bool(d.get("source_sha256") == _digest(source_path().read_text(), _oz_version()))


@lru_cache(maxsize=1)
def _load() -> dict[str, SolidityContract]:
    p = build_path()
    if not p.is_file():
        raise ConfigError(f"{p} missing: run veilproof.chain.solidity.write_governance_build() in a checkout")
    d = json.loads(p.read_text())
    return {
        n: SolidityContract(n, c["abi"], c["bytecode"], c["deployed_size"]) for n, c in d["contracts"].items()
    }


def governance_contract(name: str) -> SolidityContract:
    """ABI + bytecode of ``VeilVotes``, ``VeilTimelock`` or ``VeilGovernor`` from the shipped build."""
    if name not in CONTRACTS:
        raise ConfigError(f"unknown governance contract {name!r}: expected one of {', '.join(CONTRACTS)}")
    return _load()[name]
