"""The buyer's side of compute-to-data: escrow a sale, ask the host, check what came back.

Why check: the buyer pays for a result of *this* algorithm on *this* version. The result is
accepted only if its sha256 is the hash the host recorded on chain for the sale, the receipt is
signed by the dataset's host, and it names the version's record root and the sale's algorithm.
What the buyer cannot check alone (that the host really ran the algorithm on those records) is in
docs/data-market.md.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import httpx
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.data_registry import USE_TRAINING, DataRegistry
from veilproof.chain.token import Token
from veilproof.data.algorithms import LogisticRegressionJob
from veilproof.data.host import recover_receipt_signer
from veilproof.errors import DataHostError
from veilproof.protocol.data import DATA_JOBS, HostReceipt, JobRequest, JobResponse, job_request_message


@dataclass(frozen=True)
class DataResult:
    sale_id: int
    package: bytes  # the result package (model parameters, no rows)
    receipt: HostReceipt
    host_seconds: float  # the host's load + decrypt + train time
    seconds: float  # the buyer's wall time: buy, request, deliver on chain, checks


class DataBuyer:
    def __init__(
        self, registry: DataRegistry, account: LocalAccount, host_url: str, timeout: float = 300
    ) -> None:
        self.registry = registry
        self.account = account
        self.host_url = host_url.rstrip("/")
        self.timeout = timeout

    def buy(self, version_id: int, algo: LogisticRegressionJob, use: int = USE_TRAINING) -> int:
        """Approve the price and escrow one use of ``version_id`` for ``algo``; returns the sale id."""
        v = self.registry.read_version(version_id)
        price = self.registry.read_dataset(v.dataset_id).price
        token = Token(self.registry.net, self.registry.token())
        if token.allowance(self.account.address, self.registry.address) < price:
            token.approve(self.registry.address, price, sender=self.account)
        return self.registry.buy(version_id, use, algo.algo_hash, sender=self.account)

    def fetch(self, sale_id: int) -> tuple[JobResponse, bytes]:
        """Ask the host to run the sale; returns the parsed answer and the raw bytes on the wire."""
        reg = self.registry
        msg = job_request_message(reg.net.chain_id, reg.address, sale_id)
        sig = "0x" + bytes(self.account.sign_message(encode_defunct(msg)).signature).hex()
        body = JobRequest(sale_id=sale_id, signature=sig).model_dump()
        r = httpx.post(self.host_url + DATA_JOBS, json=body, timeout=self.timeout)
        if r.status_code != 200:
            raise DataHostError(f"data host refused sale {sale_id} ({r.status_code}): {r.text[:300]}")
        return JobResponse.model_validate_json(r.content), r.content

    def check(self, sale_id: int, resp: JobResponse) -> bytes:
        """The result package, once it matches the chain and the host's receipt; DataHostError if not."""
        reg = self.registry
        sale = reg.read_sale(sale_id)
        v = reg.read_version(sale.version_id)
        host = reg.read_dataset(v.dataset_id).host
        package = resp.result.encode()
        rc = resp.receipt
        got = hashlib.sha256(package).hexdigest()
        problems = []
        if got != rc.result_hash or got != sale.result_hash:
            problems.append(f"result sha256 {got} != receipt {rc.result_hash} / chain {sale.result_hash}")
        if rc.record_root != v.record_root or rc.algo_hash != sale.algo_hash or rc.sale_id != sale_id:
            problems.append("receipt names another version root, algorithm or sale")
        if recover_receipt_signer(rc) != to_checksum_address(host):
            problems.append(f"receipt not signed by the dataset's host {host}")
        if problems:
            raise DataHostError(f"sale {sale_id}: " + "; ".join(problems))
        return package

    def run(self, version_id: int, algo: LogisticRegressionJob, use: int = USE_TRAINING) -> DataResult:
        """Buy, fetch, check: the whole compute-to-data purchase."""
        t0 = time.perf_counter()
        sale_id = self.buy(version_id, algo, use)
        resp, _ = self.fetch(sale_id)
        package = self.check(sale_id, resp)
        return DataResult(sale_id, package, resp.receipt, resp.seconds, time.perf_counter() - t0)
