"""Cut an ONNX model into slices that each fit this machine's proving memory, and chain their proofs.

Why: EZKL proving memory grows with circuit rows (~21 KiB/row, see :mod:`veilproof.zk.resources`), so a
model needing 2^20 rows is refused on a 19 GiB box although each half of it fits. We cut the graph at
*layer boundaries where exactly one tensor crosses* (a topological cut: every node before the cut
runs before every node after it, and only that tensor flows across), extract each slice with
``onnx.utils.extract_model`` and build each slice as its own ZK package.

How stages are linked without revealing intermediate values: every slice has a **hashed** input
(as every veilproof model), and every slice but the last a **hashed** output, calibrated with scale
rebase multiplier 1 so the output is at the input scale. The proof of slice *i* then exposes
``instances = [poseidon(input_i), poseidon(output_i)]`` and slice *i+1*'s ``instances[0]`` is
``poseidon(input_{i+1})``: they are equal exactly when the next node proved on the values the previous
node produced (the dequantised output re-quantises to the same field elements). The chain compares
the two felts (contracts/PipelineMarket.vy); the intermediate tensor itself never leaves the nodes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.utils

from veilproof.artifacts.store import ArtifactStore
from veilproof.errors import VeilproofError
from veilproof.models.package import ModelPackage, _single_sample, build_zk_package
from veilproof.zk.errors import ModelTooLargeError
from veilproof.zk.instances import felt_hex_to_int, felt_to_signed, outputs_from_instances
from veilproof.zk.proof import Proof
from veilproof.zk.prover import EzklProver
from veilproof.zk.resources import check_fits
from veilproof.zk.settings import generate_settings


class SlicingError(VeilproofError):
    """The model cannot be cut as asked (no single-tensor boundary, or no cut that fits)."""


class PipelineDirError(SlicingError):
    """A pipeline directory (``model build --slices`` output) is missing, malformed, or names a slice
    package whose artifacts are not in the store; the message says which and how to rebuild."""


PIPELINE_MANIFEST = "pipeline.json"
PIPELINE_FORMAT = "veilproof-pipeline/1"


def _initializers(model: onnx.ModelProto) -> set[str]:
    return {i.name for i in model.graph.initializer}


def cut_candidates(onnx_path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """``(i, tensor)`` for every position ``i`` (cut between node i-1 and node i) where exactly one
    non-constant tensor produced before the cut is used after it. ONNX stores nodes topologically."""
    model = onnx.load(str(onnx_path))
    g = model.graph
    consts = _initializers(model)
    for n in g.node:
        if n.op_type == "Constant":
            consts.update(n.output)  # extract_model copies a Constant into every slice that needs it
    nodes = [n for n in g.node if n.op_type != "Constant"]
    graph_inputs = {i.name for i in g.input} - consts
    graph_outputs = {o.name for o in g.output}
    out: list[tuple[int, str]] = []
    for i in range(1, len(nodes)):
        produced = set(graph_inputs)
        for n in nodes[:i]:
            produced.update(n.output)
        needed = set(graph_outputs)
        for n in nodes[i:]:
            needed.update(x for x in n.input if x)
        crossing = (produced & needed) - consts
        if len(crossing) == 1:
            (t,) = crossing
            if t not in graph_inputs and t not in graph_outputs:
                out.append((i, t))
    return out


def _node_costs(onnx_path: str | os.PathLike[str]) -> list[int]:
    """A proxy for the circuit rows each (non-Constant) node adds: its multiply-accumulates plus
    twice its output elements (each output is rescaled / range-checked / looked up).

    Measured on EZKL 23 (decomp base 2^10, 3 legs), a 4-channel 3x3 conv on a 4x4 map (2,304 MACs)
    takes ~3,000 rows and a ReLU over its 64 outputs a few hundred: MACs dominate."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    g = model.graph
    weights = {i.name: tuple(int(d) for d in i.dims) for i in g.initializer}
    sizes: dict[str, int] = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in vi.type.tensor_type.shape.dim]
        sizes.setdefault(vi.name, int(np.prod(dims)) if dims else 1)
    costs = []
    for n in g.node:
        if n.op_type == "Constant":
            continue
        out = sum(sizes.get(x, 0) for x in n.output)
        macs = 0
        for x in n.input:
            w = weights.get(x, ())
            if len(w) >= 2:  # a weight matrix / conv kernel: one row of it per output element
                macs += out * int(np.prod(w[1:]))
        costs.append(1 + macs + 2 * out)
    return costs


