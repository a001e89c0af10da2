"""``veilproof node start``: run a compute node."""

from __future__ import annotations

from pathlib import Path

import typer

from veilproof.cli._common import ChainUrl, Home, fail, load_account, paths, resolve_chain_url
from veilproof.errors import ConfigError, VeilproofError

node_app = typer.Typer(
    help="Run a compute node that sells ZK-verified and FHE-private inference.", no_args_is_help=True
)


def _parse_models(specs: list[str]) -> list:
    from veilproof.node.config import ServedModel

    out = []
    for s in specs:
        # ID:zk=DIGEST,fhe-server=DIGEST,fhe-client=DIGEST
        try:
            mid, _, rest = s.partition(":")
            kw = dict(p.split("=", 1) for p in rest.split(",") if p)
            out.append(
                ServedModel(
                    int(mid),
                    zk_package=kw.get("zk"),
                    fhe_server=kw.get("fhe-server"),
                    fhe_client=kw.get("fhe-client"),
                )
            )
        except ValueError as e:
            raise ConfigError(
                f"--model {s!r}: expected ID:zk=DIGEST,fhe-server=DIGEST,fhe-client=DIGEST"
            ) from e
    return out


@node_app.command("start")
def start(
    model: list[str] = typer.Option(
        ..., "--model", "-m", help="ID:zk=PKG,fhe-server=H,fhe-client=H (repeatable)."
    ),
    config: Path | None = typer.Option(None, help="A node.json instead of the flags."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = typer.Option("node", "--account", "-a"),
    host: str = typer.Option("127.0.0.1", help="Listen address (loopback by default)."),
    port: int = typer.Option(8600),
    workers: int = typer.Option(1, help="Concurrent jobs (proving is CPU-heavy)."),
    queue_limit: int = typer.Option(8, help="Queued jobs beyond the workers before answering 503."),
    stake: int = typer.Option(100, help="VEIL to keep staked."),
    fetch_from: list[str] = typer.Option([], help="Other nodes to fetch missing artifacts from."),
) -> None:
    """Stake, announce endpoint and models, check artifacts against the chain, then serve."""
    from veilproof.node.config import NodeConfig
    from veilproof.node.runner import load_config, run_node

    try:
        if config:
            cfg = load_config(config)
        else:
            p = paths(home)
            url = resolve_chain_url(p, chain_url)
            if url is None:
                raise ConfigError("a node needs a shared chain: pass --chain-url or run `veilproof chain up`")
            load_account(p, account)  # fail early on a wrong password
            cfg = NodeConfig(
                home=p.home, chain_url=url, deployment_file=p.deployment, account_name=account,
                models=_parse_models(model), host=host, port=port, workers=workers, queue_limit=queue_limit,
                stake=stake * 10**18, artifact_sources=list(fetch_from),
            )  # fmt: skip
        run_node(cfg)
    except VeilproofError as e:
        fail(e)
