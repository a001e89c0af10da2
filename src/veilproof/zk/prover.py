"""Prover role: compile/setup/prove/verify behind one interface.

Like Flower's pluggable strategies, the node and the package builder talk to :class:`Prover`, and
the proving system is one implementation of it (:class:`EzklProver`, Halo2 + KZG via EZKL). Another
backend (a GPU prover, a remote proving service) only has to implement these four methods.
"""

from __future__ import annotations

import os
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from veilproof.zk import _ezkl
from veilproof.zk.errors import EzklError, ProofInvalidError
from veilproof.zk.proof import Proof
from veilproof.zk.settings import write_input_json

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class CircuitFiles:
    """Paths of one circuit's artifacts on local disk (pk only needed to prove)."""

    compiled: Path
    settings: Path
    vk: Path
    srs: Path
    pk: Path | None = None


class Prover(ABC):
    """Abstract proving backend."""

    name: str = "abstract"

    @abstractmethod
    def compile(self, onnx_path: PathLike, settings_path: PathLike, out: PathLike) -> Path: ...

    @abstractmethod
    def setup(self, compiled: PathLike, srs: PathLike, vk_out: PathLike, pk_out: PathLike) -> None: ...

    @abstractmethod
    def prove(self, files: CircuitFiles, x: np.ndarray) -> Proof:
        """Prove the model on ``x``; implementations must verify before returning."""

    @abstractmethod
    def verify(self, files: CircuitFiles, proof: Proof) -> None:
        """Return if the proof verifies; raise ProofInvalidError otherwise."""


class EzklProver(Prover):
    """Halo2/KZG proofs through EZKL's Python bindings.

    ``phases`` holds the seconds each EZKL call of the latest :meth:`prove` took (witness, prove,
    verify): a node reports them per job, to show what of a job's time is the engine's.

    ``verify_after_prove=False`` skips the local verify after :meth:`prove`: only for a caller that has
    the same proof verified before it is used anyway (a JobMarket node ``eth_call``s its submit, which
    verifies it in the EVM against the registered key, before it signs the claim: the local verify
    was that check twice, 20-35 ms per job on the small models)."""

    name = "ezkl"

    def __init__(self, verify_after_prove: bool = True) -> None:
        self.phases: dict[str, float] = {}
        self.verify_after_prove = verify_after_prove

    def compile(self, onnx_path: PathLike, settings_path: PathLike, out: PathLike) -> Path:
        _ezkl.call(
            "compile_circuit", _ezkl.ezkl.compile_circuit, str(onnx_path), str(out), str(settings_path)
        )
        return Path(out)

    def setup(self, compiled: PathLike, srs: PathLike, vk_out: PathLike, pk_out: PathLike) -> None:
        ok = _ezkl.call("setup", _ezkl.ezkl.setup, str(compiled), str(vk_out), str(pk_out), str(srs))
        if ok is False:
            raise EzklError("setup returned False")

    def witness(self, files: CircuitFiles, x: np.ndarray, workdir: Path) -> Path:
        inp = write_input_json(np.asarray(x, dtype=np.float32), workdir / "input.json")
        wit = workdir / "witness.json"
        _ezkl.call(
            "gen_witness",
            _ezkl.ezkl.gen_witness,
            str(inp),
            str(files.compiled),
            str(wit),
            str(files.vk),
            str(files.srs),
        )
        return wit

    def prove(self, files: CircuitFiles, x: np.ndarray) -> Proof:
        if files.pk is None:
            raise EzklError("prove: no proving key in CircuitFiles")
        self.phases = {}
        with tempfile.TemporaryDirectory(prefix="vp-prove-") as td:
            wd = Path(td)
            t = time.perf_counter()
            wit = self.witness(files, x, wd)
            self.phases["witness"] = time.perf_counter() - t
            out = wd / "proof.json"
            t = time.perf_counter()
            _ezkl.call(
                "prove",
                _ezkl.ezkl.prove,
                str(wit),
                str(files.compiled),
                str(files.pk),
                str(out),
                str(files.srs),
            )
            proof = Proof.from_bytes(out.read_bytes())
            self.phases["prove"] = time.perf_counter() - t
        # Verify: a node must never ship a proof the chain would reject (and lose its stake); skipped
        # only when the caller has the chain check it before use (see the class docstring).
        if self.verify_after_prove:
            t = time.perf_counter()
            self.verify(files, proof)
            self.phases["verify"] = time.perf_counter() - t
        return proof

    def verify(self, files: CircuitFiles, proof: Proof) -> None:
        with tempfile.TemporaryDirectory(prefix="vp-verify-") as td:
            p = Path(td) / "proof.json"
            p.write_bytes(proof.to_bytes())
            try:
                ok = _ezkl.ezkl.verify(
                    str(p), str(files.settings), str(files.vk), str(files.srs), reduced_srs=False
                )
            except (RuntimeError, ValueError) as e:  # EZKL raises instead of returning False
                raise ProofInvalidError(f"proof rejected by verifier: {e}") from e
        if ok is not True:
            raise ProofInvalidError("proof rejected by verifier")
