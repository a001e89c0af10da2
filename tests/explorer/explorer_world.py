"""A small network for the explorer tests, driven through the chain facades (no node processes):
a 3-node subnet with 2 validators, a real EZKL-proved job settled on chain, a refunded job, model
lineage (subnet model -> ZK MLP -> FHE child, with a dataset) and one finalized epoch; the client's
feedback on the settled job (Reputation); a finished federated training job (TrainingMarket, one round of
two participants, everyone claimed) published as a model whose lineage names it."""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from eth_utils import keccak

from veilproof.agents.identity import AgentRegistryClient, RegistrationDoc
from veilproof.agents.reputation import ReputationClient
from veilproof.agents.wallet import AgentWalletClient, WalletPolicy
from veilproof.chain import Network
from veilproof.chain.data_registry import USE_TRAINING
from veilproof.chain.deploy import (
    ONE_VEIL,
    deploy_data_market,
    deploy_pipeline_market,
    deploy_receipt_market,
    deploy_zk_verifier,
)
from veilproof.chain.governor import (
    Action,
    Dao,
    DaoParams,
    Owned,
    Proposal,
    approve_milestone_proposal,
    deploy_dao,
    grant_proposal,
    run_proposal,
)
from veilproof.chain.grants import Milestone
from veilproof.chain.job_market import JobMode
from veilproof.chain.receipt_market import Order
from veilproof.chain.suite import Suite
from veilproof.chain.training_market import TrainingMarket, deploy_training_market
from veilproof.client.publish import publish_model, register_dataset
from veilproof.incentives.deploy import IncentiveParams
from veilproof.incentives.onchain import Subnet

VSTAKE = 1_000 * ONE_VEIL
PRICE = 2 * ONE_VEIL


@dataclass
class ExplorerWorld:
    net: Network
    suite: Suite
    subnet: Subnet
    zk_model: int
    child_model: int
    settled_job: int
    refunded_job: int
    epoch: int
    node_emission: dict[str, int]  # address -> what the finalized epoch paid it (from the receipt)
    reputation: ReputationClient
    training: TrainingMarket
    training_job: int
    fl_model: int
    payouts: dict[str, int]  # account -> what its TrainingMarket claim paid (from the receipt)
    agent_id: int
    agent_wallet: AgentWalletClient
    data_set: int
    data_version: int
    data_records: list[bytes]  # the first one's consent is revoked
    receipt_orders: list[bytes]  # ReceiptMarket order hashes settled together in one batch
    settle_tx: str
    dao: Dao
    proposal_id: int  # executed: a full propose -> vote -> queue -> execute cycle (no hand-over)
    pipeline_id: int  # PipelineMarket: the ZK model as its one stage (no pipeline job)
    grant_id: int  # 2 vote-checked milestones (10 + 20 VEIL), the first released by a second proposal


