"""Client SDK: discover models and nodes, pay for inference, verify, decrypt, settle or refund."""

from veilproof.client.client import Client, InferenceResult
from veilproof.client.errors import ClientError, InferenceFailed, NodeMisbehaved, NoNodeAvailable
from veilproof.client.payer import DirectPayer, Payer
from veilproof.client.selection import NodeOffer, rank_offers

__all__ = [
    "Client",
    "ClientError",
    "DirectPayer",
    "InferenceFailed",
    "InferenceResult",
    "NoNodeAvailable",
    "NodeMisbehaved",
    "NodeOffer",
    "Payer",
    "rank_offers",
]
