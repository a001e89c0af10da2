"""Session-wide fixtures: a real anvil on 127.0.0.1 (started once, stopped at the end), and the
example ZK packages, built once per session into one store (later builds are cache hits) so the
zk, models and end-to-end tests share the expensive setup."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from veilproof.artifacts import ArtifactStore
from veilproof.chain import Network, connect

# Hypothesis draws the same examples on every run (derandomize): a red CI is then a bug that reproduces,
# not a draw. Set VEILPROOF_HYPOTHESIS_EXPLORE=1 to search with fresh randomness (and keep what it finds
# as an @example).
settings.register_profile("fixed", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile("explore" if os.environ.get("VEILPROOF_HYPOTHESIS_EXPLORE") else "fixed")

# Keystores in tests use light scrypt so that each load takes milliseconds, not a second.
os.environ.setdefault("VEILPROOF_SCRYPT_N", "1024")


@pytest.fixture(scope="session")
def anvil_url() -> Iterator[str]:
    from veilproof.chain.dev.anvil import start_anvil

    node = start_anvil()
    try:
        yield node.url
    finally:
        node.stop()


def _backend_params() -> list[Any]:
    params: list[Any] = ["embedded", pytest.param("anvil", marks=pytest.mark.anvil)]
    if os.environ.get("VEILPROOF_CONTRACT_BACKENDS") == "embedded":
        params = params[:1]
    return params


@pytest.fixture(scope="session", params=_backend_params())
def net(request: pytest.FixtureRequest) -> Iterator[Network]:
    """One chain per backend for the whole session (anvil from the lead's ``anvil_url`` fixture)."""
    url = "embedded" if request.param == "embedded" else str(request.getfixturevalue("anvil_url"))
    n = connect(url)
    yield n
    n.close()


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain_url(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends: the embedded py-evm chain and a real anvil."""
    if request.param == "embedded":
        return "embedded"
    return str(request.getfixturevalue("anvil_url"))


# --- example ZK packages ------------------------------------------------------------------------
@dataclass(frozen=True)
class Built:
    example: object  # veilproof.models.examples.ExampleModel
    package: object  # veilproof.models.ModelPackage


def _root(factory: pytest.TempPathFactory) -> Path:
    return factory.getbasetemp() / "zk-shared"


def build(factory: pytest.TempPathFactory, name: str, seed: int = 0, salt_elements: int = 0) -> Built:
    from veilproof.models import build_zk_package
    from veilproof.models.examples import build_example
    from veilproof.zk.srs import UnsafeSrsWarning

    root = _root(factory)
    ex = build_example(name, root / "examples", seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSrsWarning)
        pkg = build_zk_package(
            ex.onnx_path,
            ex.calibration_path,
            ArtifactStore(root / "store"),
            name=name,
            salt_elements=salt_elements,
        )
    return Built(ex, pkg)


@pytest.fixture(scope="session")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory, "breast_cancer_mlp")


@pytest.fixture(scope="session")
def mlp_salted(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The MLP compiled with a client salt in its hashed input (veilproof.zk.salt)."""
    from veilproof.zk.salt import SALT_ELEMENTS

    return build(tmp_path_factory, "breast_cancer_mlp", salt_elements=SALT_ELEMENTS)


@pytest.fixture(scope="session")
def mlp_substitute(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Same architecture and shapes, other weights (a cheaper/wrong model a node might swap in)."""
    return build(tmp_path_factory, "breast_cancer_mlp", seed=1)


@pytest.fixture(scope="session")
def logreg(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory, "breast_cancer_logreg")


@pytest.fixture(scope="session")
def demo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``run_demo(cache=...)`` directory whose examples and artifact store are the session's ZK ones.

    Builds are keyed by content (ONNX, calibration, salt, EZKL version), so the demo's salted MLP is
    the ``mlp_salted`` package: whichever asks first builds it, the other gets a cache hit. Both demo
    tests (embedded, anvil) share it, so the demo's ZK packages are built once per session, not once
    per demo run (each build took ~1-2 min of the 38 min suite)."""
    root = _root(tmp_path_factory)
    cache = tmp_path_factory.getbasetemp() / "demo-cache"
    cache.mkdir(exist_ok=True)
    for name, target in (("artifacts", root / "store"), ("examples", root / "examples")):
        target.mkdir(parents=True, exist_ok=True)
        link = cache / name
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    return cache


@pytest.fixture(scope="session")
def mlp_proof(mlp: Built):  # type: ignore[no-untyped-def]
    from veilproof.models import prove

    return prove(mlp.package, mlp.example.x_test[0])


@pytest.fixture(scope="session")
def mlp_sliced(tmp_path_factory: pytest.TempPathFactory, mlp: Built):  # type: ignore[no-untyped-def]
    """The test MLP cut into 2 slices (hashed boundary), built once per session (issue 18)."""
    from veilproof.models.slicing import build_sliced
    from veilproof.zk.srs import UnsafeSrsWarning

    root = _root(tmp_path_factory)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsafeSrsWarning)
        return build_sliced(
            mlp.example.onnx_path,  # type: ignore[attr-defined]
            mlp.example.calibration_path,  # type: ignore[attr-defined]
            ArtifactStore(root / "store"),
            2,
            work_dir=root / "mlp-slices",
        )


@pytest.fixture(scope="session")
def mlp_sliced_proofs(mlp: Built, mlp_sliced):  # type: ignore[no-untyped-def]
    """Both stage proofs of the sliced MLP on x_test[0], and the final outputs."""
    from veilproof.models.slicing import prove_pipeline

    return prove_pipeline(mlp_sliced, mlp.example.x_test[0])  # type: ignore[attr-defined]
