"""Signatures that bind an HTTP request or a node's result to one job on one chain.

A client signs ``(chain id, job market, node, job id, sha256(body))``: the node checks the signer is
the job's client on chain, so a request cannot be forged, sent to another node, replayed for
another job, or altered in transit. A node signs its claimed result the same way the JobMarket's
``challenge_zk`` checks it, so a wrong result handed to a client is slashable evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from veilproof.errors import InputError


@dataclass(frozen=True)
class RequestSig:
    """The context a request signature covers."""

    chain_id: int
    market: str
    node: str
    job_id: int

    def digest(self, body: bytes) -> bytes:
        return keccak(
            encode(
                ["string", "uint256", "address", "address", "uint256", "bytes32"],
                [
                    "veilproof-request/1",
                    self.chain_id,
                    to_checksum_address(self.market),
                    to_checksum_address(self.node),
                    self.job_id,
                    hashlib.sha256(body).digest(),
                ],
            )
        )


def sign_request(account: LocalAccount, ctx: RequestSig, body: bytes) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(ctx.digest(body))).signature).hex()


def _recover(digest: bytes, signature: str, field: str) -> str:
    try:
        sig = bytes.fromhex(signature.removeprefix("0x"))
        if len(sig) != 65:
            raise ValueError("length")
        return str(Account.recover_message(encode_defunct(digest), signature=sig))
    except Exception as e:
        raise InputError(field, "a 65-byte hex secp256k1 signature", signature[:20]) from e


def recover_request_signer(ctx: RequestSig, body: bytes, signature: str) -> str:
    return _recover(ctx.digest(body), signature, "signature")


def eip191_hash(digest: bytes) -> bytes:
    """The hash a personal_sign signature covers: what an ERC-1271 wallet is asked to check."""
    return keccak(b"\x19Ethereum Signed Message:\n32" + digest)


def claim_digest(chain_id: int, market: str, job_id: int, instances: list[int], proof: bytes) -> bytes:
    """Exactly what JobMarket.challenge_zk rebuilds and ecrecovers (EIP-191 over this digest)."""
    inner = keccak(encode(["uint256[]"], [instances]))
    return keccak(
        encode(
            ["uint256", "address", "uint256", "bytes32", "bytes32"],
            [chain_id, to_checksum_address(market), job_id, inner, keccak(proof)],
        )
    )


@dataclass(frozen=True)
class ClaimSigner:
    account: LocalAccount
    chain_id: int
    market: str

    def sign(self, job_id: int, instances: list[int], proof: bytes) -> str:
        d = claim_digest(self.chain_id, self.market, job_id, instances, proof)
        return "0x" + bytes(self.account.sign_message(encode_defunct(d)).signature).hex()


def recover_claim_signer(
    chain_id: int, market: str, job_id: int, instances: list[int], proof: bytes, signature: str
) -> str:
    return _recover(claim_digest(chain_id, market, job_id, instances, proof), signature, "node_signature")