def choose_cuts(onnx_path: str | os.PathLike[str], n_slices: int) -> list[str]:
    """The boundary tensors of ``n_slices`` slices of roughly equal cost (greedy on cumulative cost)."""
    if n_slices < 1:
        raise SlicingError(f"slices: expected >= 1, got {n_slices}")
    if n_slices == 1:
        return []
    cands = cut_candidates(onnx_path)
    if len(cands) < n_slices - 1:
        raise SlicingError(
            f"{onnx_path}: {n_slices} slices need {n_slices - 1} single-tensor layer boundaries, "
            f"the graph has {len(cands)}; ask for fewer slices"
        )
    cum = np.cumsum(_node_costs(onnx_path))
    total = float(cum[-1])
    chosen: list[tuple[int, str]] = []
    for k in range(1, n_slices):
        target = total * k / n_slices
        left = [c for c in cands if not chosen or c[0] > chosen[-1][0]]
        # leave enough candidates for the remaining cuts
        usable = left[: len(left) - (n_slices - 1 - k)] if n_slices - 1 - k else left
        best = min(usable, key=lambda c: abs(float(cum[c[0] - 1]) - target))
        chosen.append(best)
    return [t for _, t in chosen]


def split_onnx(
    onnx_path: str | os.PathLike[str], cuts: list[str], out_dir: str | os.PathLike[str]
) -> list[Path]:
    """Write one ONNX file per slice (``slice-0.onnx`` ...) cut at the boundary tensors ``cuts``."""
    model = onnx.load(str(onnx_path))
    consts = _initializers(model)
    inputs = [i.name for i in model.graph.input if i.name not in consts]
    outputs = [o.name for o in model.graph.output]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SlicingError(f"{onnx_path}: slicing needs one input and one output, got {inputs} -> {outputs}")
    bounds = [inputs[0], *cuts, outputs[0]]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(bounds) - 1):
        p = out / f"slice-{i}.onnx"
        onnx.utils.extract_model(str(onnx_path), str(p), [bounds[i]], [bounds[i + 1]])
        paths.append(p)
    return paths


def run_onnx(onnx_path: str | os.PathLike[str], x: np.ndarray) -> np.ndarray:
    """Float outputs of a one-input model on samples ``x`` (one session run per sample: our
    exports fix the batch axis at 1)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    shape = [d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape]
    rows = [np.asarray(sess.run(None, {name: s.reshape(shape).astype(np.float32)})[0]) for s in x]
    return np.concatenate(rows)


@dataclass(frozen=True)
class SlicedModel:
    """The ordered slice packages of one model; stage i's hashed output feeds stage i+1."""

    onnx_paths: tuple[Path, ...]
    packages: tuple[ModelPackage, ...]
    cuts: tuple[str, ...]

    @property
    def logrows(self) -> tuple[int, ...]:
        return tuple(p.settings.logrows for p in self.packages)


def write_pipeline_manifest(sliced: SlicedModel, source_onnx: str | os.PathLike[str]) -> Path:
    """Write ``pipeline.json`` next to the slice ONNX files: the ordered slice package digests that
    ``veilproof model publish --pipeline DIR`` registers. Why a file: a build takes minutes and a
    publish needs a chain; the directory carries one to the other (and to another machine)."""
    d = sliced.onnx_paths[0].parent
    src = Path(source_onnx)
    doc = {
        "format": PIPELINE_FORMAT,
        "source": src.name,
        "source_sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "slices": [
            {"package": p.manifest_digest, "onnx": o.name, "logrows": p.settings.logrows, "cut_after": c}
            for p, o, c in zip(sliced.packages, sliced.onnx_paths, [*sliced.cuts, None], strict=True)
        ],
    }
    path = d / PIPELINE_MANIFEST
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


