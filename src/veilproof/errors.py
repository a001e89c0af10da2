"""Every failure a user can hit is a named exception from here.

Callers catch :class:`VeilproofError` to handle all of ours, or a subclass to react to one cause.
Each error says what was wrong and what was expected, so a CLI can print it as-is.
"""

from __future__ import annotations


class VeilproofError(Exception):
    """Base class of every veilproof error."""


class ConfigError(VeilproofError):
    """A setting, file or argument given to veilproof is missing or malformed."""


class InputError(VeilproofError, ValueError):
    """A value passed in by a user or a peer is invalid.

    ``field`` names the offending field; ``expected`` says what would have been accepted.
    """

    def __init__(self, field: str, expected: str, got: object | None = None) -> None:
        self.field = field
        self.expected = expected
        self.got = got
        msg = f"{field}: expected {expected}"
        if got is not None:
            shown = repr(got)
            msg += f", got {shown[:80] + '...' if len(shown) > 80 else shown}"
        super().__init__(msg)


# --- chain -----------------------------------------------------------------------------------------
class ChainError(VeilproofError):
    """The chain could not be reached or did something unexpected."""


class ContractReverted(ChainError):
    """A contract call or transaction reverted; ``reason`` is the contract's own revert string."""

    def __init__(self, reason: str, function: str | None = None, tx_hash: str | None = None) -> None:
        self.reason = reason
        self.function = function
        self.tx_hash = tx_hash
        where = f" in {function}" if function else ""
        super().__init__(f"reverted{where}: {reason}")


class InsufficientFunds(ChainError):
    """An account cannot pay a transaction's gas (and value): nothing was sent.

    ``address`` is the account, ``balance`` and ``needed`` are in wei (``needed`` 0 when unknown),
    ``action`` names the transaction.
    """

    def __init__(self, address: str, balance: int, needed: int, action: str) -> None:
        self.address = address
        self.balance = balance
        self.needed = needed
        self.action = action
        need = f", needs {needed / 10**18:g}" if needed else ""
        super().__init__(
            f"account {address} cannot pay for {action}: it holds {balance / 10**18:g} ETH{need}; "
            f"send it ether, e.g. `veilproof transfer {address} --eth 1`"
        )


class TransactionFailed(ChainError):
    """A transaction was mined with status 0 and no revert reason (e.g. out of gas, oversized deploy)."""


class KeystoreError(VeilproofError):
    """A keystore could not be read, decrypted or written."""


# --- artifacts -------------------------------------------------------------------------------------
class ArtifactError(VeilproofError):
    """An artifact is missing from the store."""


class IntegrityError(ArtifactError):
    """An artifact's bytes do not hash to the commitment it was fetched under."""

    def __init__(self, name: str, expected: str, actual: str) -> None:
        self.name = name
        self.expected = expected
        self.actual = actual
        super().__init__(f"{name}: sha256 {actual} does not match commitment {expected}")


# --- data market (DataRegistry, docs/data-market.md) -----------------------------------------------
class DataError(VeilproofError):
    """A data-market operation was refused (consent, version, sale or data host)."""


class DataReverted(DataError, ContractReverted):
    """DataRegistry refused a call; the subclass names why (its ``reason`` is the contract's)."""


class ConsentForged(DataReverted):
    """A consent's signature is not its subject's over exactly this (dataset, record, uses, expiry, nonce)."""


class ConsentExpired(DataReverted):
    """A consent's expiry has passed: ask the subject for a fresh consent."""


class ConsentRevoked(DataReverted):
    """The subject revoked this record's consent (or cancelled its nonce); it cannot be used again."""


class ConsentWrongDataset(DataReverted):
    """A consent signed for one dataset was presented for another (a replay across datasets)."""


class ConsentReplayed(DataReverted):
    """The record is already registered in this dataset under a consent (a consent is used once)."""


class ConsentScope(DataReverted):
    """The consent allows fewer uses than the dataset's policy sells."""


class RecordRevoked(DataReverted):
    """A version names a record whose consent was revoked: commit the version without it."""


class VersionTainted(DataReverted):
    """The version contains a revoked record (proven on chain): it can no longer be sold."""


class DataHostError(DataError):
    """A data host refused a job or returned something that does not match its receipt."""
