"""A live local network for end-to-end tests: chain, contracts, a published ZK model, node processes."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.client import Client
from veilproof.client.publish import publish_model
from veilproof.demo.cheater import start_cheater
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.node.config import ServedModel

PRICE = 2 * ONE_VEIL
SLASH = 50 * ONE_VEIL


@dataclass
class ZkWorld:
    lnet: LocalNetwork
    model_id: int
    honest: NodeProcess
    cheater: NodeProcess
    client: Client
    built: object  # tests.zk Built (example + package)
    store_root: Path


def make_world(
    root: Path, chain_url: str | None, mlp, mlp_substitute, receipts=None, node_config=None
) -> ZkWorld:  # type: ignore[no-untyped-def]
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    v = evm.compile_reusable_verifier()
    params = SuiteParams.dev(slash_amount=SLASH, max_deadline=3600, challenge_window=60)
    lnet = LocalNetwork.start(root, chain_url, params=params, verifier=(v.abi, v.bytecode), receipts=receipts)
    pkg = mlp.package
    pub = publish_model(
        lnet.suite, lnet.owner, name="mlp", price=PRICE, royalty_bps=2_000,
        onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg,
    )  # fmt: skip
    store_root = pkg.store.root
    # 300 VEIL staked: enough to stay above the 100 VEIL minimum after a few 50 VEIL slashes.
    honest = lnet.start_node(
        "honest",
        [ServedModel(pub.model_id, zk_package=pkg.manifest_digest)],
        artifacts_dir=store_root,
        stake_veil=300,
        config=node_config,
    )
    # Proves with the substitute (other weights) while serving the committed package's interface.
    cheater = start_cheater(
        lnet,
        "cheater",
        pub.model_id,
        pkg.manifest_digest,
        mlp_substitute.package.manifest_digest,
        artifacts_dir=store_root,
        stake_veil=300,
        config=node_config,
    )
    client = Client(lnet.suite, lnet.new_funded(100), root / "client", deadline_s=1800, poll_interval=0.2)
    return ZkWorld(lnet, pub.model_id, honest, cheater, client, mlp, store_root)


@dataclass
class FheWorld:
    lnet: LocalNetwork
    model_id: int
    node: NodeProcess
    client: Client
    bundle: object  # veilproof.fhe.FheBundle
    model: object  # veilproof.models.fhe_examples.CompiledModel
    data: object  # veilproof.models.datasets.Dataset
    other_bundle: object  # another circuit (XGBoost): its ciphertexts and keys must be refused


def make_fhe_world(root: Path, chain_url: str | None) -> FheWorld:
    from veilproof.artifacts import ArtifactStore
    from veilproof.models.fhe_examples import build_bundle, build_bundle_with_model, load_dataset

    store = ArtifactStore(root / "store")
    data = load_dataset()
    bundle, model = build_bundle_with_model("logreg", store, data)
    other = build_bundle("xgb", store, data)
    params = SuiteParams.dev(slash_amount=SLASH, max_deadline=3600, challenge_window=60)
    lnet = LocalNetwork.start(root / "net", chain_url, params=params)
    pub = publish_model(
        lnet.suite, lnet.owner, name="logreg-fhe", price=PRICE, royalty_bps=2_000,
        onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
        fhe_server_hash=bundle.server_zip_hash,
    )  # fmt: skip
    # Evaluation keys are held within a per-client quota: room for 1.5 key sets of this circuit.
    from veilproof.fhe import FheClient

    alice = FheClient(
        bundle.client_zip_path, lnet.root / "keys" / "alice", expected_client_hash=bundle.client_zip_hash
    )
    ek_size = len(alice.evaluation_keys())
    node = lnet.start_node(
        "fhe-node",
        [ServedModel(pub.model_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash)],
        artifacts_dir=store.root,
        stake_veil=300,
        config={
            "eval_key_quota_bytes": int(1.5 * ek_size),
            "eval_key_grace_s": 0,
            "maintenance_interval_s": 1.0,
        },
    )
    client = Client(lnet.suite, lnet.new_funded(100), root / "client", deadline_s=1800, poll_interval=0.2)
    return FheWorld(lnet, pub.model_id, node, client, bundle, model, data, other)
