"""Content-addressed ZK model packages: everything a node needs to prove a model, and its commitments.

A package is a JSON manifest (stored in the ArtifactStore like any blob) naming every artifact by
sha256: ONNX, settings, compiled circuit, proving key, verifying key, SRS, EVM VKA, calibration data.
The manifest's own digest identifies the package. Builds are cached: the key is the hash of the
inputs (ONNX bytes, calibration bytes, scale, SRS choice, EZKL version), so rebuilding the same model
is a lookup. Proving keys can be hundreds of MB: they are streamed into the store, never loaded whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from veilproof.artifacts import ArtifactStore, sha256_file
from veilproof.errors import ArtifactError, IntegrityError
from veilproof.zk import evm
from veilproof.zk._ezkl import ezkl
from veilproof.zk.errors import ArtifactHashMismatchError, CalibrationShapeError, CommitmentMismatchError
from veilproof.zk.instances import felt_hex_to_int, input_commitment, outputs_from_instances
from veilproof.zk.proof import Proof
from veilproof.zk.prover import CircuitFiles, EzklProver, Prover
from veilproof.zk.resources import check_fits
from veilproof.zk.salt import new_salt, salt_calibration, salted_input, wrap_onnx
from veilproof.zk.settings import (
    DEFAULT_SCALE,
    CircuitSettings,
    check_input_shape,
    generate_settings,
    onnx_input_shape,
    write_input_json,
)
from veilproof.zk.srs import get_srs, warn_unsafe

PACKAGE_FORMAT = "veilproof-zk-package/1"
ROLES = ("onnx", "calibration", "settings", "compiled", "vk", "pk", "srs", "vka")


@dataclass(frozen=True)
class ZkResult:
    """A verified inference: outputs read from the proof's instances, never from a side channel."""

    outputs: list[float]
    instances: list[int]
    proof: Proof
    input_commitment: int

    @property
    def proof_bytes(self) -> bytes:
        return self.proof.proof_bytes


