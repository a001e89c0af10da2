"""The one place that calls into EZKL's Python bindings and maps its RuntimeErrors to typed errors.

EZKL's ``create_evm_verifier``/``create_evm_vka``/``get_srs`` are coroutines that need a running event
loop even to be created, so :func:`run_async` wraps them.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

import ezkl

from veilproof.zk.errors import EzklError, UnsupportedOpError

T = TypeVar("T")

_UNIMPLEMENTED = re.compile(r"Unimplemented\((\w+)\)|unsupported operation:?\s*(\w+)", re.IGNORECASE)


def translate(exc: BaseException, what: str) -> Exception:
    """Turn an EZKL RuntimeError into our error type (UnsupportedOpError when an op is named)."""
    msg = str(exc)
    m = _UNIMPLEMENTED.search(msg)
    if m:
        return UnsupportedOpError(m.group(1) or m.group(2), msg)
    return EzklError(f"{what}: {msg}")


class RunArgs(Protocol):
    """The fields of ``ezkl.PyRunArgs`` veilproof sets (visibilities are accepted as strings)."""

    input_visibility: str
    output_visibility: str
    param_visibility: str
    decomp_base: int
    decomp_legs: int


def run_args() -> RunArgs:
    """A fresh ``ezkl.PyRunArgs`` (EZKL's defaults)."""
    # cast: ezkl's __init__.pyi declares PyRunArgs with no attributes, the runtime class has them all.
    return cast(RunArgs, ezkl.PyRunArgs())


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except RuntimeError as e:
        raise translate(e, what) from e


def run_async(what: str, factory: Callable[[], Awaitable[T]]) -> T:
    """Run an EZKL coroutine (created inside the loop, as EZKL requires) to completion."""

    async def _main() -> T:
        return await factory()

    try:
        return asyncio.run(_main())
    except RuntimeError as e:
        raise translate(e, what) from e


__all__ = ["RunArgs", "call", "ezkl", "run_args", "run_async", "translate"]
