"""``veilproof model build | publish``: package a model and commit it on chain."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    attach_suite,
    console,
    emit_json,
    engine_output,
    err_console,
    fail,
    load_account,
    open_network,
    paths,
)
from veilproof.errors import InputError, VeilproofError

if TYPE_CHECKING:
    from veilproof.artifacts import ArtifactStore
    from veilproof.chain.model_registry import OnchainModel

model_app = typer.Typer(
    help="Build content-addressed model packages and publish their commitments.", no_args_is_help=True
)


def _check_build_inputs(onnx_path: Path, calibration: Path) -> tuple[int, ...]:
    """Refuse a file that is not ONNX or a calibration that is not a .npy before the long build,
    with what to pass instead; returns the model's input shape."""
    import numpy as np
    import onnx

    from veilproof.zk.settings import onnx_input_shape

    try:
        onnx.load(str(onnx_path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends: any failure means "not ONNX"
        raise InputError(
            "MODEL", "an ONNX model file (export one with torch.onnx.export or skl2onnx)", str(onnx_path)
        ) from e
    try:
        np.load(calibration, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InputError(
            "--calibration", "a .npy array of sample inputs (written with numpy.save)", str(calibration)
        ) from e
    return onnx_input_shape(onnx_path)


def _build_slices_cmd(
    onnx: Path,
    calibration: Path,
    store: ArtifactStore,
    srs: Path | None,
    slices: str,
    scale: int,
    json_out: bool,
    home: str | None,
    salt_elements: int,
) -> None:
    """``model build --slices``: plan the cuts, build each slice, write the slices directory's
    ``pipeline.json`` (what ``model publish --pipeline DIR`` reads), print one row per slice."""
    from veilproof.models.slicing import SlicingError, build_sliced, write_pipeline_manifest

    if slices != "auto" and not (slices.isdigit() and int(slices) >= 1):
        raise SlicingError(f"--slices: expected 'auto' or a whole number >= 1, got {slices!r}")
    with engine_output(paths(home)), console.status("planning cuts and building slices…"):
        sliced = build_sliced(
            onnx,
            calibration,
            store,
            slices if slices == "auto" else int(slices),
            srs_path=srs,
            scale=scale,
            salt_elements=salt_elements,
        )
    manifest = write_pipeline_manifest(sliced, onnx)
    rows = [
        {
            "slice": i,
            "package": p.manifest_digest,
            "logrows": p.settings.logrows,
            "cut_after": c,
            **p.commitments(),
        }
        for i, (p, c) in enumerate(zip(sliced.packages, [*sliced.cuts, "(output)"], strict=True))
    ]
    if json_out:
        emit_json({"slices": rows, "pipeline_dir": str(manifest.parent)})
    else:
        for r in rows:
            console.print(
                f"slice {r['slice']}: package {r['package']}  2^{r['logrows']} rows  ends at {r['cut_after']}"
            )
        console.print(
            f"slices directory {manifest.parent}\n"
            f"publish them as a pipeline: veilproof model publish --pipeline {manifest.parent} --name NAME"
        )


@model_app.command("build")
def build(
    onnx: Path = typer.Argument(..., exists=True, dir_okay=False, help="The ONNX model."),
    calibration: Path = typer.Option(
        ..., "--calibration", exists=True, dir_okay=False, help=".npy of sample inputs."
    ),
    srs: Path | None = typer.Option(
        None, "--srs", exists=True, dir_okay=False, help="Ceremony SRS (production)."
    ),
    name: str | None = typer.Option(None, help="Package name (default: file stem)."),
    salt_elements: int = typer.Option(
        8,
        "--salt-elements",
        min=0,
        help="Client-salt columns hashed with the input (8 x 16 bits): commitments hide the input and "
        "bind each proof to its job. 0 builds an unsalted circuit (commitments guessable and replayable).",
    ),
    scale: int = typer.Option(
        10,
        "--scale",
        min=1,
        max=20,
        help="Fixed-point bits for inputs and weights: lower makes a smaller circuit, less accurate.",
    ),
    fhe: bool = typer.Option(
        False, "--fhe", help="Also compile the FHE form (client.zip + server.zip) to serve it privately."
    ),
    bits: int = typer.Option(8, "--bits", min=2, max=16, help="FHE quantization bits (with --fhe)."),
    slices: str | None = typer.Option(
        None,
        "--slices",
        help="Cut the model at layer boundaries into N slices, or 'auto' (fewest that each fit this "
        "machine's proving memory); each slice is its own package, chained by hashed boundary tensors "
        "(docs/pipelines.md). --salt-elements salts slice 0 (the job's input).",
    ),
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """Settings (calibrated), circuit, pk/vk, SRS and VKA into the artifact store; a rebuild is a cache hit.

    With --slices, the model is cut into slices that are built (and later proven) separately and
    published as a pipeline (`veilproof`'s PipelineMarket links their proofs).

    With --fhe, the same ONNX is also compiled for FHE (Concrete ML, calibrated on the same rows) and its
    client.zip / server.zip go into the store: publish their hashes with --fhe-client / --fhe-server.
    """
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.package import build_zk_package, cached_zk_package

    try:
        shape = _check_build_inputs(onnx, calibration)
        if srs is None:
            err_console.print(
                "[yellow]warning:[/] no --srs: generating a local SRS, [bold]UNSAFE FOR PRODUCTION[/]"
            )
        err_console.print(f"model input shape {shape}")
        store = ArtifactStore(paths(home).artifacts)
        if slices is not None:
            _build_slices_cmd(onnx, calibration, store, srs, slices, scale, json_out, home, salt_elements)
            return
        hit = cached_zk_package(onnx, calibration, store, srs, scale=scale, salt_elements=salt_elements)
        err_console.print(
            f"cache hit: package {hit}"
            if hit
            else "building the ZK package: calibrate, compile, keys (minutes)"
        )
        with (
            engine_output(paths(home)) as engines,
            console.status("building ZK package (calibrate, compile, setup)…"),
        ):
            pkg = build_zk_package(
                onnx, calibration, store, srs, name=name or onnx.stem, scale=scale,
                salt_elements=salt_elements,
            )  # fmt: skip
        if engines.fidelity:
            f = engines.fidelity
            err_console.print(
                f"quantization error vs the float model on the calibration set (scale {scale}): "
                f"mean |e| {f.get('mean_abs_error', '?')}, max |e| {f.get('max_abs_error', '?')}"
            )
        out: dict[str, object] = {
            "package": pkg.manifest_digest, "logrows": pkg.settings.logrows, "salt_elements": pkg.salt_elements,
            **pkg.commitments(),
        }  # fmt: skip
        if fhe:
            import numpy as np

            from veilproof.fhe.bundle import build_from_onnx

            with engine_output(paths(home)), console.status(f"compiling the FHE form ({bits} bits)…"):
                fb = build_from_onnx(onnx, np.load(calibration), store, n_bits=bits)
            err_console.print(
                f"FHE form ({bits} bits) vs the float model on the calibration set: max |e| "
                f"{fb.max_abs_error:.4g}, same top output on {fb.agreement:.0%} of rows"
            )
            out |= {
                "fhe_client_hash": fb.client_zip_hash, "fhe_server_hash": fb.server_zip_hash,
                "fhe_bits": bits, "fhe_max_abs_error": fb.max_abs_error, "fhe_agreement": fb.agreement,
            }  # fmt: skip
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(out)
    else:
        for k, v in out.items():
            console.print(f"{k:18} {v}")


def _same_commitments(models: list[OnchainModel], wanted: dict[str, str]) -> OnchainModel | None:
    """The first active model whose commitments include all of ``wanted`` (hashes compared as hex)."""

    def norm(h: str) -> str:
        return h.lower().removeprefix("0x")

    for m in models:
        if m.active and all(norm(getattr(m, k)) == norm(v) for k, v in wanted.items()):
            return m
    return None


def _publish_pipeline_cmd(
    pipeline_dir: Path, name: str, price: float, royalty_bps: int, force: bool,
    chain_url: str | None, home: str | None, account: str, json_out: bool,
) -> None:  # fmt: skip
    """``model publish --pipeline DIR``: every slice a model, then the ordered pipeline."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.client.publish import publish_pipeline
    from veilproof.models.slicing import load_pipeline_dir

    p = paths(home)
    pkgs = load_pipeline_dir(pipeline_dir, ArtifactStore(p.artifacts))  # all checked before the chain
    suite = attach_suite(p, open_network(p, chain_url))
    pub = publish_pipeline(
        suite, load_account(p, account), pkgs, name=name, price=int(price * 10**18),
        royalty_bps=royalty_bps, force=force,
    )  # fmt: skip
    if json_out:
        emit_json(pub.__dict__)
        return
    how = "already registered, reused" if pub.reused_pipeline else f"tx {pub.tx_hashes['register_pipeline']}"
    console.print(f"pipeline [bold]{pub.pipeline_id}[/] of {len(pub.model_ids)} stages ({how})")
    for i, m in enumerate(pub.model_ids):
        console.print(f"  stage {i}: model {m}" + (" (reused)" if m in pub.reused_models else ""))


@model_app.command("publish")
def publish(
    package: str | None = typer.Option(None, help="ZK package digest from `model build`."),
    pipeline: Path | None = typer.Option(
        None,
        "--pipeline",
        help="A slices directory from `model build --slices` (its `pipeline_dir`): register every slice "
        "as a model named NAME-sliceIofN, then the ordered pipeline in PipelineMarket.",
    ),
    fhe_client: str | None = typer.Option(None, help="sha256 of an FHE client.zip."),
    fhe_server: str | None = typer.Option(None, help="sha256 of an FHE server.zip."),
    name: str = typer.Option(..., help="Model name on chain."),
    price: float = typer.Option(1.0, help="Price per job in VEIL."),
    royalty_bps: int = typer.Option(1000, help="Owner's share of each job, in basis points."),
    parent: list[int] = typer.Option([], help="Parent model ids (lineage)."),
    dataset: list[int] = typer.Option([], help="Registered dataset ids used for training."),
    force: bool = typer.Option(
        False, "--force", help="Register even if a model with exactly these commitments exists."
    ),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Register the model and its commitments (immutable) in ModelRegistry, and its VKA with the verifier.

    With --pipeline DIR, register each slice of a `model build --slices` directory the same way, then
    the ordered pipeline in PipelineMarket (docs/pipelines.md); --price is each slice model's price.
    """
    from veilproof.artifacts import ArtifactStore
    from veilproof.client.publish import publish_model
    from veilproof.models.package import ModelPackage

    p = paths(home)
    try:
        if pipeline is not None:
            if package is not None or fhe_client is not None or fhe_server is not None or parent or dataset:
                raise InputError(
                    "--pipeline",
                    "alone: a pipeline's stages are its slices (drop --package/--fhe-*/--parent/--dataset)",
                    str(pipeline),
                )
            _publish_pipeline_cmd(
                pipeline, name, price, royalty_bps, force, chain_url, home, account, json_out
            )
            return
        if package is None and fhe_server is None:
            raise InputError("--package / --fhe-server", "at least one form of the model", None)
        store = ArtifactStore(p.artifacts)
        for flag, h in (("--fhe-client", fhe_client), ("--fhe-server", fhe_server)):
            if h is not None and not store.has(h.lower().removeprefix("0x")):
                raise InputError(
                    flag,
                    f"the sha256 of an artifact in {store.root} (build it with "
                    "`veilproof model build MODEL.onnx --calibration X.npy --fhe`); nothing was published",
                    h,
                )
        pkg = ModelPackage.load(store, package) if package else None
        onnx_hash = pkg.commitments()["onnx_hash"] if pkg else str(fhe_server)
        suite = attach_suite(p, open_network(p, chain_url))
        wanted = {"onnx_hash": onnx_hash}
        if pkg is not None:
            c = pkg.commitments()
            wanted |= {"zk_settings_hash": c["zk_settings_hash"], "zk_vk_hash": c["zk_vka_digest"]}
        if fhe_server is not None:
            wanted |= {"fhe_server_hash": fhe_server, "fhe_client_hash": str(fhe_client)}
        dup = _same_commitments(suite.models.read_models(), wanted)
        if dup is not None and not force:
            raise VeilproofError(
                f"model {dup.model_id} ({dup.name!r}, owner {dup.owner}) already commits to exactly this "
                f"package: use model {dup.model_id}, or pass --force to register a second copy"
            )
        if dup is not None:
            err_console.print(
                f"[yellow]warning:[/] model {dup.model_id} already commits to this package; "
                "registering another (--force)"
            )
        pub = publish_model(
            suite, load_account(p, account), name=name, price=int(price * 10**18), royalty_bps=royalty_bps,
            onnx_hash=onnx_hash, zk=pkg, fhe_client_hash=fhe_client, fhe_server_hash=fhe_server,
            parents=parent, datasets=dataset,
        )  # fmt: skip
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(pub.__dict__)
    else:
        console.print(
            f"model [bold]{pub.model_id}[/] {name!r} published (tx {pub.tx_hashes['register_model']})"
        )
        for k, v in pub.commitments.items():
            console.print(f"  {k:18} {v}")
