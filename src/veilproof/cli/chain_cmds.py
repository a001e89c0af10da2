"""``veilproof chain up|down`` and ``veilproof deploy`` / ``status``."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from veilproof.chain.deploy import (
    CHALLENGE_WINDOW_S,
    ONE_VEIL,
    Deployment,
    ReceiptParams,
    SuiteParams,
    deploy_pipeline_market,
    deploy_receipt_market,
    deploy_suite,
    deploy_zk_verifier,
)
from veilproof.chain.dev.local import read_local_chain, start_local_chain, stop_local_chain
from veilproof.chain.suite import Suite
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
from veilproof.errors import ConfigError, VeilproofError

chain_app = typer.Typer(help="Run a local dev chain.", no_args_is_help=True)


@chain_app.command("up")
def chain_up(
    embedded: bool = typer.Option(False, "--embedded", help="Serve py-evm instead of starting anvil."),
    port: int = typer.Option(8545, help="Port (0: any free port, printed)."),
    host: str = typer.Option(
        "127.0.0.1",
        help="Listen address: this machine's address on a network whose nodes and clients share the chain "
        "(anvil only).",
    ),
    home: str | None = Home,
    json_out: bool = JsonOut,
) -> None:
    """Start a dev chain on 127.0.0.1 (or --host) in the background (anvil by default).

    Without `chain up`, every command runs on an embedded chain inside its own process, which is
    gone when the command ends; `chain up --embedded` serves that same py-evm chain to other processes.
    """
    p = paths(home)
    kind = "embedded" if embedded else "anvil"
    try:
        running = read_local_chain(p.home)
        if running is not None:
            same_port = port in (0, int(running.url.rsplit(":", 1)[1]))
            if running.kind != kind or not same_port:
                raise ConfigError(
                    f"a {running.kind} chain is already running on {running.url} (pid {running.pid}): "
                    "stop it with `veilproof chain down` first, or use it as it is"
                )
            lc, state = running, "already running"
        else:
            lc, state = start_local_chain(p.home, kind, port, host=host), "started"
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json({"kind": lc.kind, "url": lc.url, "pid": lc.pid, "state": state})
        return
    console.print(
        f"[green]{lc.kind}[/] chain {state} on [bold]{lc.url}[/] (pid {lc.pid}); "
        "stop it with `veilproof chain down`",
        soft_wrap=True,
    )


@chain_app.command("down")
def chain_down(home: str | None = Home, json_out: bool = JsonOut) -> None:
    """Stop the chain `chain up` started."""
    lc = stop_local_chain(paths(home).home)
    if json_out:
        emit_json({"stopped": lc.__dict__ if lc else None})
        return
    console.print(f"stopped {lc.kind} (pid {lc.pid})" if lc else "no local chain running")


def deploy(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    mint: int = typer.Option(1_000_000, help="VEIL minted to the deployer for bootstrap."),
    zk: bool = typer.Option(True, "--zk/--no-zk", help="Also deploy EZKL's reusable verifier + adapter."),
    receipts: bool | None = typer.Option(
        None,
        "--receipts/--no-receipts",
        help="Also deploy ReceiptMarket: pay-on-proof ZK jobs settled by batched receipts (needs --zk; on "
        "by default with it).",
    ),
    pipelines: bool | None = typer.Option(
        None,
        "--pipelines/--no-pipelines",
        help="Also deploy PipelineMarket: chained ZK stages (sliced models) paid once (needs --zk; on by "
        "default with it: +2.3 M gas, ~10% of the deploy). `dao deploy` hands its admin to the timelock.",
    ),
    incentives: bool = typer.Option(
        True,
        "--incentives/--no-incentives",
        help="Also deploy Rewards + FheQuorum (validators, FHE disputes).",
    ),
    epoch_length: int = typer.Option(
        3_600, "--epoch-length", min=60, help="Validator epoch in seconds (commit half, reveal half)."
    ),
    json_out: bool = JsonOut,
) -> None:
    """Deploy the contract suite and write the addresses file (<home>/deployment.json).

    By default the whole suite: core market, EZKL's verifier, the pay-on-proof ReceiptMarket
    (docs/settlement.md: `infer(eager=False)`, nodes settle receipts in batches) and the incentive
    layer (Rewards mints VEIL from then on, so the bootstrap --mint happens first), so `veilproof
    validator start` works.
    """
    p = paths(home)
    if pipelines and not zk:
        fail(ConfigError("--pipelines needs --zk: PipelineMarket verifies every stage with the ZK verifier"))
    pipelines = zk if pipelines is None else pipelines
    if receipts and not zk:
        fail(
            ConfigError(
                "--receipts needs --zk: ReceiptMarket verifies claims with the ZK verifier (or pass --no-receipts)"
            )
        )
    receipts = zk if receipts is None else receipts  # --no-zk alone: no ZK markets, not an error
    try:
        net = open_network(p, chain_url)
        owner = load_account(p, account, create=True)
        if net.balance(owner.address) < 10**18:
            net.fund(owner.address)
        # The tuned economics (docs/incentives.md); the FHE window spans at least one validator epoch,
        # so a quorum can re-execute a result before it settles.
        d = deploy_suite(net, owner, SuiteParams(challenge_window=max(CHALLENGE_WINDOW_S, epoch_length)))
        if zk:
            from veilproof.zk import evm

            v = evm.compile_reusable_verifier()
            deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
            if receipts:  # the production parameters: JobMarket's slash and fee (chain/deploy.py)
                deploy_receipt_market(net, owner, d, ReceiptParams())
            if pipelines:
                deploy_pipeline_market(net, owner, d)
        suite = Suite.attach(net, d)
        if mint:
            suite.token.mint(owner.address, mint * ONE_VEIL, sender=owner)
        if incentives:  # after the mint: Rewards becomes the only minter
            from veilproof.incentives.deploy import IncentiveParams, deploy_incentives

            deploy_incentives(
                net, owner, d,
                IncentiveParams(
                    epoch_length=epoch_length, commit_period=epoch_length // 2,
                    unbond_delay=max(7 * 24 * 3_600, 2 * epoch_length),
                ),
            )  # fmt: skip
        if net.kind != "embedded":
            d.save(p.deployment)
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(d.__dict__)
        return
    t = Table(title=f"veilproof deployed on chain {d.chain_id}")
    t.add_column("contract")
    t.add_column("address")
    for name in ("token", "models", "nodes", "market"):
        t.add_row(name, getattr(d, name))
    for name, addr in d.extra.items():
        t.add_row(name, addr)
    console.print(t)
    if net.kind == "embedded":
        err_console.print(
            "[yellow]embedded chain: these addresses vanish with this process; nothing written[/]"
        )
    else:
        console.print(f"addresses written to {p.deployment}")


def status(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str | None = typer.Option(None, "--account", "-a", help="Also show this account's balances."),
    json_out: bool = JsonOut,
) -> None:
    """What is deployed, balances and counts."""
    p = paths(home)
    try:
        d = Deployment.load(p.deployment)
        net = open_network(p, chain_url)
        if net.chain_id != d.chain_id:
            raise VeilproofError(f"deployment is for chain {d.chain_id}, connected chain is {net.chain_id}")
        s = Suite.attach(net, d)
        info: dict[str, Any] = {
            "chain_id": d.chain_id,
            "block": net.w3.eth.block_number,
            "contracts": {
                k: {"address": a, "code": len(net.w3.eth.get_code(a)) > 0}
                for k, a in [(k, getattr(d, k)) for k in ("token", "models", "nodes", "market")]
                + [(k, a) for k, a in d.extra.items() if k in ("receipt_market", "pipeline_market")]
            },
            "veil_supply": s.token.total_supply() / ONE_VEIL,
            "models": s.models.model_count(),
            "datasets": s.models.dataset_count(),
            "nodes": s.nodes.node_count(),
            "jobs": s.market.job_count(),
            "fhe_arbiter": s.market.arbiter(),  # FheQuorum in a default deployment; zero = no disputes
            "escrowed_veil": s.market.escrowed() / ONE_VEIL,
        }
        if account:
            acct = load_account(p, account)
            info["account"] = {
                "address": acct.address,
                "eth": net.balance(acct.address) / 10**18,
                "veil": s.token.balance_of(acct.address) / ONE_VEIL,
                "pending_withdrawal_veil": s.market.pending(acct.address) / ONE_VEIL,
            }
    except VeilproofError as e:
        fail(e)
    if json_out:
        emit_json(info)
        return
    t = Table(title=f"veilproof on chain {info['chain_id']} (block {info['block']})")
    t.add_column("what")
    t.add_column("value")
    for k, v in info["contracts"].items():
        t.add_row(k, f"{v['address']} {'' if v['code'] else '[red](no code)[/]'}")
    for k in ("veil_supply", "models", "datasets", "nodes", "jobs", "escrowed_veil"):
        t.add_row(k, str(info[k]))
    for k, v in info.get("account", {}).items():
        t.add_row(f"account.{k}", str(v))
    console.print(t)
