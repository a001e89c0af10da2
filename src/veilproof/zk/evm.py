"""EVM verification artifacts: EZKL's reusable Halo2 verifier, per-model VKAs, and calldata.

Why the reusable verifier: one ~11 KB contract (``Halo2VerifierReusable``) verifies every circuit;
each model only registers its *verifying-key artifact* (VKA, ~210 words), so publishing a model costs
a registration, not a deployment. On-chain ABI (read from the generated Solidity):

* ``registerVka(bytes32[] vka) returns (bytes32 vka_digest)`` — digest = keccak256 of the words.
* ``verifyProof(bytes proof, uint256[] instances, bytes32[] vka) returns (bool, bytes32, int256[])``
  — reverts on an invalid proof or an unregistered VKA; returns ``success = true`` otherwise.

EZKL's own ``create_evm_verifier`` writes the .sol then tries to download native solc (fails offline),
so we keep the .sol and compile it with the pinned solcjs (``tools/npm``) via standard-JSON.
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

from eth_utils import keccak

from veilproof.zk import _ezkl
from veilproof.zk.errors import EzklError
from veilproof.zk.proof import Proof
from veilproof.zk.prover import CircuitFiles

REUSABLE_CONTRACT = "Halo2VerifierReusable"
SOLC_EVM_VERSION = "cancun"

_SOLC_JS = """
const solc = require(process.argv[2]);
let data = '';
process.stdin.on('data', c => data += c);
process.stdin.on('end', () => process.stdout.write(solc.compile(data)));
"""


@dataclass(frozen=True)
class CompiledSolidity:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed init code
    deployed_size: int


def _repo_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        if (parent / "tools" / "npm").is_dir():
            return parent
    raise EzklError("tools/npm not found (solcjs); set VEILPROOF_SOLCJS to node_modules/solc")


def solcjs_path() -> Path:
    env = os.environ.get("VEILPROOF_SOLCJS")
    return Path(env) if env else _repo_root() / "tools" / "npm" / "node_modules" / "solc"


def _cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "veilproof" / "solc"
    root.mkdir(parents=True, exist_ok=True)
    return root


def compile_solidity(source: str, contract: str, runs: int = 1) -> CompiledSolidity:
    """Compile one Solidity source with solcjs (optimizer on); cached by sha256 of source+settings."""
    std_input = {
        "language": "Solidity",
        "sources": {"Verifier.sol": {"content": source}},
        "settings": {
            "optimizer": {"enabled": True, "runs": runs},
            "evmVersion": SOLC_EVM_VERSION,
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
        },
    }
    blob = json.dumps(std_input, sort_keys=True)
    key = hashlib.sha256((str(solcjs_path()) + blob + contract).encode()).hexdigest()[:32]
    return _compile_cached(blob, contract, key)


@lru_cache(maxsize=8)
def _compile_cached(std_json: str, contract: str, key: str) -> CompiledSolidity:
    cache = _cache_dir() / f"{contract}-{key}.json"
    if cache.exists():
        d = json.loads(cache.read_text())
        return CompiledSolidity(contract, d["abi"], d["bytecode"], d["deployed_size"])
    node = shutil.which("node")
    if node is None:
        raise EzklError("node not found: needed to run solcjs")
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(_SOLC_JS)
        script = f.name
    try:
        res = subprocess.run(
            [node, script, str(solcjs_path())], input=std_json, capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(script)
    if res.returncode != 0:
        raise EzklError(f"solcjs failed: {res.stderr[:2000]}")
    out = json.loads(res.stdout)
    errs = [e["formattedMessage"] for e in out.get("errors", []) if e["severity"] == "error"]
    if errs:
        raise EzklError("solc errors:\n" + "\n".join(errs)[:4000])
    c = out["contracts"]["Verifier.sol"][contract]
    compiled = CompiledSolidity(
        contract,
        c["abi"],
        "0x" + c["evm"]["bytecode"]["object"],
        len(c["evm"]["deployedBytecode"]["object"]) // 2,
    )
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"abi": compiled.abi, "bytecode": compiled.bytecode, "deployed_size": compiled.deployed_size}
        )
    )
    os.replace(tmp, cache)
    return compiled


def reusable_verifier_source(files: CircuitFiles, out: str | os.PathLike[str]) -> Path:
    """Write EZKL's ``Halo2VerifierReusable`` Solidity (identical across our circuits) to ``out``."""
    out = Path(out)
    abi = out.with_suffix(".abi")
    try:
        _ezkl.run_async(
            "create_evm_verifier",
            lambda: _ezkl.ezkl.create_evm_verifier(
                str(files.vk), str(files.settings), str(out), str(abi), str(files.srs), True
            ),
        )
    except EzklError:
        # The .sol is written before EZKL tries to fetch native solc; offline that fetch fails.
        if not out.is_file():
            raise
    if not out.is_file() or REUSABLE_CONTRACT not in out.read_text():
        raise EzklError(f"create_evm_verifier did not produce {REUSABLE_CONTRACT} at {out}")
    return out