def load_pipeline_dir(directory: str | os.PathLike[str], store: ArtifactStore) -> list[ModelPackage]:
    """The slice packages of a ``model build --slices`` directory, in stage order, each re-hashed
    against the store. Raises :class:`PipelineDirError` naming the first thing missing (nothing is
    sent to a chain before this succeeds)."""
    d = Path(directory)
    rebuild = "rebuild with `veilproof model build MODEL.onnx --calibration X.npy --slices N`"
    mf = d / PIPELINE_MANIFEST
    if not mf.is_file():
        raise PipelineDirError(
            f"{d}: no {PIPELINE_MANIFEST} (not a slices directory); pass the `pipeline_dir` that "
            f"`model build --slices` printed, or {rebuild}"
        )
    try:
        doc = json.loads(mf.read_text())
        slices = list(doc["slices"])
        digests = [str(s["package"]) for s in slices]
    except (ValueError, KeyError, TypeError) as e:
        raise PipelineDirError(f"{mf}: not a {PIPELINE_FORMAT} manifest ({e}); {rebuild}") from e
    if doc.get("format") != PIPELINE_FORMAT or not digests:
        raise PipelineDirError(f"{mf}: expected format {PIPELINE_FORMAT} with at least one slice; {rebuild}")
    pkgs = []
    for i, dg in enumerate(digests):
        try:
            pkgs.append(ModelPackage.load(store, dg))
        except VeilproofError as e:
            raise PipelineDirError(
                f"slice {i} (package {dg}): its artifacts are not usable in {store.root} ({e}); "
                f"{rebuild} with this home, or copy the artifacts into the store"
            ) from e
    for i, p in enumerate(pkgs):
        want = "public" if i == len(pkgs) - 1 else "hashed"
        got = p.settings.output_visibility.lower()
        if got != want or p.settings.input_visibility.lower() != "hashed":
            raise PipelineDirError(
                f"slice {i} (package {p.manifest_digest}): input/output visibility "
                f"{p.settings.input_visibility}/{p.settings.output_visibility}, a stage needs hashed/{want} "
                f"so the chain can link it to its neighbours; {rebuild}"
            )
    return pkgs


def _build_slices(
    onnx_path: Path,
    calibration: np.ndarray,
    cuts: list[str],
    store: ArtifactStore,
    work: Path,
    srs_path: str | os.PathLike[str] | None,
    scale: int,
    available: int | None,
    salt_elements: int = 0,
) -> SlicedModel:
    paths = split_onnx(onnx_path, cuts, work)
    pkgs = []
    cal = calibration
    for i, p in enumerate(paths):
        cal_path = work / f"slice-{i}-calibration.npy"
        np.save(cal_path, cal)
        last = i == len(paths) - 1
        pkgs.append(
            build_zk_package(
                p,
                cal_path,
                store,
                srs_path,
                name=f"{onnx_path.stem}-slice{i}of{len(paths)}",
                scale=scale,
                output_visibility="public" if last else "hashed",
                available=available,
                # only the job's input needs hiding: later inputs are hashes of computed values
                salt_elements=salt_elements if i == 0 else 0,
            )
        )
        if not last:
            cal = run_onnx(p, cal)  # the next slice is calibrated on what this slice really outputs
    return SlicedModel(tuple(paths), tuple(pkgs), tuple(cuts))


def build_sliced(
    onnx_path: str | os.PathLike[str],
    calibration_npy: str | os.PathLike[str],
    store: ArtifactStore,
    slices: int | str = "auto",
    *,
    srs_path: str | os.PathLike[str] | None = None,
    scale: int = 10,
    work_dir: str | os.PathLike[str] | None = None,
    available: int | None = None,
    salt_elements: int = 0,
) -> SlicedModel:
    """Build ``slices`` slice packages (an int, or ``"auto"``: the fewest slices that each fit).

    ``salt_elements`` salts slice 0's hashed input (zk/salt.py): the job's input commitment then hides
    the input and binds proofs to one job; later slices' inputs are hashes of computed values.

    ``auto`` tries 1, 2, 3 ... balanced cuts and keeps the first where no slice is refused by the
    memory estimate (``available`` overrides this machine's free memory, for tests and planning).
    """
    onnx_path = Path(onnx_path)
    calibration = np.load(calibration_npy).astype(np.float32)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="vp-slices-", dir=store.root))
    if slices != "auto":
        n = int(slices)
        return _build_slices(
            onnx_path,
            calibration,
            choose_cuts(onnx_path, n),
            store,
            work / f"n{n}",
            srs_path,
            scale,
            available,
            salt_elements,
        )
    cuts = plan_cuts(onnx_path, calibration, work / "plan", scale=scale, available=available)
    return _build_slices(
        onnx_path,
        calibration,
        cuts,
        store,
        work / f"n{len(cuts) + 1}",
        srs_path,
        scale,
        available,
        salt_elements,
    )


