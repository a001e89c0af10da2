"""``veilproof train open|join|status|claim`` (TrainingMarket) and ``veilproof fl coordinator|client start``
(Flower's deployment runtime), for federated training jobs (issue #16, docs/federated.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    Session,
    amount,
    console,
    emit_json,
    failing,
    load_account,
    paths,
    session,
)
from veilproof.errors import ConfigError

if TYPE_CHECKING:
    from veilproof.chain.training_market import TrainingMarket

train_app = typer.Typer(help="Federated training bounties on TrainingMarket: open, join, status, claim.")
fl_app = typer.Typer(
    help="Run Flower for a training job: the coordinator (SuperLink) or a client (SuperNode)."
)
coordinator_app = typer.Typer(help="The coordinator: SuperLink + ServerApp, posts every round on chain.")
client_app = typer.Typer(help="A client: a SuperNode training on its local shard.")
fl_app.add_typer(coordinator_app, name="coordinator")
fl_app.add_typer(client_app, name="client")


def _market(ctx: Session, deploy_as: str | None = None) -> TrainingMarket:
    """The suite's TrainingMarket (``deploy_as``: that account deploys it on first use; recorded in
    deployment.json)."""
    from veilproof.chain.training_market import TrainingMarket, deploy_training_market

    d = ctx.suite.deployment
    addr = d.extra.get("training_market")
    if not addr:
        if not deploy_as:
            raise ConfigError("no TrainingMarket in the deployment: `veilproof train open` deploys it")
        acct = load_account(ctx.paths, deploy_as)
        addr = deploy_training_market(ctx.net, acct, d.token).address
        d.extra["training_market"] = addr
        d.save(ctx.paths.deployment)
    return TrainingMarket(ctx.net, addr)


@train_app.command("open")
def open_(
    coordinator: str = typer.Option(..., help="Address of the coordinator who will run the rounds."),
    rounds: int = typer.Option(3, min=1),
    min_participants: int = typer.Option(3, min=1),
    bounty: int = typer.Option(..., help="VEIL escrowed for the job."),
    stake: int = typer.Option(10, help="VEIL each participant stakes."),
    coordinator_stake: int = typer.Option(50, help="VEIL the coordinator stakes."),
    coordinator_bps: int = typer.Option(1000, help="Coordinator share of the bounty (basis points)."),
    join_window: int = typer.Option(3600, help="Seconds participants may join."),
    round_timeout: int = typer.Option(3600, help="Seconds per round before anyone may abandon the job."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Escrow a bounty for the bundled federated task (breast-cancer logistic regression)."""
    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.fl.coordinator import arch_hash, val_hash

    with session(home, chain_url) as ctx:
        market = _market(ctx, deploy_as=account)
        acct = load_account(ctx.paths, account)
        ctx.suite.token.approve(market.address, bounty * ONE_VEIL, sender=acct)
        job = market.open_job(
            coordinator=coordinator, arch_hash=arch_hash(), val_hash=val_hash(), rounds=rounds,
            min_participants=min_participants, coordinator_bps=coordinator_bps, bounty=bounty * ONE_VEIL,
            participant_stake=stake * ONE_VEIL, coordinator_stake=coordinator_stake * ONE_VEIL,
            join_window=join_window, round_timeout=round_timeout, sender=acct,
        )  # fmt: skip
    if json_out:
        emit_json({"job": job, "market": market.address})
    else:
        console.print(f"training job [bold]{job}[/] open on {market.address}")


