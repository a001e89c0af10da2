"""What nodes, clients and validators say to each other: request schemas, signing, input encryption.

The only module they share (see DESIGN.md "Layering"): node and client never import each other.
"""

from veilproof.protocol.envelope import decrypt_for_node, encrypt_for_node
from veilproof.protocol.signing import (
    ClaimSigner,
    RequestSig,
    claim_digest,
    recover_claim_signer,
    recover_request_signer,
    sign_request,
)

__all__ = [
    "ClaimSigner",
    "RequestSig",
    "claim_digest",
    "decrypt_for_node",
    "encrypt_for_node",
    "recover_claim_signer",
    "recover_request_signer",
    "sign_request",
]