def plan_cuts(
    onnx_path: str | os.PathLike[str],
    calibration: np.ndarray,
    work: str | os.PathLike[str],
    *,
    scale: int = 10,
    available: int | None = None,
) -> list[str]:
    """The fewest balanced cuts whose slices each fit the memory estimate.

    Calibrates each candidate slice's settings (seconds; no keys) and checks it with
    :func:`check_fits`, so the expensive compile + setup runs only for the slicing that is kept.
    """
    onnx_path = Path(onnx_path)
    max_n = len(cut_candidates(onnx_path)) + 1
    last_err: ModelTooLargeError | None = None
    for n in range(1, max_n + 1):
        cuts = choose_cuts(onnx_path, n)
        wd = Path(work) / f"n{n}"
        paths = split_onnx(onnx_path, cuts, wd)
        cal = calibration
        try:
            for i, p in enumerate(paths):
                last = i == len(paths) - 1
                st = generate_settings(
                    p,
                    wd / f"settings-{i}.json",
                    cal,
                    scale=scale,
                    workdir=wd,
                    output_visibility="public" if last else "hashed",
                )
                check_fits(st.logrows, available)
                if not last:
                    cal = run_onnx(p, cal)
            return cuts
        except ModelTooLargeError as e:
            last_err = e
    raise SlicingError(
        f"{onnx_path}: even {max_n} slices (one per layer boundary) do not fit: {last_err}"
    ) from last_err


def stage_input(package: ModelPackage, x: np.ndarray) -> np.ndarray:
    """The circuit input of a stage: a salted stage 0 appends a fresh salt to a model input (or takes
    model input ‖ salt as given); other stages take the previous stage's output values as they are."""
    if package.salt_elements:
        return _single_sample(package, x)
    return np.asarray(x, dtype=np.float32).reshape(package.input_shape)


def stage_output(package: ModelPackage, xs: np.ndarray, prover: EzklProver | None = None) -> np.ndarray:
    """The stage's output values on circuit input ``xs`` (from :func:`stage_input`), by a witness pass
    only (milliseconds): what the next stage's node needs before this stage is proven. For a
    hashed-output stage they are not in the proof, only their Poseidon hash; they are the witness's
    output felts at the output scale, which the next stage (same scale) re-quantises exactly."""
    prover = prover or EzklProver()
    s = package.settings
    with tempfile.TemporaryDirectory(prefix="vp-stage-") as td:
        wit = json.loads(prover.witness(package.files, xs, Path(td)).read_text())
    if s.output_visibility.lower() == "public":
        flat = [felt_hex_to_int(h) for out in wit["outputs"] for h in out]
        return np.asarray(outputs_from_instances(s, [0, *flat]), dtype=np.float32)
    felts = [felt_to_signed(felt_hex_to_int(v)) for v in wit["outputs"][0]]
    values = np.asarray(felts, dtype=np.float64) / float(2 ** s.output_scales[0])
    return values.astype(np.float32)


def prove_stage(
    package: ModelPackage, x: np.ndarray, prover: EzklProver | None = None
) -> tuple[Proof, np.ndarray]:
    """Prove one stage on input ``x``; return the proof and the stage's output values (what the next
    stage's node needs; for a hashed-output stage they are not in the proof, only their hash)."""
    prover = prover or EzklProver()
    xs = stage_input(package, x)
    s = package.settings
    if s.output_visibility.lower() == "public":
        proof = prover.prove(package.files, xs)
        return proof, np.asarray(outputs_from_instances(s, proof.instances), dtype=np.float32)
    values = stage_output(package, xs, prover)
    return prover.prove(package.files, xs), values


def prove_pipeline(
    sliced: SlicedModel | tuple[ModelPackage, ...], x: np.ndarray, prover: EzklProver | None = None
) -> tuple[list[Proof], np.ndarray]:
    """Prove every stage in order on one sample; return the proofs and the final (public) output."""
    pkgs = sliced.packages if isinstance(sliced, SlicedModel) else sliced
    proofs = []
    cur = np.asarray(x, dtype=np.float32)
    for p in pkgs:
        proof, cur = prove_stage(p, cur, prover)
        proofs.append(proof)
    return proofs, cur


def links_hold(proofs: list[Proof]) -> bool:
    """The check the chain makes: stage i's output hash (``instances[1]``) == stage i+1's input hash."""
    return all(a.instances[1] == b.instances[0] for a, b in itertools.pairwise(proofs))