@dataclass(frozen=True)
class ModelPackage:
    store: ArtifactStore
    manifest_digest: str
    manifest: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def artifacts(self) -> dict[str, str]:
        return dict(self.manifest["artifacts"])

    def path(self, role: str) -> Path:
        """Local path of an artifact (checked against its digest when the package was loaded)."""
        return self.store.path(self.artifacts[role])

    @cached_property
    def settings(self) -> CircuitSettings:
        return CircuitSettings.load(self.path("settings"))

    @property
    def files(self) -> CircuitFiles:
        return CircuitFiles(
            compiled=self.path("compiled"),
            settings=self.path("settings"),
            vk=self.path("vk"),
            srs=self.path("srs"),
            pk=self.path("pk"),
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The circuit's input shape: the model's input, flattened and followed by the salt when salted."""
        return tuple(self.manifest["input_shape"])

    @property
    def salt_elements(self) -> int:
        """Salt elements hashed with the input (0: an unsalted package, built before salts or opted out)."""
        return int(self.manifest.get("salt_elements", 0))

    @property
    def model_input_shape(self) -> tuple[int, ...]:
        """The wrapped model's own input shape (what a user passes)."""
        return tuple(self.manifest.get("model_input_shape", self.manifest["input_shape"]))

    @cached_property
    def vka_words(self) -> list[bytes]:
        return evm.vka_words(self.path("vka").read_bytes())

    def commitments(self) -> dict[str, str]:
        """The digests the ModelRegistry stores (hex sha256; vka also as its on-chain keccak digest)."""
        a = self.artifacts
        return {
            "onnx_hash": a["onnx"],
            "zk_settings_hash": a["settings"],
            "zk_vk_hash": a["vk"],
            "zk_vka_hash": a["vka"],
            "zk_srs_hash": a["srs"],
            "zk_package_hash": self.manifest_digest,
            "zk_vka_digest": "0x" + evm.vka_digest(self.vka_words).hex(),
        }

    def verify_artifacts(self, roles: tuple[str, ...] = ROLES) -> None:
        """Re-hash artifacts; raise ArtifactHashMismatchError/ArtifactError on any mismatch or gap."""
        for role in roles:
            digest = self.artifacts[role]
            try:
                self.store.open_verified(digest)
            except IntegrityError as e:
                raise ArtifactHashMismatchError(f"{self.name}/{role}", e.expected, e.actual) from e

    @classmethod
    def load(cls, store: ArtifactStore, manifest_digest: str, verify: bool = True) -> ModelPackage:
        try:
            raw = store.get_bytes(manifest_digest)
        except IntegrityError as e:
            raise ArtifactHashMismatchError("manifest", e.expected, e.actual) from e
        manifest = json.loads(raw)
        if manifest.get("format") != PACKAGE_FORMAT:
            raise ArtifactError(f"{manifest_digest}: not a {PACKAGE_FORMAT} manifest")
        pkg = cls(store, manifest_digest, manifest)
        if verify:
            pkg.verify_artifacts()
        if manifest.get("srs_generated"):
            warn_unsafe(int(manifest["logrows"]))
        return pkg


def _build_key(
    onnx_path: Path,
    calibration: Path,
    scale: int,
    srs_digest: str | None,
    salt_elements: int,
    output_visibility: str = "public",
) -> str:
    h = hashlib.sha256()
    for part in (
        PACKAGE_FORMAT,
        f"salt-{salt_elements}",
        *(() if output_visibility == "public" else (f"out-{output_visibility}",)),
        ezkl.__version__ if hasattr(ezkl, "__version__") else "ezkl",
        sha256_file(onnx_path),
        sha256_file(calibration),
        str(scale),
        srs_digest or "dev-srs",
    ):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def cached_zk_package(
    onnx_path: str | os.PathLike[str],
    calibration_npy: str | os.PathLike[str],
    store: ArtifactStore,
    srs_path: str | os.PathLike[str] | None = None,
    *,
    scale: int = DEFAULT_SCALE,
    salt_elements: int = 0,
) -> str | None:
    """The digest of the package :func:`build_zk_package` would return from its cache, else None
    (so a CLI can say "cache hit" instead of announcing a long build)."""
    srs_digest = sha256_file(srs_path) if srs_path else None
    key = _build_key(Path(onnx_path), Path(calibration_npy), scale, srs_digest, salt_elements)
    ref = store.root / "refs" / f"zkpkg-{key}"
    if not ref.is_file():
        return None
    digest = ref.read_text().strip()
    return digest if store.has(digest) else None


def build_zk_package(
    onnx_path: str | os.PathLike[str],
    calibration_npy: str | os.PathLike[str],
    store: ArtifactStore,
    srs_path: str | os.PathLike[str] | None = None,
    *,
    name: str | None = None,
    scale: int = DEFAULT_SCALE,
    prover: Prover | None = None,
    salt_elements: int = 0,
    output_visibility: str = "public",
    available: int | None = None,
) -> ModelPackage:
    """Build (or fetch from cache) the ZK package of an ONNX model.

    Steps: check calibration shape → (salted: wrap the ONNX so ``salt_elements`` ignored columns
    join the hashed input, see :mod:`veilproof.zk.salt`) → settings (hashed input, public output,
    fixed params) → calibrate → refuse if too big for this machine → compile → SRS (ceremony or
    cached dev) → setup (pk, vk) → EVM VKA → manifest. Nothing is written on chain here.
    """
    prover = prover or EzklProver()
    onnx_path, cal_path = Path(onnx_path), Path(calibration_npy)
    if salt_elements < 0:
        raise ValueError(f"salt_elements: expected >= 0, got {salt_elements}")
    srs_digest = sha256_file(srs_path) if srs_path else None
    key = _build_key(onnx_path, cal_path, scale, srs_digest, salt_elements, output_visibility)
    ref = store.root / "refs" / f"zkpkg-{key}"
    if ref.is_file():
        digest = ref.read_text().strip()
        if store.has(digest):
            try:
                return ModelPackage.load(store, digest)
            except ArtifactError:
                pass  # damaged or incomplete cache entry: rebuild
    calibration = check_input_shape(onnx_path, np.load(cal_path))
    model_input_shape = onnx_input_shape(onnx_path)
    with tempfile.TemporaryDirectory(prefix="vp-zkpkg-", dir=store.root) as td:
        wd = Path(td)
        if salt_elements:
            wrap_onnx(onnx_path, wd / "model.salted.onnx", salt_elements)
            onnx_path, cal_path = wd / "model.salted.onnx", wd / "calibration.salted.npy"
            calibration = salt_calibration(calibration, salt_elements, scale)
            np.save(cal_path, calibration)
        circuit_input_shape = onnx_input_shape(onnx_path)
        settings = generate_settings(
            onnx_path,
            wd / "settings.json",
            calibration,
            scale=scale,
            workdir=wd,
            output_visibility=output_visibility,
        )
        check_fits(settings.logrows, available)
        compiled = prover.compile(onnx_path, settings.path, wd / "model.compiled")
        srs = get_srs(store, settings.logrows, srs_path)
        prover.setup(compiled, srs.path, wd / "vk.key", wd / "pk.key")
        files = CircuitFiles(compiled, settings.path, wd / "vk.key", srs.path, wd / "pk.key")
        evm.create_vka(files, wd / "vka.bytes")
        artifacts = {
            "onnx": store.put_file(onnx_path),
            "calibration": store.put_file(cal_path),
            "settings": store.put_file(settings.path),
            "compiled": store.put_file(compiled),
            "vk": store.put_file(files.vk),
            "pk": store.put_file(wd / "pk.key"),
            "srs": srs.digest,
            "vka": store.put_file(wd / "vka.bytes"),
        }
    manifest = {
        "format": PACKAGE_FORMAT,
        "name": name or onnx_path.stem,
        "artifacts": artifacts,
        "logrows": settings.logrows,
        "num_rows": settings.num_rows,
        "input_scale": settings.input_scale,
        "param_scale": settings.param_scale,
        "output_scales": list(settings.output_scales),
        "output_shapes": [list(s) for s in settings.output_shapes],
        "input_shape": list(circuit_input_shape),
        "model_input_shape": list(model_input_shape),
        "salt_elements": salt_elements,
        "visibility": {"input": "hashed", "output": output_visibility, "params": "fixed"},
        "instances_layout": ("[poseidon(input || salt), " if salt_elements else "[poseidon(input), ")
        + ("outputs...]" if output_visibility == "public" else "poseidon(output)]"),
        "srs_generated": srs.generated,
        "prover": prover.name,
    }
    digest = store.put_bytes(json.dumps(manifest, sort_keys=True, indent=1).encode())
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = ref.with_suffix(".tmp")
    tmp_ref.write_text(digest)
    os.replace(tmp_ref, ref)
    return ModelPackage(store, digest, manifest)


def _single_sample(package: ModelPackage, x: np.ndarray, salt: np.ndarray | None = None) -> np.ndarray:
    """One sample with its batch axis, as the circuit takes it; a batch of several is refused (one
    proof per input). For a salted package ``x`` is either the model's input (then ``salt``, or a
    fresh one, is appended) or already the circuit's input (what a client sent to a node)."""
    k = package.salt_elements
    if k:
        arr = np.asarray(x, dtype=np.float32)
        n = int(np.prod(package.model_input_shape[1:]))
        if arr.size == n:
            x = salted_input(arr, new_salt(k, package.settings.input_scale) if salt is None else salt)
        elif arr.size != n + k or salt is not None:
            raise CalibrationShapeError(package.model_input_shape, tuple(arr.shape))
        else:
            x = arr.reshape(1, n + k)
    elif salt is not None:
        raise ValueError(f"{package.name}: an unsalted package takes no salt")
    arr = check_input_shape(package.path("onnx"), x)
    if arr.shape[0] != 1:
        raise CalibrationShapeError(package.input_shape, tuple(np.asarray(x).shape))
    return arr


def prove(
    package: ModelPackage, x: np.ndarray, prover: Prover | None = None, *, salt: np.ndarray | None = None
) -> ZkResult:
    """Prove one inference; the proof is verified before it is returned.

    Salted packages: ``x`` may be the circuit's input (model input ‖ salt), or the model's input
    with ``salt`` (a fresh random salt when None); ``ZkResult.input_commitment`` is what was proven.
    """
    prover = prover or EzklProver()
    xs = _single_sample(package, x, salt)
    proof = prover.prove(package.files, xs)
    commitment = input_commitment(package.settings, xs)
    if proof.instances[0] != commitment:
        raise CommitmentMismatchError(commitment, proof.instances[0])
    inst = proof.instances
    if package.settings.output_visibility.lower() != "public":
        # A pipeline slice with a hashed output (models/slicing.py): instances[1] is the output's
        # Poseidon hash, not values; the values come from a witness pass (slicing.stage_output).
        return ZkResult([], inst, proof, commitment)
    return ZkResult(outputs_from_instances(package.settings, inst), inst, proof, commitment)


def verify(
    package: ModelPackage, proof: Proof, expected_commitment: int | None = None, prover: Prover | None = None
) -> list[float]:
    """Verify against the package's vk; check the input commitment; return the proven outputs."""
    prover = prover or EzklProver()
    prover.verify(package.files, proof)
    inst = proof.instances
    if expected_commitment is not None and inst[0] != expected_commitment:
        raise CommitmentMismatchError(expected_commitment, inst[0])
    return outputs_from_instances(package.settings, inst)


def circuit_outputs(package: ModelPackage, x: np.ndarray, prover: EzklProver | None = None) -> list[float]:
    """The quantized circuit's outputs on ``x`` via witness generation only (fast; for accuracy)."""
    prover = prover or EzklProver()
    xs = _single_sample(package, x)
    with tempfile.TemporaryDirectory(prefix="vp-wit-") as td:
        wit = prover.witness(package.files, xs, Path(td))
        w = json.loads(wit.read_text())
    flat = [felt_hex_to_int(h) for out in w["outputs"] for h in out]
    return outputs_from_instances(package.settings, [0, *flat])


__all__ = [
    "ModelPackage",
    "ZkResult",
    "build_zk_package",
    "circuit_outputs",
    "prove",
    "verify",
    "write_input_json",
]
