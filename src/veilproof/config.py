"""Where veilproof keeps its local state, and how a process finds the network.

One home folder (``$VEILPROOF_HOME``, default ``~/.veilproof``) holds keystores, the artifact
store, the deployment file and SQLite databases, so a user can see or wipe everything in one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    home: Path

    @classmethod
    def default(cls, home: str | os.PathLike[str] | None = None) -> Paths:
        h = home or os.environ.get("VEILPROOF_HOME") or Path.home() / ".veilproof"
        return cls(Path(h))

    @property
    def keystore(self) -> Path:
        return self.home / "keystore"

    @property
    def artifacts(self) -> Path:
        return self.home / "artifacts"

    @property
    def deployment(self) -> Path:
        return self.home / "deployment.json"

    @property
    def packages(self) -> Path:
        return self.home / "packages"

    def db(self, name: str) -> Path:
        return self.home / "db" / f"{name}.sqlite"


def chain_url_from_env() -> str | None:
    return os.environ.get("VEILPROOF_CHAIN_URL") or None
