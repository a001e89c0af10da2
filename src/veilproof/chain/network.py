"""``Network``: the one object the rest of veilproof uses to talk to a chain.

It signs every transaction locally (keys never leave the process, never reach a node's RPC),
checks every receipt's status, and maps reverts to :class:`ContractReverted` with the reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import TransactionIndexingInProgress, TransactionNotFound
from web3.types import TxReceipt

from veilproof.chain.backend import ChainBackend
from veilproof.chain.compiler import compile_contract
from veilproof.chain.reverts import mapped_reverts
from veilproof.errors import ChainError, ContractReverted, InputError, InsufficientFunds, TransactionFailed

DEV_FUNDING_WEI = 10**21  # 1000 ETH for gas on dev chains
_UNFUNDED = ("insufficient funds", "cannot afford txn", "not have enough balance")
_GAS_MARGIN = 1.25
#: What a chain says when a transaction's nonce was taken (by another process sending from the same
#: key, or a transaction of ours it already has): anvil/geth "nonce too low", "already known",
#: "replacement transaction underpriced"; py-evm "Invalid transaction nonce".
_NONCE_TAKEN = ("nonce", "already known", "replacement transaction")
#: web3 middleware veilproof does not need, removed from every connection: each costs CPU on every
#: request, and "validation" also sent an ``eth_chainId`` before every call, estimate and send (half of
#: a node's JSON-RPC requests; measured in bench/network.py). Validation only compares a ``chainId``
#: field with the chain's, and veilproof's own transactions are signed locally with the id
#: :attr:`Network.chain_id` read once (the chain rejects a signature for another id anyway); names
#: are never ENS names here (every address is checksummed by the facades).
_UNNEEDED_MIDDLEWARE = ("validation", "ens_name_to_address")
#: How long a base fee read from the latest block is used for new transactions' ``maxFeePerGas``
#: (2 x base fee + tip, web3's own rule). The 2x headroom covers the base fee's largest rise over five
#: full blocks (12.5 % each), far more than it can move in this time on any chain.
BASE_FEE_TTL_S = 2.0
#: How long the chain's suggested priority fee (``eth_maxPriorityFeePerGas``) is reused: a tip a little
#: stale makes a transaction no less valid (it is a bid on top of the base fee, which is fresh).
TIP_TTL_S = 30.0
#: How long after a sender's last transaction its counted nonce is trusted without asking the chain.
#: A busy sender (a node under load: a transaction every second or so) never asks; one idle for
#: longer reads ``pending`` again, so a chain that lost state meanwhile (a dev chain killed and
#: restarted, a reorg) cannot leave the count ahead of it: a nonce beyond the chain's count is not
#: refused, the transaction just waits in the pool forever.
NONCE_TRUST_S = 2.0


@dataclass(frozen=True)
class Receipt:
    """The part of a receipt callers use, plus the raw one."""

    tx_hash: str
    gas_used: int
    block_number: int
    contract_address: ChecksumAddress | None
    raw: TxReceipt


class Network:
    """A chain connection plus local signing.

    ``transact`` serialises nonces per sender with a lock, so threads in one process (a node's
    worker pool) can send concurrently from one account without nonce races.

    What it caches, and how each cache learns it is stale (a transaction costs 3 requests instead of 6:
    estimate, send, receipt):

    * the chain id: read once (a chain does not change its id);
    * each sender's next nonce: read from the chain (``pending``) at the sender's first transaction,
      then counted here under the sender's lock while the sender keeps sending (a count older than
      :data:`NONCE_TRUST_S` is read again: a reset chain). Another process sending from the same key takes
      nonces behind this one's back: the chain refuses the next send ("nonce too low" /
      "replacement transaction underpriced"), and the nonce is read again and the send retried once.
      Any other failed send, or a transaction that never gets a receipt, forgets the count too (the
      next transaction reads it);
    * the fee parameters: the base fee of a latest block read at most :data:`BASE_FEE_TTL_S` ago (also
      refreshed by every :meth:`now`, which reads that block anyway) and the suggested tip for
      :data:`TIP_TTL_S` (see there why that is safe).
    """

    def __init__(self, backend: ChainBackend) -> None:
        self.backend = backend
        self.w3: Web3 = backend.w3
        for name in _UNNEEDED_MIDDLEWARE:
            if name in self.w3.middleware_onion:
                self.w3.middleware_onion.remove(name)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._chain_id: int | None = None
        # sender -> (next nonce, monotonic time of its last transaction): see the class docstring
        self._nonces: dict[str, tuple[int, float]] = {}
        self._base_fee: tuple[float, int | None] | None = None  # (monotonic time read, base fee)
        self._tip: tuple[float, int] | None = None
        # Bumped by revert(): what was read before describes an abandoned history.
        self.history_epoch = 0
        # Transactions this process got mined, per contract address (lower case): a chain view looks
        # at the chain at once after one to a contract it watches (veilproof.chain.view).
        self.writes_to: dict[str, int] = {}

    def writes_of(self, addresses: list[str]) -> int:
        """How many transactions this process got mined to any of ``addresses`` (lower case)."""
        return sum(self.writes_to.get(a, 0) for a in addresses)

    # --- info ------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.backend.kind

    @property
    def chain_id(self) -> int:
        """Read once per connection (every transaction needs it; a chain does not change its id)."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def now(self) -> int:
        """Timestamp of the latest block: the clock contracts see."""
        return self.latest()[1]

    def latest(self) -> tuple[int, int]:
        """(number, timestamp) of the latest block. (Its base fee is kept for :meth:`_fees`.)"""
        block = self.w3.eth.get_block("latest")
        self._base_fee = (time.monotonic(), _int_or_none(block.get("baseFeePerGas")))
        return int(block["number"]), int(block["timestamp"])

    def _fees(self) -> dict[str, int]:
        """``maxFeePerGas`` / ``maxPriorityFeePerGas`` for a new transaction, as web3 would fill them
        (2 x latest base fee + suggested tip) from readings at most :data:`BASE_FEE_TTL_S` /
        :data:`TIP_TTL_S` old; empty on a chain without a base fee (web3 then fills ``gasPrice``)."""
        t = time.monotonic()
        if self._base_fee is None or t - self._base_fee[0] > BASE_FEE_TTL_S:
            self.latest()  # it keeps the latest block's base fee
        base = self._base_fee[1] if self._base_fee is not None else None
        if base is None:
            return {}
        if self._tip is None or t - self._tip[0] > TIP_TTL_S:
            self._tip = (t, int(self.w3.eth.max_priority_fee))
        tip = self._tip[1]
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base + tip}

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    def gas_price(self) -> int:
        """The chain's current gas price in wei (what a multi-transaction action budgets with)."""
        return int(self.w3.eth.gas_price)

    def head(self) -> int:
        """The latest block number (an indexer reads up to here)."""
        return int(self.w3.eth.block_number)

    def block_timestamp(self, number: int) -> int:
        """The timestamp of block ``number``: when the events in it happened, for timelines."""
        return int(self.w3.eth.get_block(number)["timestamp"])

    def gas_used(self, tx_hash: str) -> int:
        """Gas a mined transaction used (its receipt's ``gasUsed``)."""
        return int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])  # type: ignore[arg-type]  # a 0x hex str

    # --- accounts --------------------------------------------------------------------------------
    def new_accounts(self, n: int = 1, fund_wei: int = DEV_FUNDING_WEI) -> list[LocalAccount]:
        """Fresh random accounts with ether for gas (dev chains only)."""
        accts = [Account.create() for _ in range(n)]
        for a in accts:
            self.backend.fund(a.address, fund_wei)
        return accts

    def fund(self, address: str, wei: int = DEV_FUNDING_WEI) -> None:
        self.backend.fund(address, wei)

    def time_travel(self, seconds: int) -> None:
        """Mine a block ``seconds`` after the latest one (dev chains)."""
        self.backend.time_travel(seconds)

    def advance_to(self, timestamp: int) -> None:
        """Mine a block at exactly ``timestamp`` (dev chains); no-op if the chain is already past it.

        Other senders keep mining on a shared dev chain, so a block may land past ``timestamp`` between
        the check and the call (anvil then refuses the timestamp): that is "already past it" too."""
        if timestamp > self.now():
            try:
                self.backend.advance_to(timestamp)
            except ChainError:
                if self.now() < timestamp:
                    raise

    def snapshot(self) -> Any:
        """Remember the dev chain's state (eth-tester's snapshot, or anvil's ``evm_snapshot``) for
        :meth:`revert`: a property test runs many histories from one deployment."""
        if self.kind == "embedded":
            return self.backend.tester.take_snapshot()  # type: ignore[attr-defined]
        return self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]

    def revert(self, snap: Any) -> None:
        """Put the dev chain back to ``snap`` and forget this process's nonce counts and fee readings:
        they describe the abandoned history. A count left ahead of the chain is not refused by anvil,
        the next transaction would wait in its pool forever (a stateful test hung 300 s per send so)."""
        if self.kind == "embedded":
            self.backend.tester.revert_to_snapshot(snap)  # type: ignore[attr-defined]
        else:
            ok = self.w3.provider.make_request("evm_revert", [snap])["result"]  # type: ignore[arg-type]
            if not ok:
                raise ChainError(f"the chain has no snapshot {snap!r} (anvil consumes a snapshot on revert)")
        self._nonces.clear()
        self._base_fee = None
        self._tip = None
        self.history_epoch += 1  # chain views drop what they read (veilproof.chain.view)

    # --- contracts -------------------------------------------------------------------------------
    def contract(self, name: str, address: str) -> Contract:
        """A handle on deployed contract ``name`` (ABI from contracts/<name>.vy)."""
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=compile_contract(name).abi)

    def deploy(self, name: str, *args: Any, sender: LocalAccount) -> Contract:
        """Compile ``contracts/<name>.vy`` and deploy it; returns the bound contract."""
        c = compile_contract(name)
        return self.deploy_bytecode(c.abi, c.bytecode, *args, sender=sender, label=name)

    def deploy_bytecode(
        self,
        abi: list[dict[str, Any]],
        bytecode: str,
        *args: Any,
        sender: LocalAccount,
        label: str = "contract",
    ) -> Contract:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        rcpt = self.transact(factory.constructor(*args), sender=sender, label=f"deploy {label}")
        if not rcpt.contract_address:
            raise TransactionFailed(f"deploy {label}: no contract address in receipt {rcpt.tx_hash}")
        code = self.w3.eth.get_code(rcpt.contract_address)
        if len(code) == 0:
            raise TransactionFailed(
                f"deploy {label}: no code at {rcpt.contract_address} (over EIP-170's size limit?)"
            )
        return self.w3.eth.contract(address=rcpt.contract_address, abi=abi)

    # --- calls and transactions ------------------------------------------------------------------
    def call(self, fn: ContractFunction, sender: str | None = None) -> Any:
        """Read-only call; reverts raise ContractReverted."""
        with mapped_reverts(getattr(fn, "fn_name", None)):
            return fn.call({"from": sender} if sender else {})

    def _lock(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(address, threading.Lock())

    def transact(
        self,
        fn: Any,
        sender: LocalAccount,
        value: int = 0,
        gas: int | None = None,
        label: str | None = None,
    ) -> Receipt:
        """Sign locally, send, wait, and check the receipt.

        The gas estimate runs the call first, so a revert is reported with its reason before any
        transaction is broadcast. A mined transaction with status 0 is replayed as a call to
        recover the reason.
        """
        if not isinstance(sender, LocalAccount):
            raise InputError("sender", "an eth_account LocalAccount (keys are signed locally)", type(sender))
        name = label or getattr(fn, "fn_name", None) or "transaction"
        with self._lock(sender.address):
            params: dict[str, Any] = {"from": sender.address, "value": value}
            with self._unfunded(sender.address, name, value), mapped_reverts(name):
                if gas is None:
                    params["gas"] = int(fn.estimate_gas(params) * _GAS_MARGIN) + 10_000
                else:
                    params["gas"] = gas
                params["chainId"] = self.chain_id
                params.update(self._fees())
            tx, tx_hash = self._send_signed(fn, params, sender, name, value)
            try:
                raw = self._wait_receipt(tx_hash, timeout=300)
            except Exception as e:
                # never mined (dropped, or the chain was reset under it): the count may be ahead of the chain
                self._nonces.pop(sender.address, None)
                raise ChainError(f"{name}: no receipt for {tx_hash.hex()}: {e}") from e
        rcpt = Receipt(
            tx_hash="0x" + bytes(raw["transactionHash"]).hex().removeprefix("0x"),
            gas_used=int(raw["gasUsed"]),
            block_number=int(raw["blockNumber"]),
            contract_address=raw.get("contractAddress"),
            raw=raw,
        )
        to = getattr(fn, "address", None)  # chain views watching it look again before their next read
        if isinstance(to, str):
            self.writes_to[to.lower()] = self.writes_to.get(to.lower(), 0) + 1
        if raw["status"] != 1:
            self._raise_for_failed(tx, raw, name, rcpt.tx_hash)
        return rcpt

    def _send_signed(
        self, fn: Any, params: dict[str, Any], sender: LocalAccount, name: str, value: int
    ) -> tuple[dict[str, Any], Any]:
        """Build with this process's next nonce for ``sender``, sign, send; returns (tx, hash). Called
        under the sender's lock. A nonce the chain says is taken (another process sent from this key)
        is read again from the chain and the send retried once; any other failure forgets the count."""
        addr = sender.address
        for attempt in (0, 1):
            counted = self._nonces.get(addr)
            if counted is not None and time.monotonic() - counted[1] < NONCE_TRUST_S:
                nonce = counted[0]
            else:
                with mapped_reverts(name):
                    nonce = int(self.w3.eth.get_transaction_count(addr, "pending"))
            params["nonce"] = nonce
            with self._unfunded(addr, name, value), mapped_reverts(name):
                tx = fn.build_transaction(params)
            signed = sender.sign_transaction(tx)
            try:
                with self._unfunded(addr, name, value, tx), mapped_reverts(name):
                    tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception as e:
                self._nonces.pop(addr, None)
                if attempt == 0 and _nonce_taken(e):
                    continue
                raise
            self._nonces[addr] = (nonce + 1, time.monotonic())
            return tx, tx_hash
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _wait_receipt(self, tx_hash: Any, timeout: float) -> TxReceipt:
        """The receipt, polled after 5 ms, then at doubling intervals up to 0.5 s.

        Why not web3's ``wait_for_transaction_receipt``: it sleeps a fixed 0.1 s after a miss, and
        anvil answers a heavy transaction's receipt a few ms after ``send`` (a Halo2 verification:
        measured, every ZK submit paid ~0.1 s of sleep, 5-10 % of a small model's proof). A chain with
        seconds-long blocks is polled at most twice a second, as before at most ten times."""
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(tx_hash)
            except (TransactionNotFound, TransactionIndexingInProgress):
                pass
            if time.monotonic() > deadline:
                raise ChainError(f"not mined after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(2 * delay, 0.5)

    @contextmanager
    def _unfunded(
        self, address: str, name: str, value: int, tx: dict[str, Any] | None = None
    ) -> Iterator[None]:
        """Re-raise a node's "cannot pay" refusal (py-evm: "cannot afford txn gas" / "does not have enough
        balance"; geth/anvil: "insufficient funds") as :class:`InsufficientFunds` naming the account."""
        try:
            yield
        except Exception as e:
            msg = str(e).lower()
            if not any(k in msg for k in _UNFUNDED):
                raise
            needed = 0
            if tx is not None:
                price = int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)
                needed = int(tx.get("gas", 0)) * price + value
            raise InsufficientFunds(address, self.balance(address), needed, name) from e

    def _raise_for_failed(self, tx: dict[str, Any], raw: TxReceipt, name: str, tx_hash: str) -> None:
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            with mapped_reverts(name):
                self.w3.eth.call(replay, raw["blockNumber"] - 1)  # type: ignore[arg-type]  # a subset of a built TxParams
        except ContractReverted as e:
            e.tx_hash = tx_hash
            raise
        except Exception:
            pass
        raise TransactionFailed(
            f"{name}: transaction {tx_hash} failed with status 0 (gas used {raw['gasUsed']} of {tx.get('gas')})"
        )

    def close(self) -> None:
        self.backend.close()


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def _nonce_taken(e: BaseException) -> bool:
    """Whether a refused send says its nonce was used already (see :data:`_NONCE_TAKEN`); the
    backend's own error may be wrapped (``mapped_reverts`` maps py-evm's ValidationError)."""
    seen: BaseException | None = e
    while seen is not None:
        msg = str(seen).lower()
        if any(k in msg for k in _NONCE_TAKEN):
            return True
        seen = seen.__cause__
    return False


def connect(url: str | None = None, *, allow_large_contracts: bool = False) -> Network:
    """Connect to a chain: embedded py-evm when ``url`` is None or "embedded", else JSON-RPC."""
    if not url or url == "embedded":
        from veilproof.chain.dev.embedded import EmbeddedBackend

        return Network(EmbeddedBackend(allow_large_contracts=allow_large_contracts))
    if not url.startswith(("http://", "https://")):
        raise InputError("chain url", "http(s)://host:port or 'embedded'", url)
    from veilproof.chain.rpc import RpcBackend

    return Network(RpcBackend(url))
