"""Client SDK: discover models and nodes, pay for inference, verify, decrypt, settle or refund."""

from veilproof.client.client import Client, InferenceResult
from veilproof.client.errors import (
    ClientError,
    InferenceFailed,
    NodeMisbehaved,
    NodeRefused,
    NodeUnavailable,
    NoNodeAvailable,
    ProofRejected,
    ResultMismatch,
    WrongResult,
)
from veilproof.client.node_api import NodeApi
from veilproof.client.payer import DirectPayer, Payer
from veilproof.client.selection import NodeOffer, rank_offers

__all__ = [
    "Client",
    "ClientError",
    "DirectPayer",
    "InferenceFailed",
    "InferenceResult",
    "NoNodeAvailable",
    "NodeApi",
    "NodeMisbehaved",
    "NodeOffer",
    "NodeRefused",
    "NodeUnavailable",
    "Payer",
    "ProofRejected",
    "ResultMismatch",
    "WrongResult",
    "rank_offers",
]
