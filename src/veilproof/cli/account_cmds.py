"""``veilproof account new|list``: local encrypted keystores."""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from veilproof.chain.keystore import Keystore
from veilproof.cli._common import (
    AccountName,
    ChainUrl,
    Home,
    JsonOut,
    amount,
    attach_suite,
    console,
    emit_json,
    fail,
    failing,
    load_account,
    open_network,
    paths,
    session,
)
from veilproof.errors import ConfigError, VeilproofError

if TYPE_CHECKING:
    from veilproof.chain import Network

account_app = typer.Typer(
    help="Local encrypted keystores (keys never leave this machine).", no_args_is_help=True
)


@account_app.command("new")
def new(name: str = typer.Argument("default"), home: str | None = Home, json_out: bool = JsonOut) -> None:
    """Create an encrypted keystore; the password comes from $VEILPROOF_PASSWORD or a prompt."""
    password = os.environ.get("VEILPROOF_PASSWORD")
    with failing():
        if password is None and not sys.stdin.isatty():
            raise ConfigError(
                "a new account needs a password and there is no terminal to ask: set $VEILPROOF_PASSWORD"
            )
        if password is None:
            password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        e = Keystore(paths(home).keystore).create(name, password)
    if json_out:
        emit_json({"name": e.name, "address": e.address, "path": str(e.path)})
    else:
        console.print(f"{e.name}: {e.address} ({e.path})")


@account_app.command("list")
def list_(home: str | None = Home, json_out: bool = JsonOut) -> None:
    """List keystores (addresses only)."""
    entries = Keystore(paths(home).keystore).list()
    if json_out:
        emit_json([{"name": e.name, "address": e.address, "path": str(e.path)} for e in entries])
        return
    t = Table("name", "address", "file")
    for e in entries:
        t.add_row(e.name, e.address, str(e.path))
    console.print(t)


_TOKEN_TRANSFER_GAS = 100_000  # an ERC-20 transfer costs ~35-55k; the balance check keeps a margin


def transfer(
    to: str = typer.Argument(..., help="Recipient address."),
    veil: float = typer.Option(0.0, help="VEIL to send."),
    eth: float = typer.Option(0.0, help="Ether to send (gas money)."),
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Send VEIL and/or ether from a keystore account (e.g. to fund a node's stake and gas).

    Both balances are checked before anything is sent, so a typo in one amount sends nothing; if the
    second leg still fails, the error says what the first one already sent (with its tx hash).
    """
    from web3 import Web3

    from veilproof.chain.deploy import ONE_VEIL
    from veilproof.errors import InputError, InsufficientFunds

    p = paths(home)
    sent: list[dict[str, Any]] = []
    try:
        if not Web3.is_address(to):
            raise InputError("to", "a 0x address", to)
        if veil < 0 or eth < 0 or (veil == 0 and eth == 0):
            raise InputError("--veil/--eth", "a positive amount of at least one", (veil, eth))
        net = open_network(p, chain_url)
        sender = load_account(p, account)
        to = Web3.to_checksum_address(to)
        wei, units = int(Decimal(str(eth)) * 10**18), int(Decimal(str(veil)) * ONE_VEIL)
        suite = attach_suite(p, net) if units else None
        if suite is not None:
            have = suite.token.balance_of(sender.address)
            if have < units:
                raise InputError(
                    "--veil",
                    f"at most {amount(have)} VEIL (what account {account!r} holds); nothing was sent",
                    veil,
                )
        price = int(net.w3.eth.gas_price)
        gas = (21_000 if wei else 0) + (_TOKEN_TRANSFER_GAS if units else 0)
        balance = net.balance(sender.address)
        if balance < wei + gas * price:
            if balance >= gas * price:  # the ether amount is the mistake, not an unfunded account
                raise InputError(
                    "--eth",
                    f"at most {amount(balance - gas * price)} ETH (account {account!r} holds "
                    f"{amount(balance)} ETH and pays the gas); nothing was sent",
                    eth,
                )
            raise InsufficientFunds(sender.address, balance, wei + gas * price, "the transfer")
        if wei:
            tx = {"to": to, "value": wei}
            r = net.transact(_EthTransfer(net, tx), sender=sender, gas=21_000, label="ether transfer")
            sent.append({"asset": "ETH", "amount": eth, "tx": r.tx_hash})
        if suite is not None:
            r = suite.token.transfer(to, units, sender=sender)
            sent.append({"asset": "VEIL", "amount": veil, "tx": r.tx_hash})
    except VeilproofError as err:
        if sent:
            done = ", ".join(f"{s['amount']:g} {s['asset']} (tx {s['tx']})" for s in sent)
            err = VeilproofError(f"{err}; already sent to {to}: {done}")
        fail(err)
    if json_out:
        emit_json({"from": sender.address, "to": to, "sent": sent})
        return
    for s_ in sent:
        console.print(f"sent {s_['amount']:g} {s_['asset']} to {to} (tx {s_['tx']})", soft_wrap=True)


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


def withdraw(
    chain_url: str | None = ChainUrl,
    home: str | None = Home,
    account: str = AccountName,
    json_out: bool = JsonOut,
) -> None:
    """Pull what JobMarket owes this account (node earnings, royalties, refunds)."""
    from veilproof.chain.deploy import ONE_VEIL

    with session(home, chain_url, account) as ctx:
        acct = ctx.signer
        owed = ctx.suite.market.pending(acct.address)
        tx = ctx.suite.market.withdraw(sender=acct).tx_hash if owed else None
    if json_out:
        emit_json({"account": acct.address, "veil": owed / ONE_VEIL, "tx": tx})
        return
    console.print(
        f"withdrew {amount(owed)} VEIL to {acct.address} (tx {tx})" if owed else "nothing to withdraw",
        soft_wrap=True,
    )