def make_world(net: Network, mlp, mlp_proof) -> ExplorerWorld:  # type: ignore[no-untyped-def]
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    params = IncentiveParams(validator_min_stake=VSTAKE, emission_per_epoch=1_000 * ONE_VEIL)
    s = Subnet.create(net, 3, [2 * VSTAKE, VSTAKE], params)
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, s.owner, s.deployment, v.abi, v.bytecode)
    suite = Suite.attach(net, s.deployment)
    ds = register_dataset(suite, s.owner, b"\x11" * 32, "sklearn:breast_cancer")
    pkg = mlp.package
    zk = publish_model(
        suite, s.owner, name="breast-cancer-mlp", price=PRICE, royalty_bps=2_000,
        onnx_hash=pkg.commitments()["onnx_hash"], zk=pkg, parents=[s.model_id], datasets=[ds],
    ).model_id  # fmt: skip
    child = publish_model(
        suite, s.owner, name="mlp-fhe-distilled", price=ONE_VEIL, royalty_bps=1_000,
        onnx_hash="ab" * 32, fhe_client_hash="cd" * 32, fhe_server_hash="ef" * 32, parents=[zk],
    ).model_id  # fmt: skip
    n0, n1 = s.node_accts[0], s.node_accts[1]
    for n in (n0, n1):
        suite.nodes.set_models([s.model_id, zk], sender=n)
    client = net.new_accounts(1)[0]
    suite.token.mint(client.address, 100 * ONE_VEIL, sender=s.owner)
    suite.token.approve(suite.market.address, 2**256 - 1, sender=client)
    commitment = int(mlp_proof.input_commitment).to_bytes(32, "big")
    deadline = net.now() + 1_800

    def open_(node: str) -> int:
        rcpt = suite.market.open_job(
            zk, node, commitment, JobMode.ZK, deadline, max_price=PRICE, sender=client
        )
        return suite.market.opened_job_id(rcpt)

    settled = open_(n0.address)
    suite.market.start_job(settled, sender=n0)
    suite.market.submit_zk(settled, mlp_proof.instances, mlp_proof.proof.proof_bytes, sender=n0)
    refunded = open_(n1.address)  # never started: the client takes its escrow back after the deadline
    w = s.validators
    ep = s.run_epoch({w[0].address: [30_000, 20_000, 15_535], w[1].address: [60_000, 5_535, 0]})
    suite.market.refund(refunded, sender=client)
    emission = {suite.nodes.subnet_node(j): amt for j, amt in enumerate(ep.node_emission)}
    # the client rates the node of its settled job
    rep = ReputationClient(net, net.deploy("Reputation", suite.market.address, sender=s.owner).address)
    s.deployment.extra["reputation"] = rep.address
    rep.give_feedback(client, settled, 90, ["fast"])
    # pay-on-proof: two off-chain orders to node 0 paid by one settle batch of the client's receipts
    deploy_receipt_market(net, s.owner, s.deployment)
    rm = suite.receipts
    assert rm is not None
    suite.token.approve(rm.address, 2**256 - 1, sender=client)
    rm.deposit(n0.address, 10 * ONE_VEIL, sender=client)
    royalty = rm.model_royalty(zk)  # main's ReceiptMarket binds the owner's royalty in the signed order
    orders = [
        Order(client.address, n0.address, zk, commitment, PRICE, net.now() + 600, nonce, royalty=royalty)
        for nonce in (1, 2)
    ]
    res = rm.settle(
        [rm.sign_receipt(o, b"\x22" * 32, PRICE - nonce, client) for nonce, o in enumerate(orders)], sender=n0
    )
    assert len(res.settled) == 2, res.skipped
    # an agent with a capped wallet (AgentRegistry + AgentWallet)
    registry = AgentRegistryClient(net, net.deploy("AgentRegistry", sender=s.owner).address)
    s.deployment.extra["agent_registry"] = registry.address
    agent_key = net.new_accounts(1)[0]
    agent_id = registry.register(
        s.owner, "https://agents.example/1.json", RegistrationDoc(name="explorer-agent")
    )
    wallet = AgentWalletClient.deploy(
        net, s.owner, agent_key.address, suite.token.address, WalletPolicy(ONE_VEIL, 5 * ONE_VEIL)
    )
    registry.bind_wallet(s.owner, agent_id, wallet.address, agent_key)
    # consented data: 2 records (each with its subject's signed consent), a version of both, 1 revocation
    deploy_data_market(net, s.owner, s.deployment)
    dr = suite.data
    expiry = net.now() + 30 * 86_400
    data_set = dr.publish(
        b"\x33" * 32,
        USE_TRAINING,
        ONE_VEIL,
        expiry,
        2_000,
        s.owner.address,
        "ipfs://explorer-data",
        sender=s.owner,
    )
    subjects = net.new_accounts(2)
    recs = [keccak(text=f"record {i}") for i in range(2)]
    dr.register_records(
        data_set,
        [
            dr.sign_consent(dr.consent(x.address, data_set, r, USE_TRAINING, expiry, 0), x)
            for x, r in zip(subjects, recs, strict=True)
        ],
        sender=s.owner,
    )
    version = dr.commit_version(data_set, 0, recs, sender=s.owner)
    dr.revoke(data_set, recs[0], sender=subjects[0])
    tm, tjob, payouts = _training(net, suite, s.owner)
    s.deployment.extra["training_market"] = tm.address
    fl_model = _publish_trained(suite, s.owner, tm, tjob)
    # a registered one-stage pipeline (a pipeline job needs real per-stage proofs of a sliced model: minutes)
    deploy_pipeline_market(net, s.owner, s.deployment)
    assert suite.pipelines is not None
    pipeline_id = suite.pipelines.register_pipeline([zk], sender=s.owner)
    # the DAO last (its cycle moves the clock); the suite's admin powers stay with the owner (no hand-over),
    # so the executed action is one the timelock can do on its own: a 0-VEIL transfer from its treasury
    dao = deploy_dao(net, s.owner, s.deployment, DaoParams.dev())
    voter = net.new_accounts(1)[0]
    suite.token.mint(voter.address, 50 * ONE_VEIL, sender=s.owner)
    suite.token.approve(dao.votes.address, 50 * ONE_VEIL, sender=voter)
    dao.votes.deposit(50 * ONE_VEIL, sender=voter)
    dao.votes.delegate(voter.address, sender=voter)
    net.time_travel(1)
    noop = Action.of(Owned(net, "Token", suite.token.address).call("transfer", voter.address, 0))
    pid, _ = run_proposal(
        dao, Proposal((noop,), "explorer: a no-op transfer"), proposer=voter, voters=[voter]
    )
    # a grant escrowed from the treasury (the timelock's VEIL), its first milestone released by vote
    suite.token.mint(dao.timelock.address, 30 * ONE_VEIL, sender=s.owner)
    ms = [Milestone(10 * ONE_VEIL), Milestone(20 * ONE_VEIL)]
    grantee = net.new_accounts(1)[0]
    run_proposal(dao, grant_proposal(dao, s.deployment, grantee.address, ms, "explorer: a grant"),
                 proposer=voter, voters=[voter])  # fmt: skip
    grant_id = dao.grants.grant_count()
    run_proposal(dao, approve_milestone_proposal(dao, grant_id, 0, "explorer: milestone 0 done"),
                 proposer=voter, voters=[voter])  # fmt: skip
    return ExplorerWorld(
        net, suite, s, zk, child, settled, refunded, ep.epoch, emission, rep, tm, tjob, fl_model, payouts,
        agent_id, wallet, data_set, version, recs,
        [rm.order_hash(o) for o in orders], res.receipt.tx_hash, dao, pid, pipeline_id, grant_id,
    )  # fmt: skip


