"""``veilproof model build | publish``: package a model and commit it on chain."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    console,
    emit_json,
    err_console,
    fail,
    load_account,
    open_network,
    paths,
)
from veilproof.errors import InputError, VeilproofError

model_app = typer.Typer(
    help="Build content-addressed model packages and publish their commitments.", no_args_is_help=True
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
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """Settings (calibrated), circuit, pk/vk, SRS and VKA into the artifact store; a rebuild is a cache hit."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.package import build_zk_package

    if srs is None:
        err_console.print(
            "[yellow]warning:[/] no --srs: generating a local SRS, [bold]UNSAFE FOR PRODUCTION[/]"
        )
    try:
        with console.status("building ZK package (calibrate, compile, setup)…"):
            pkg = build_zk_package(
                onnx, calibration, ArtifactStore(paths(home).artifacts), srs, name=name or onnx.stem,
                salt_elements=salt_elements,
            )  # fmt: skip
    except VeilproofError as e:
        fail(e)
    out = {
        "package": pkg.manifest_digest, "logrows": pkg.settings.logrows, "salt_elements": pkg.salt_elements,
        **pkg.commitments(),
    }  # fmt: skip
    if json_out:
        emit_json(out)
    else:
        for k, v in out.items():
            console.print(f"{k:18} {v}")


@model_app.command("publish")
def publish(
    package: str | None = typer.Option(None, help="ZK package digest from `model build`."),
    fhe_client: str | None = typer.Option(None, help="sha256 of an FHE client.zip."),
    fhe_server: str | None = typer.Option(None, help="sha256 of an FHE server.zip."),
    name: str = typer.Option(..., help="Model name on chain."),
    price: float = typer.Option(1.0, help="Price per job in VEIL."),
    royalty_bps: int = typer.Option(1000, help="Owner's share of each job, in basis points."),
    parent: list[int] = typer.Option([], help="Parent model ids (lineage)."),
    dataset: list[int] = typer.Option([], help="Registered dataset ids used for training."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Register the model and its commitments (immutable) in ModelRegistry, and its VKA with the verifier."""
    from veilproof.artifacts import ArtifactStore
    from veilproof.chain.deploy import Deployment
    from veilproof.chain.suite import Suite
    from veilproof.client.publish import publish_model
    from veilproof.models.package import ModelPackage

    p = paths(home)
    try:
        if package is None and fhe_server is None:
            raise InputError("--package / --fhe-server", "at least one form of the model", None)
        pkg = ModelPackage.load(ArtifactStore(p.artifacts), package) if package else None
        onnx_hash = pkg.commitments()["onnx_hash"] if pkg else str(fhe_server)
        suite = Suite.attach(open_network(p, chain_url), Deployment.load(p.deployment))
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
        console.print(f"model [bold]{pub.model_id}[/] {name}: " + json.dumps(pub.commitments, indent=1))
