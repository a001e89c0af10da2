"""Shared, session-scoped FHE fixtures: each model kind is built, keyed and served once per session.

Building + keygen + worker start-up dominate test time (seconds per kind), so everything expensive is
created lazily on first use and cached for the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from veilproof.artifacts import ArtifactStore
from veilproof.fhe import FheBundle, FheClient, FheServer
from veilproof.models.fhe_examples import CompiledModel, Dataset, build_bundle_with_model, load_dataset


@dataclass
class FheWorld:
    root: Path
    data: Dataset = field(default_factory=load_dataset)
    built: dict[str, tuple[FheBundle, CompiledModel]] = field(default_factory=dict)
    clients: dict[tuple[str, str], FheClient] = field(default_factory=dict)
    servers: dict[str, FheServer] = field(default_factory=dict)
    outputs: dict[tuple[str, int], tuple[bytes, bytes]] = field(default_factory=dict)

    @property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.root / "store")

    def bundle(self, kind: str) -> FheBundle:
        return self.build(kind)[0]

    def build(self, kind: str) -> tuple[FheBundle, CompiledModel]:
        if kind not in self.built:
            self.built[kind] = build_bundle_with_model(kind, self.store, self.data)
        return self.built[kind]

    def client(self, kind: str, who: str = "alice") -> FheClient:
        if (kind, who) not in self.clients:
            b = self.bundle(kind)
            self.clients[(kind, who)] = FheClient(
                b.client_zip_path, self.root / "keys" / who, expected_client_hash=b.client_zip_hash
            )
        return self.clients[(kind, who)]

    def server(self, kind: str) -> FheServer:
        if kind not in self.servers:
            b = self.bundle(kind)
            self.servers[kind] = FheServer(b.server_zip_path, expected_hash=b.server_zip_hash)
        return self.servers[kind]

    def job(self, kind: str, row: int = 0) -> tuple[bytes, bytes]:
        """(input ciphertext, output ciphertext) of alice's job on test row ``row``; cached."""
        if (kind, row) not in self.outputs:
            c = self.client(kind)
            ct = c.encrypt(self.data.x_test[row])
            self.outputs[(kind, row)] = (ct, self.server(kind).run(ct, c.evaluation_keys()))
        return self.outputs[(kind, row)]

    def clear_proba(self, kind: str, rows: np.ndarray) -> np.ndarray:
        return self.build(kind)[1].predict_proba(rows, "disable")


@pytest.fixture(scope="session")
def fhe_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FheWorld]:
    world = FheWorld(root=tmp_path_factory.mktemp("fhe"))
    yield world
    for s in world.servers.values():
        s.close()