def _training(net: Network, suite: Suite, owner) -> tuple[TrainingMarket, int, dict[str, int]]:  # type: ignore[no-untyped-def]
    """One finished TrainingMarket job: 2 participants, 1 round (scores 3 and 1), everyone claimed."""
    from veilproof.fl.commit import leaf, merkle_root

    tm = deploy_training_market(net, owner, suite.token.address)
    sponsor, coord, *parts = net.new_accounts(4)
    for who, amount in (
        (sponsor, 100 * ONE_VEIL),
        (coord, 5 * ONE_VEIL),
        (parts[0], ONE_VEIL),
        (parts[1], ONE_VEIL),
    ):
        suite.token.mint(who.address, amount, sender=owner)
        suite.token.approve(tm.address, amount, sender=who)
    job = tm.open_job(
        coordinator=coord.address, arch_hash=keccak(text="veilproof.fl.logreg/v1"), val_hash=keccak(text="val"),
        rounds=1, min_participants=2, coordinator_bps=1_000, bounty=100 * ONE_VEIL,
        participant_stake=ONE_VEIL, coordinator_stake=5 * ONE_VEIL, sender=sponsor,
    )  # fmt: skip
    for p in parts:
        tm.join(job, sender=p)
    tm.start(job, sender=coord)
    from veilproof.fl.sign import UpdateDomain

    parts.sort(key=lambda a: int(a.address, 16))
    ps = [p.address for p in parts]
    hs = [keccak(text=f"update {p}") for p in ps]
    # main's TrainingMarket takes each participant's signature over its update hash
    sigs = [UpdateDomain(net.chain_id, tm.address, job).sign(p, 1, h) for p, h in zip(parts, hs, strict=True)]
    root = merkle_root([leaf(p, h) for p, h in zip(ps, hs, strict=True)])
    tm.post_round(job, 1, keccak(text="aggregated round 1"), root, ps, [3, 1], hs, sigs, sender=coord)
    payouts = {a.address: tm.claim(job, sender=a) for a in (coord, *parts)}
    return tm, job, payouts


def _publish_trained(suite: Suite, owner, tm: TrainingMarket, job: int) -> int:  # type: ignore[no-untyped-def]
    from veilproof.fl.publish import publish_trained

    w = {"w": np.linspace(-1, 1, 30), "b": np.zeros(1)}
    with tempfile.TemporaryDirectory() as d:
        pub = publish_trained(suite, owner, tm, job, w, Path(d), name="fl-logreg", price=ONE_VEIL)
    return pub.published.model_id
