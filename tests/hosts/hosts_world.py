"""A veilproof network spread over network-namespace hosts (see netns.py): who runs where.

=========  ============================================================================================
host       what runs there
=========  ============================================================================================
chain      anvil, listening on the host's address only
pub        the model owner publishes here (its store holds the artifacts); node A (``slow_node``: the production node; its prover can be slowed for partition tests),
           started from a node.json with ``host`` = its address; its own store holds the published ZK
           package and FHE zips (built on this host, as a publisher would)
node       node B, started with ``veilproof node start --host <its ip> --fetch-from <node A>`` and an
           empty store: every artifact it serves it fetched from node A over the bridge
client     clients (``actor.py`` processes): open, pay, send inputs, refund
validator  a validator (``actor.py``): registers, audits every node, commits and reveals weights
=========  ============================================================================================

The test process sits on the bridge as the operator: it deploys the contracts, mints test VEIL, moves
the dev chain's clock and reads balances. Each host has its own home directory (keystore, deployment
file, artifact store): nothing is shared through the disk.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from netns import HostNetwork

from veilproof.artifacts import ArtifactStore
from veilproof.chain.deploy import ONE_VEIL, SuiteParams
from veilproof.chain.dev.anvil import AnvilProcess, start_anvil
from veilproof.chain.keystore import Keystore
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.errors import ChainError
from veilproof.incentives.deploy import IncentiveParams, deploy_incentives
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.runner import save_config

ROLES = ["chain", "pub", "node", "client", "validator"]
PRICE = 2 * ONE_VEIL
SLASH = 50 * ONE_VEIL
NODE_STAKE_VEIL = 300
CHAIN_PORT = 8545
NODE_PORT = 8600
HERE = Path(__file__).parent
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class HostsWorld:
    hn: HostNetwork
    anvil: AnvilProcess
    lnet: LocalNetwork
    zk_model: int
    fhe_model: int
    pub: NodeProcess
    node: NodeProcess
    mlp: Any  # tests' Built (example + package)
    fhe_data: Any  # veilproof.models.datasets.Dataset
    accounts: dict[str, LocalAccount] = field(default_factory=dict)

    @property
    def suite(self):
        return self.lnet.suite

    # --- parties on their hosts ------------------------------------------------------------------
    def party(self, role: str, name: str, veil: int) -> Path:
        """A funded account for a party on host ``role``; its key file lives in that host's home only."""
        acct = self.lnet.new_funded(veil)
        self.accounts[name] = acct
        return party_home(self.hn, role, name, acct, self.lnet.deployment_file)

    def act(self, role: str, party: str, cmd: str, /, timeout: float = 600, **spec: Any) -> dict[str, Any]:
        """Run ``actor.py cmd`` as ``party`` on host ``role``; its JSON answer."""
        return act(self.hn, self.anvil.url, role, party, cmd, timeout=timeout, **spec)

    def refresh_deployment(self) -> None:
        """Hand every party's host the current deployment file (after incentives were deployed)."""
        for role in ("client", "validator"):
            for d in self.hn[role].home.iterdir():
                if (d / "deployment.json").is_file():
                    shutil.copy(self.lnet.deployment_file, d / "deployment.json")

    # --- reading the chain -----------------------------------------------------------------------
    def stake(self, node: NodeProcess) -> int:
        return self.suite.nodes.read_node(node.account.address).stake

    def wallet(self, who: str) -> int:
        """What ``who`` holds: tokens plus what the market owes it (pending withdrawals)."""
        s = self.suite
        return s.token.balance_of(who) + s.market.pending(who)

    def wait_status(self, job_id: int, statuses: set[int], timeout: float = 300) -> int:
        t_end = time.monotonic() + timeout
        while (st := self.suite.market.read_job(job_id).status) not in statuses:
            assert time.monotonic() < t_end, f"job {job_id} still in status {st}"
            time.sleep(0.5)
        return st

    def close(self) -> None:
        try:
            for n in (self.pub, self.node):
                n.stop()
            self.anvil.stop()
        finally:
            self.hn.close()


def party_home(hn: HostNetwork, role: str, name: str, acct: LocalAccount, deployment: Path) -> Path:
    """A home for party ``name`` on host ``role``: its key (only there) and a copy of the deployment."""
    home = hn[role].home / name
    home.mkdir(parents=True, exist_ok=True)
    key = home / "key"
    key.write_text(acct.key.hex())
    key.chmod(0o600)
    shutil.copy(deployment, home / "deployment.json")
    return home


_runs = iter(range(1, 1 << 30))


def act(
    hn: HostNetwork, chain_url: str, role: str, party: str, cmd: str, /, timeout: float = 600, **spec: Any
) -> dict[str, Any]:
    """Run ``actor.py cmd`` as ``party`` on host ``role`` (its home from :func:`party_home`)."""
    home = hn[role].home / party
    spec_file = home / f"spec-{next(_runs)}.json"
    full = {"chain_url": chain_url, "deployment": str(home / "deployment.json"),
            "key_file": str(home / "key"), "home": str(home), **spec}  # fmt: skip
    spec_file.write_text(json.dumps(full))
    r = hn.run(role, [sys.executable, str(HERE / "actor.py"), cmd, str(spec_file)], timeout=timeout)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise AssertionError(
            f"actor {cmd} on {role}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def _copy_package(src: ArtifactStore, dst: ArtifactStore, digest: str) -> None:
    """The ZK package ``digest`` (manifest and every blob it names) copied from ``src`` into ``dst``."""
    manifest = json.loads(src.get_bytes(digest))
    for blob in [digest, *manifest["artifacts"].values()]:
        dst.path(blob).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.path(blob), dst.path(blob))


