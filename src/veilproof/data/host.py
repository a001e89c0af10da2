"""A data host: holds a dataset's raw records (encrypted at rest) and runs committed algorithms on a
version for a buyer who escrowed a sale; only the result package and a signed receipt leave.

Why the algorithm goes to the data: the buyer needs a model or a metric, not the rows; the
contributors consented to uses, not to copies. The host checks everything it can before running
(the sale is open and is for a dataset it hosts, the request is signed by the sale's buyer, the
algorithm hash is one it knows, the records it holds for the version hash to the version's on-chain
root), then records the result hash on chain (which releases the escrow to curator and
contributors) and signs a receipt binding (record root, algorithm hash, result hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from veilproof.chain.data_registry import SALE_OPEN, DataRegistry, sorted_records, version_root
from veilproof.data.algorithms import LogisticRegressionJob, shapley_scores
from veilproof.data.records import Record
from veilproof.data.store import EncryptedStore
from veilproof.errors import DataError, DataHostError, InputError, VeilproofError
from veilproof.protocol.data import (
    DATA_HEALTH,
    DATA_JOBS,
    HostReceipt,
    JobRequest,
    JobResponse,
    job_request_message,
)


def receipt_digest(
    chain_id: int, registry: str, sale_id: int, root: bytes, algo: bytes, result: bytes
) -> bytes:
    """keccak256(abi_encode(chain id, registry, sale, record root, algo hash, result hash)): what the
    host signs (EIP-191); the same triple is in the registry's ResultRecorded event."""
    return keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32", "bytes32", "bytes32"],
            [chain_id, to_checksum_address(registry), sale_id, root, algo, result],
        )
    )


def recover_receipt_signer(r: HostReceipt) -> str:
    d = receipt_digest(
        r.chain_id, r.registry, r.sale_id, bytes.fromhex(r.record_root), bytes.fromhex(r.algo_hash),
        bytes.fromhex(r.result_hash),
    )  # fmt: skip
    return str(Account.recover_message(encode_defunct(d), signature=r.signature))