def bundled_verifier_source() -> Path:
    """``contracts/solidity/Halo2VerifierReusable.sol``: generated by EZKL 23.0.5, same for all circuits.

    Found like ``veilproof.chain.compiler.contracts_dir`` (zk does not import chain): ``$VEILPROOF_CONTRACTS``,
    else the package's ``contracts_src`` (the checkout's ``contracts/``, shipped in the wheel).
    """
    env = os.environ.get("VEILPROOF_CONTRACTS")
    root = Path(env) if env else Path(__file__).resolve().parent.parent / "contracts_src"
    return root.resolve() / "solidity" / f"{REUSABLE_CONTRACT}.sol"


def bundled_verifier_build() -> Path:
    """``contracts/solidity/Halo2VerifierReusable.json``: ABI + bytecode solcjs made from the bundled source.

    Why ship it: an installed package has no solcjs (an npm tool of the checkout), yet ``deploy`` must
    put the verifier on chain. The build records the sha256 of the source it came from and is used only
    while that matches; ``tests/zk/test_bundled_verifier.py`` recompiles and checks it is current
    (regenerate with :func:`write_bundled_verifier_build`).
    """
    return bundled_verifier_source().with_suffix(".json")


def _source_digest(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def write_bundled_verifier_build() -> Path:
    """Recompile the bundled source with solcjs and write :func:`bundled_verifier_build`."""
    source = bundled_verifier_source().read_text()
    c = compile_solidity(source, REUSABLE_CONTRACT)
    out = bundled_verifier_build()
    out.write_text(
        json.dumps(
            {
                "source_sha256": _source_digest(source),
                "solc": json.loads((_repo_root() / "tools" / "npm" / "package.json").read_text())[
                    "dependencies"
                ]["solc"],
                "optimizer_runs": 1,
                "evm_version": SOLC_EVM_VERSION,
                "abi": c.abi,
                "bytecode": c.bytecode,
                "deployed_size": c.deployed_size,
            },
            indent=1,
        )
        + "\n"
    )
    return out


def compile_reusable_verifier(files: CircuitFiles | None = None) -> CompiledSolidity:
    """Compile the reusable verifier: regenerated from ``files`` if given, else the bundled source.

    The generated source does not depend on the circuit (checked for our MLP and CNN), so one
    deployment serves every model; per-model data lives in the VKA. The bundled source comes with its
    build (no solcjs needed), used only while the build's source digest matches the source.
    """
    if files is None:
        source = bundled_verifier_source().read_text()
        build = bundled_verifier_build()
        if build.is_file():
            d = json.loads(build.read_text())
            if d.get("source_sha256") == _source_digest(source):
                return CompiledSolidity(REUSABLE_CONTRACT, d["abi"], d["bytecode"], d["deployed_size"])
        return compile_solidity(source, REUSABLE_CONTRACT)
    with tempfile.TemporaryDirectory(prefix="vp-sol-") as td:
        src = reusable_verifier_source(files, Path(td) / "Verifier.sol").read_text()
    return compile_solidity(src, REUSABLE_CONTRACT)


def create_vka(files: CircuitFiles, out: str | os.PathLike[str]) -> Path:
    """Write the model's VKA (EZKL binary: u64 LE word count, then 32-byte words)."""
    _ezkl.run_async(
        "create_evm_vka",
        lambda: _ezkl.ezkl.create_evm_vka(str(files.vk), str(files.settings), str(out), str(files.srs)),
    )
    return Path(out)


def vka_words(vka_file: bytes) -> list[bytes]:
    """The ``bytes32[]`` to pass to ``registerVka``/``verifyProof`` from a VKA file's bytes."""
    n = int.from_bytes(vka_file[:8], "little")
    body = vka_file[8:]
    if len(body) != 32 * n:
        raise EzklError(f"malformed VKA: header says {n} words, body has {len(body)} bytes")
    return [body[i : i + 32] for i in range(0, len(body), 32)]


def vka_digest(words: list[bytes]) -> bytes:
    """What ``registerVka`` returns and ``verifyProof`` checks: keccak256 of the packed words."""
    return keccak(b"".join(words))


def calldata(proof: Proof) -> tuple[bytes, list[int]]:
    """(proof bytes, instances as uint256) exactly as ``verifyProof`` and the adapter expect them.

    ``instances[0]`` is the Poseidon commitment of the input, ``instances[1:]`` the outputs.
    """
    return proof.proof_bytes, proof.instances


def encode_verify_call(proof: Proof, words: list[bytes]) -> bytes:
    """Full calldata for ``verifyProof(bytes,uint256[],bytes32[])`` (for direct eth_call / gas)."""
    from eth_abi import encode

    selector = keccak(text="verifyProof(bytes,uint256[],bytes32[])")[:4]
    pb, inst = calldata(proof)
    return selector + encode(["bytes", "uint256[]", "bytes32[]"], [pb, inst, words])