def _node_env(password: str) -> dict[str, str]:
    pp = os.pathsep.join([str(HERE), str(SRC), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "VEILPROOF_PASSWORD": password, "PYTHONPATH": pp}


def _node_home(w_lnet: LocalNetwork, home: Path, acct: LocalAccount) -> None:
    home.mkdir(parents=True, exist_ok=True)
    Keystore(home / "keystore").create("node", w_lnet.password, acct)
    shutil.copy(w_lnet.deployment_file, home / "deployment.json")


def make_world(root: Path, mlp: Any) -> HostsWorld:
    from veilproof.models.fhe_examples import build_bundle, load_dataset
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    hn = HostNetwork.create(ROLES, root)
    try:
        chain, pub_h, node_h = hn["chain"], hn["pub"], hn["node"]
        anvil = start_anvil(CHAIN_PORT, host=chain.ip, wrap=["ip", "netns", "exec", chain.ns])
        v = evm.compile_reusable_verifier()
        params = SuiteParams.dev(slash_amount=SLASH, max_deadline=3600, challenge_window=60)
        lnet = LocalNetwork.start(root / "operator", anvil.url, params=params, verifier=(v.abi, v.bytecode))

        # The publisher's host builds/holds the artifacts in its own store.
        pub_store = ArtifactStore(pub_h.home / "node" / "artifacts")
        pkg = mlp.package
        _copy_package(pkg.store, pub_store, pkg.manifest_digest)
        data = load_dataset()
        bundle = build_bundle("logreg", pub_store, data)
        # The model owner publishes from the pub host, whose store holds what it commits to.
        party_home(hn, "pub", "owner", lnet.owner, lnet.deployment_file)
        store = str(pub_store.root)
        zk = act(hn, anvil.url, "pub", "owner", "publish", store=store, zk_package=pkg.manifest_digest,
                 name="mlp", price=PRICE, royalty_bps=2_000, onnx_hash=pkg.commitments()["onnx_hash"])  # fmt: skip
        fhe = act(hn, anvil.url, "pub", "owner", "publish", store=store, name="logreg-fhe", price=PRICE,
                  royalty_bps=2_000, onnx_hash=bundle.server_zip_hash, fhe_client_hash=bundle.client_zip_hash,
                  fhe_server_hash=bundle.server_zip_hash)  # fmt: skip
        assert "error" not in zk and "error" not in fhe, (zk, fhe)
        zk_id, fhe_id = int(zk["model_id"]), int(fhe["model_id"])
        models = [
            ServedModel(zk_id, zk_package=pkg.manifest_digest),
            ServedModel(fhe_id, fhe_server=bundle.server_zip_hash, fhe_client=bundle.client_zip_hash),
        ]
        # Accounts funded before the incentives take the token's minter role over.
        pub_acct = lnet.new_funded(NODE_STAKE_VEIL + 10)
        node_acct = lnet.new_funded(NODE_STAKE_VEIL + 10)
        deploy_incentives(lnet.net, lnet.owner, lnet.suite.deployment, IncentiveParams())
        lnet.suite.deployment.save(lnet.deployment_file)
        env = _node_env(lnet.password)

        # Node A: the production runner (slow_node) from a node.json listening on its own address.
        a_home = pub_h.home / "node"
        _node_home(lnet, a_home, pub_acct)
        cfg = NodeConfig(home=a_home, chain_url=anvil.url, deployment_file=a_home / "deployment.json",
                         account_name="node", models=models, host=pub_h.ip, port=NODE_PORT,
                         stake=NODE_STAKE_VEIL * ONE_VEIL)  # fmt: skip
        save_config(cfg, a_home / "node.json")
        pub = NodeProcess("pub", pub_acct, a_home, module="slow_node")
        pub.proc = hn.popen("pub", [sys.executable, "-m", "slow_node", str(a_home / "node.json")],
                            log=a_home / "node.log", env=env)  # fmt: skip
        lnet.nodes.append(pub)
        lnet.wait_ready(pub)

        # Node B: `veilproof node start --host`, empty store, fetching from node A.
        b_home = node_h.home / "node"
        _node_home(lnet, b_home, node_acct)
        argv = [sys.executable, "-m", "veilproof.cli.main", "node", "start", "--home", str(b_home),
                "--chain-url", anvil.url, "--account", "node", "--host", node_h.ip, "--port", str(NODE_PORT),
                "--stake", str(NODE_STAKE_VEIL), "--fetch-from", pub.endpoint,
                "--model", f"{zk_id}:zk={pkg.manifest_digest}",
                "--model", f"{fhe_id}:fhe-server={bundle.server_zip_hash},fhe-client={bundle.client_zip_hash}"]  # fmt: skip
        node = NodeProcess("node", node_acct, b_home, module="veilproof.cli.main")
        node.proc = hn.popen("node", argv, log=b_home / "node.log", env=env)
        lnet.nodes.append(node)
        lnet.wait_ready(node)
        return HostsWorld(hn, anvil, lnet, zk_id, fhe_id, pub, node, mlp, data)
    except BaseException as e:
        for log in root.glob("*/node/node.log"):
            sys.stderr.write(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}\n")
        hn.close(check=False)
        if isinstance(e, ChainError):
            raise AssertionError(str(e)) from e
        raise
