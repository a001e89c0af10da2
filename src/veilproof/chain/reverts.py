"""Turn whatever a backend raised on revert into :class:`veilproof.errors.ContractReverted`.

eth-tester raises ``TransactionFailed``, web3 raises ``ContractLogicError`` (anvil), and a mined
transaction can simply come back with status 0. Callers should see one exception with the
contract's own reason string in all three cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eth_abi import decode
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError

from veilproof.errors import ChainError, ContractReverted

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


def decode_revert_data(data: bytes | str | None) -> str | None:
    """Decode ABI ``Error(string)`` revert data; None when there is none."""
    if data is None:
        return None
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data.removeprefix("0x"))
        except ValueError:
            return None
    if data[:4] == ERROR_SELECTOR:
        try:
            return str(decode(["string"], data[4:])[0])
        except Exception:
            return None
    return None


def reason_of(exc: BaseException) -> str:
    """Best human reason for a revert exception from any backend."""
    data = getattr(exc, "data", None)
    decoded = decode_revert_data(data) if isinstance(data, (bytes, str)) else None
    if decoded:
        return decoded
    msg = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    msg = str(msg)
    for prefix in ("execution reverted: ", "execution reverted:", "execution reverted"):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :].strip()
            break
    return msg or "reverted without a reason"


@contextmanager
def mapped_reverts(function: str | None = None) -> Iterator[None]:
    """Re-raise backend revert exceptions as ContractReverted(reason, function)."""
    try:
        yield
    except ContractReverted:
        raise
    except (ContractLogicError, ContractCustomError, ContractPanicError) as e:
        raise ContractReverted(reason_of(e), function) from e
    except Exception as e:
        name = type(e).__name__
        if name in ("TransactionFailed", "ValidationError") and "eth_tester" in type(e).__module__:
            raise ContractReverted(reason_of(e), function) from e
        if isinstance(e, ValueError) and "revert" in str(e).lower():
            raise ContractReverted(reason_of(e), function) from e
        # requests' ConnectionError/Timeout are OSErrors (IOError), not the builtin ConnectionError.
        if isinstance(e, (ConnectionError, TimeoutError, OSError)):
            raise ChainError(f"chain unreachable during {function or 'call'}: {e}") from e
        raise
