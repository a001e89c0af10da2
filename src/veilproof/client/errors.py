"""Errors a buyer of inference can hit."""

from __future__ import annotations

from typing import Any

from veilproof.errors import VeilproofError


class ClientError(VeilproofError):
    """Base of client-side failures."""


class NoNodeAvailable(ClientError):
    """No active, staked node serves the model."""


class NodeMisbehaved(ClientError):
    """A node refused, returned something unverifiable, or was caught cheating."""

    details: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance when there are details


class InferenceFailed(ClientError):
    """Every node tried failed; ``attempts`` says what happened with each."""

    def __init__(self, message: str, attempts: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []
