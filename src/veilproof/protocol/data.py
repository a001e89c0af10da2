"""The data host's HTTP interface (compute-to-data, docs/data-market.md): routes and bodies.

One module for both sides, like :mod:`veilproof.protocol.api`: the host app and the buyer's client
import these names. A job request is signed by the sale's buyer (EIP-191 over
:func:`job_request_message`), so only the buyer who escrowed the sale receives its result.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

DATA_HEALTH = "/data/health"
DATA_JOBS = "/data/jobs"


def job_request_message(chain_id: int, registry: str, sale_id: int) -> bytes:
    """What the buyer signs (EIP-191 personal message) to ask for a sale's result."""
    return f"veilproof data job {chain_id}:{registry.lower()}:{sale_id}".encode()


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sale_id: int
    signature: str  # 0x-hex, 65 bytes, by the sale's buyer


class HostReceipt(BaseModel):
    """What the host signs and records on chain: this result came from this algorithm on this version."""

    model_config = ConfigDict(extra="forbid")
    chain_id: int
    registry: str
    sale_id: int
    record_root: str  # bare hex
    algo_hash: str
    result_hash: str
    host: str
    signature: str  # 0x-hex EIP-191 over receipt_digest(...)
    tx_hash: str  # the deliver transaction that recorded it


class JobResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: str  # the result package (canonical JSON text): model parameters and metrics, no rows
    receipt: HostReceipt
    seconds: float  # host-side time to load, decrypt and train


class DataError(BaseModel):
    detail: str