@train_app.command("join")
def join(
    job: int = typer.Argument(..., help="Training job id."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Join a training job with its participant stake."""
    with session(home, chain_url) as ctx:
        market = _market(ctx)
        acct = load_account(ctx.paths, account)
        ctx.suite.token.approve(market.address, market.job(job).participant_stake, sender=acct)
        market.join(job, sender=acct)
    console.print(f"{acct.address} joined training job {job}")


@train_app.command("status")
def status(
    job: int = typer.Argument(..., help="Training job id."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """A job's state, its posted rounds and every participant's summed score."""
    with session(home, chain_url) as ctx:
        market = _market(ctx)
        j = market.job(job)
        posted = market.rounds(job)
    scores: dict[str, int] = {}
    for r in posted:
        for pt, s in zip(r.participants, r.scores, strict=True):
            scores[pt] = scores.get(pt, 0) + s
    if json_out:
        emit_json({"job": j.__dict__, "rounds": [r.__dict__ for r in posted], "scores": scores})
        return
    console.print(
        f"job {job}: {j.state}, round {j.rounds_posted}/{j.rounds}, {j.participants} participants, "
        f"bounty {amount(j.bounty)} VEIL, model {j.model_hash.hex()[:16]}"
    )
    for pt, s in scores.items():
        console.print(f"  {pt}  score {s}")


@train_app.command("claim")
def claim(
    job: int = typer.Argument(..., help="Training job id."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Collect your stake and share (or refund) from a finished or cancelled job."""
    with session(home, chain_url) as ctx:
        paid = _market(ctx).claim(job, sender=load_account(ctx.paths, account))
    console.print(f"claimed {amount(paid)} VEIL from training job {job}")


@coordinator_app.command("start")
def coordinator_start(
    job: int = typer.Argument(..., help="Training job id (you must be its coordinator)."),
    job_dir: Path = typer.Option(Path("fl-job"), help="Round files, committed updates and Flower logs."),
    fleet_port: int = typer.Option(9092, help="Port the SuperNodes connect to."),
    round_timeout: float = typer.Option(60.0, help="Seconds to wait for client replies per round."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Stake (if not yet), start the SuperLink and the ServerApp, and post every round on chain."""
    from veilproof.fl.coordinator import post_rounds, update_domain, verify_round
    from veilproof.fl.runtime import FlowerCluster

    with session(home, chain_url) as ctx:
        market = _market(ctx)
        acct = load_account(ctx.paths, account)
        j = market.job(job)
        if j.state == "open":
            ctx.suite.token.approve(market.address, j.coordinator_stake, sender=acct)
            market.start(job, sender=acct)
        with FlowerCluster(job_dir) as cluster:
            cluster.start_superlink(fleet_port=fleet_port)
            console.print(
                f"SuperLink up: clients run `veilproof fl client start --superlink 127.0.0.1:{cluster.fleet}`"
            )
            cluster.submit(
                rounds=j.rounds,
                min_nodes=j.min_participants,
                round_timeout=round_timeout,
                domain=update_domain(market, job),
            )
            run = post_rounds(
                market, job, acct, job_dir, timeout=3600.0 * j.rounds,
                on_round=lambda r, g: console.print(f"round {r} posted ({g} gas)"),
            )  # fmt: skip
        for r in range(1, j.rounds + 1):
            verify_round(market, job, job_dir, r)
    console.print(f"done: test accuracy {run.test_accuracy:.4f} (central {run.central_test_accuracy:.4f})")


@client_app.command("start")
def client_start(
    superlink: str = typer.Option(..., help="The coordinator's fleet address host:port."),
    partition: int = typer.Option(..., help="Which shard of the bundled dataset this client holds."),
    of: int = typer.Option(..., help="How many shards there are."),
    job_dir: Path = typer.Option(Path("fl-client"), help="Flower state and logs."),
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Run a SuperNode that trains on its shard and is paid to ``--account``'s address (foreground)."""
    from veilproof.fl.runtime import ClientSpec, FlowerCluster

    with failing():
        acct = load_account(paths(home), account)
        cluster = FlowerCluster(job_dir)
        proc = cluster.start_client(
            partition, of, ClientSpec(acct.address, acct.key.hex()), superlink=superlink
        )
        console.print(
            f"SuperNode for {acct.address} (shard {partition}/{of}); logs in {job_dir}/logs; Ctrl-C"
        )
        try:
            proc.wait()
        except KeyboardInterrupt:
            cluster.stop()
