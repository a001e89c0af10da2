"""``veilproof account new|list``: local encrypted keystores."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from veilproof.chain.keystore import Keystore
from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    console,
    emit_json,
    fail,
    load_account,
    open_network,
    paths,
)
from veilproof.errors import VeilproofError

if TYPE_CHECKING:
    from veilproof.chain import Network

account_app = typer.Typer(
    help="Local encrypted keystores (keys never leave this machine).", no_args_is_help=True
)


@account_app.command("new")
def new(name: str = typer.Argument("default"), home: str | None = Home, json_out: bool = JsonOut) -> None:
    """Create an encrypted keystore; the password comes from $VEILPROOF_PASSWORD or a prompt."""
    password = os.environ.get("VEILPROOF_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    try:
        e = Keystore(paths(home).keystore).create(name, password)
    except VeilproofError as err:
        fail(err)
    if json_out:
        emit_json({"name": e.name, "address": e.address, "path": str(e.path)})
    else:
        console.print(f"{e.name}: {e.address} ({e.path})")


@account_app.command("list")
def list_(home: str | None = Home) -> None:
    """List keystores (addresses only)."""
    t = Table("name", "address", "file")
    for e in Keystore(paths(home).keystore).list():
        t.add_row(e.name, e.address, str(e.path))
    console.print(t)


def transfer(
    to: str = typer.Argument(..., help="Recipient address."),
    veil: float = typer.Option(0.0, help="VEIL to send."),
    eth: float = typer.Option(0.0, help="Ether to send (gas money)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
) -> None:
    """Send VEIL and/or ether from a keystore account (e.g. to fund a node's stake and gas)."""
    from web3 import Web3

    from veilproof.chain.deploy import ONE_VEIL, Deployment
    from veilproof.chain.suite import Suite
    from veilproof.errors import InputError

    p = paths(home)
    try:
        if not Web3.is_address(to):
            raise InputError("to", "a 0x address", to)
        if veil < 0 or eth < 0 or (veil == 0 and eth == 0):
            raise InputError("--veil/--eth", "a positive amount of at least one", (veil, eth))
        net = open_network(p, chain_url)
        sender = load_account(p, account)
        to = Web3.to_checksum_address(to)
        if eth:
            tx = {"to": to, "value": int(eth * 10**18)}
            net.transact(_EthTransfer(net, tx), sender=sender, gas=21_000, label="ether transfer")
        if veil:
            suite = Suite.attach(net, Deployment.load(p.deployment))
            suite.token.transfer(to, int(veil * ONE_VEIL), sender=sender)
    except VeilproofError as err:
        fail(err)
    console.print(f"sent {veil:g} VEIL and {eth:g} ETH to {to}")


class _EthTransfer:
    """Adapter so a plain value transfer goes through Network.transact (local signing, receipt checks)."""

    fn_name = "ether transfer"

    def __init__(self, net: Network, tx: dict[str, Any]) -> None:
        self._net = net
        self._tx = tx

    def estimate_gas(self, params: dict[str, Any]) -> int:
        return 21_000

    def build_transaction(self, params: dict[str, Any]) -> dict[str, Any]:
        tx = {**params, **self._tx}
        if "maxFeePerGas" not in tx and "gasPrice" not in tx:
            tx["gasPrice"] = self._net.w3.eth.gas_price
        tx.pop("from", None)
        return tx


def withdraw(chain_url: str | None = ChainUrl, home: str | None = Home, account: str = AccountName) -> None:
    """Pull what JobMarket owes this account (node earnings, royalties, refunds)."""
    from veilproof.chain.deploy import ONE_VEIL, Deployment
    from veilproof.chain.suite import Suite

    p = paths(home)
    try:
        net = open_network(p, chain_url)
        acct = load_account(p, account)
        suite = Suite.attach(net, Deployment.load(p.deployment))
        amount = suite.market.pending(acct.address)
        if amount:
            suite.market.withdraw(sender=acct)
    except VeilproofError as err:
        fail(err)
    console.print(
        f"withdrew {amount / ONE_VEIL:g} VEIL to {acct.address}" if amount else "nothing to withdraw"
    )
