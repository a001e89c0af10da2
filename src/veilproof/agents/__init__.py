"""Agents: identity ("Know Your Agent"), wallets with spending policies, reputation, stealth payments.

Composes the chain layer only (see DESIGN.md "Layering"); the stealth cryptography in
:mod:`veilproof.agents.stealth` is pure and needs no chain.
"""

from veilproof.agents.agent import Agent
from veilproof.agents.deploy import deploy_agents
from veilproof.agents.errors import (
    AgentError,
    InsufficientFunds,
    NotAgentKey,
    OverDailyCap,
    OverPaymentCap,
    PolicyViolation,
    StealthError,
    TargetNotAllowed,
    WalletPaused,
)
from veilproof.agents.identity import AgentRecord, AgentRegistryClient, Endpoint, Identity, RegistrationDoc
from veilproof.agents.payer import AgentPayer, PaidCall
from veilproof.agents.payments import AnnouncerClient, StealthPayment, StealthRegistryClient
from veilproof.agents.reputation import ReputationClient, Summary, reputation_score
from veilproof.agents.stealth import (
    Announcement,
    FoundPayment,
    StealthAddress,
    StealthKeys,
    StealthMetaAddress,
    generate_stealth_address,
    scan,
    scan_with_keys,
)
from veilproof.agents.wallet import AgentWalletClient, WalletPolicy, WalletState

__all__ = [
    "Agent",
    "AgentError",
    "AgentPayer",
    "AgentRecord",
    "AgentRegistryClient",
    "AgentWalletClient",
    "Announcement",
    "AnnouncerClient",
    "Endpoint",
    "FoundPayment",
    "Identity",
    "InsufficientFunds",
    "NotAgentKey",
    "OverDailyCap",
    "OverPaymentCap",
    "PaidCall",
    "PolicyViolation",
    "RegistrationDoc",
    "ReputationClient",
    "StealthAddress",
    "StealthError",
    "StealthKeys",
    "StealthMetaAddress",
    "StealthPayment",
    "StealthRegistryClient",
    "Summary",
    "TargetNotAllowed",
    "WalletPaused",
    "WalletPolicy",
    "WalletState",
    "deploy_agents",
    "generate_stealth_address",
    "reputation_score",
    "scan",
    "scan_with_keys",
]