@dataclass
class DataHost:
    """The host's state: its chain identity, its encrypted store and the versions it can serve."""

    registry: DataRegistry
    account: LocalAccount
    store: EncryptedStore
    algorithms: Sequence[LogisticRegressionJob] = (LogisticRegressionJob(),)

    def __post_init__(self) -> None:
        self._versions: dict[int, list[bytes]] = {}
        self._lock = threading.Lock()

    def ingest(self, rec: Record) -> bytes:
        """Take a contributor's record (sealed at rest); returns its hash."""
        return self.store.put(rec)

    def add_version(self, version_id: int, record_hashes: Sequence[bytes]) -> None:
        """Serve ``version_id`` from these records: each must be in the store and together they must
        hash to the version's on-chain record root (so the host runs on exactly that version)."""
        v = self.registry.read_version(version_id)
        if to_checksum_address(self.registry.read_dataset(v.dataset_id).host) != self.account.address:
            raise DataHostError(f"dataset {v.dataset_id} is hosted by another address")
        if version_root(record_hashes).hex() != v.record_root:
            raise DataHostError(f"records do not hash to version {version_id}'s root {v.record_root}")
        missing = [h.hex() for h in record_hashes if not self.store.has(h)]
        if missing:
            raise DataHostError(
                f"{len(missing)} records of version {version_id} not in the store: {missing[:3]}"
            )
        self._versions[version_id] = sorted_records(record_hashes)

    def quality_scores(self, version_id: int, held_out_x: Any, held_out_y: Any) -> list[int]:
        """Shapley scores (held-out log-loss) of the version's contributors (in ``contributors(version_id)`` order)
        on a scorer's held-out set, computed here where the rows are; rows are credited to whoever
        registered them first, so a contributor who copies rows scores 0 (see
        :func:`veilproof.data.algorithms.shapley_scores`)."""
        records = self._versions.get(version_id)
        if records is None:
            raise DataHostError(f"this host does not serve version {version_id}")
        reg = self.registry
        v = reg.read_version(version_id)
        subjects = reg.contributors(version_id).subjects
        in_version = set(records)
        order = [h for h in reg.registration_order(v.dataset_id) if h in in_version]
        owner = {h: reg.read_record(v.dataset_id, h).subject for h in order}
        rows = {h: self.store.get(h) for h in order}
        first_owner: dict[bytes, str] = {}  # row content -> who registered it first
        for h in order:
            first_owner.setdefault(rows[h].content(), owner[h])
        contributions: list[list[Record]] = [[] for _ in subjects]
        for h in order:
            if first_owner[rows[h].content()] == owner[h]:
                contributions[subjects.index(owner[h])].append(rows[h])
        return shapley_scores(self.algorithms[0], contributions, held_out_x, held_out_y)

    def _algorithm(self, algo_hash: str) -> LogisticRegressionJob:
        for a in self.algorithms:
            if a.algo_hash.hex() == algo_hash:
                return a
        raise DataHostError(f"algorithm {algo_hash} is not one this host runs")

    def run_sale(self, req: JobRequest) -> JobResponse:
        """Check, run, record on chain, sign: the whole compute-to-data job for one sale."""
        with self._lock:  # one job at a time: the deliver transaction must not race another
            t0 = time.perf_counter()
            sale = self.registry.read_sale(req.sale_id)
            reg = self.registry
            msg = job_request_message(reg.net.chain_id, reg.address, req.sale_id)
            try:
                signer = Account.recover_message(encode_defunct(msg), signature=req.signature)
            except Exception as e:
                raise InputError(
                    "signature", "65-byte EIP-191 signature by the sale's buyer", req.signature
                ) from e
            if signer != to_checksum_address(sale.buyer):
                raise DataHostError(f"sale {req.sale_id} was bought by {sale.buyer}, not {signer}")
            if sale.state != SALE_OPEN:
                raise DataHostError(f"sale {req.sale_id} is not open (state {sale.state})")
            algo = self._algorithm(sale.algo_hash)
            records = self._versions.get(sale.version_id)
            if records is None:
                raise DataHostError(f"this host does not serve version {sale.version_id}")
            root = bytes.fromhex(reg.read_version(sale.version_id).record_root)
            rows = [self.store.get(h) for h in records]
            result = algo.run(rows, root)
            seconds = time.perf_counter() - t0
            result_hash = hashlib.sha256(result).digest()
            rcpt = reg.deliver(req.sale_id, result_hash, sender=self.account)
            digest = receipt_digest(
                reg.net.chain_id, reg.address, req.sale_id, root, algo.algo_hash, result_hash
            )
            sig = self.account.sign_message(encode_defunct(digest)).signature
            receipt = HostReceipt(
                chain_id=reg.net.chain_id, registry=reg.address, sale_id=req.sale_id, record_root=root.hex(),
                algo_hash=algo.algo_hash.hex(), result_hash=result_hash.hex(), host=self.account.address,
                signature="0x" + bytes(sig).hex(), tx_hash=rcpt.tx_hash,
            )  # fmt: skip
            return JobResponse(result=result.decode(), receipt=receipt, seconds=seconds)


def create_app(host: DataHost) -> FastAPI:
    """The host's HTTP face: health and one job route; every refusal is JSON ``{"detail": ...}``."""
    app = FastAPI(title="veilproof data host", version="1")

    @app.get(DATA_HEALTH)
    def health() -> dict[str, str]:
        return {"status": "ok", "host": host.account.address}

    @app.post(DATA_JOBS, response_model=JobResponse)
    async def job(req: JobRequest) -> JobResponse | JSONResponse:
        try:
            return await asyncio.to_thread(host.run_sale, req)
        except InputError as e:
            return JSONResponse({"detail": str(e)}, status_code=422)
        except DataError as e:  # the host's own refusal, or the registry's (e.g. a tainted version)
            return JSONResponse({"detail": str(e)}, status_code=409)
        except VeilproofError as e:
            return JSONResponse({"detail": str(e)}, status_code=502)

    return app


@contextmanager
def serve(host: DataHost, port: int = 0) -> Iterator[str]:
    """Run the host's app on 127.0.0.1 in a thread (a real TCP socket); yields its base URL."""
    import socket

    if port == 0:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(host), host="127.0.0.1", port=port, log_level="warning")
    )
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise DataHostError(f"data host did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        t.join(timeout=10)
