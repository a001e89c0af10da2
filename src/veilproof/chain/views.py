"""Typed reads of the suite's structs, shared by nodes, clients, validators and the CLI.

Struct returns come back from web3 as tuples in declaration order; the facades
(:mod:`veilproof.chain.job_market`, ``model_registry``, ``node_registry``) give them names once.
This module keeps the older spelling — ``read_job(suite, id)``, ``OPEN``, ``MODE_ZK`` — for callers
that hold a :class:`~veilproof.chain.suite.Suite`; each function is the facade's verb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veilproof.chain.facade import ZERO32_HEX
from veilproof.chain.job_market import JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainDataset, OnchainModel
from veilproof.chain.node_registry import OnchainNode

if TYPE_CHECKING:
    from veilproof.chain.suite import Suite

MODE_ZK, MODE_FHE = JobMode.ZK, JobMode.FHE
OPEN, SUBMITTED, SETTLED, REFUNDED, SLASHED = (
    JobStatus.OPEN,
    JobStatus.SUBMITTED,
    JobStatus.SETTLED,
    JobStatus.REFUNDED,
    JobStatus.SLASHED,
)
STATUS_NAMES = {s: s.name.lower() for s in JobStatus}

__all__ = [
    "MODE_FHE",
    "MODE_ZK",
    "OPEN",
    "REFUNDED",
    "SETTLED",
    "SLASHED",
    "STATUS_NAMES",
    "SUBMITTED",
    "ZERO32_HEX",
    "JobMode",
    "JobStatus",
    "OnchainDataset",
    "OnchainJob",
    "OnchainModel",
    "OnchainNode",
    "list_nodes",
    "read_job",
    "read_model",
    "read_node",
]


def read_model(suite: Suite, model_id: int) -> OnchainModel:
    return suite.models.read_model(model_id)


def read_job(suite: Suite, job_id: int) -> OnchainJob:
    return suite.market.read_job(job_id)


def read_node(suite: Suite, address: str) -> OnchainNode:
    return suite.nodes.read_node(address)


def list_nodes(suite: Suite) -> list[OnchainNode]:
    return suite.nodes.list_nodes()
