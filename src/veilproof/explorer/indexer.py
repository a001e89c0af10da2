"""``Indexer``: follows the suite's events into SQLite so that explorer pages never scan the chain.

How it stays right:

* **Resumable.** Each block range is applied in one database transaction together with the new
  ``last_block``; a crash leaves the index at the end of the last whole range, and the next
  :meth:`Indexer.sync` continues from there.
* **Re-deploys and chain resets.** The index is keyed by the network it follows (chain id and every
  contract address); a different key, a chain whose head is below the indexed block, or a different
  hash at the last indexed block (anvil restarted and re-deployed at the same addresses) drops the
  index and starts a new one from block 0.
* **Numbers equal the chain's.** Events say *what* changed; the row is then re-read through the
  facade (``read_job``, ``read_node``, ``read_model``) so a page shows exactly what the contract
  holds. Counters the contracts do not keep (jobs per node, emissions, gas per job) are summed from
  events.

Amounts are wei (up to 2**256): SQLite's integers stop at 2**63, so they are stored as decimal text
(:class:`Wei`) and come back as ``int``.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine

from veilproof.chain.facade import ChainEvent, ContractFacade
from veilproof.chain.suite import Suite
from veilproof.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6  # 2: reputation, federated training; 3: ReceiptMarket; 4: agent wallet caps; 5: data; 6: DAO; 7: pipelines
DEFAULT_CHUNK = 2_000  # blocks per eth_getLogs range (public RPCs cap ranges near this)


class Wei(TypeDecorator[int]):
    """An unsigned 256-bit amount as decimal text (SQLite integers are 64-bit)."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Any) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: str | None, dialect: Any) -> int | None:
        return None if value is None else int(value)


md = MetaData()
meta_t = Table("meta", md, Column("key", String(40), primary_key=True), Column("value", Text))
events_t = Table(
    "events", md,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block", Integer, index=True), Column("log_index", Integer), Column("ts", Integer),
    Column("tx_hash", String(66)), Column("contract", String(40)), Column("address", String(42)),
    Column("name", String(40), index=True), Column("args", Text),
    Column("job_id", Integer, index=True), Column("subject", String(42), index=True),
)  # fmt: skip
models_t = Table(
    "models", md,
    Column("model_id", Integer, primary_key=True), Column("owner", String(42)), Column("name", String(64)),
    Column("price", Wei), Column("royalty_bps", Integer), Column("onnx_hash", String(64)),
    Column("zk_settings_hash", String(64)), Column("zk_vk_hash", String(64)), Column("zk_srs_hash", String(64)),
    Column("fhe_client_hash", String(64)), Column("fhe_server_hash", String(64)),
    Column("training_code_hash", String(64)), Column("active", Boolean),
    Column("parents", Text), Column("datasets", Text), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
datasets_t = Table(
    "datasets", md,
    Column("dataset_id", Integer, primary_key=True), Column("owner", String(42)),
    Column("merkle_root", String(64)), Column("uri", Text), Column("block", Integer),
)  # fmt: skip
nodes_t = Table(
    "nodes", md,
    Column("address", String(42), primary_key=True), Column("endpoint", Text), Column("stake", Wei),
    Column("unbonding", Wei), Column("slashed_total", Wei), Column("registered", Boolean),
    Column("subnet_index", Integer), Column("models", Text), Column("slashes", Integer),
    Column("emissions", Wei), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
jobs_t = Table(
    "jobs", md,
    Column("job_id", Integer, primary_key=True), Column("client", String(42)), Column("node", String(42), index=True),
    Column("model_id", Integer, index=True), Column("mode", String(8)), Column("price", Wei),
    Column("status", String(16)), Column("output_hash", String(64)), Column("proof_hash", String(64)),
    Column("gas", Integer), Column("txs", Text), Column("opened_ts", Integer), Column("updated_ts", Integer),
)  # fmt: skip
epochs_t = Table(
    "epochs", md,
    Column("epoch", Integer, primary_key=True), Column("revealed", Integer), Column("node_total", Wei),
    Column("validator_total", Wei), Column("owner_total", Wei), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
weights_t = Table(
    "weights", md,
    Column("epoch", Integer, primary_key=True), Column("validator", String(42), primary_key=True),
    Column("weights", Text), Column("stake", Wei), Column("revealed", Boolean),
)  # fmt: skip
node_emissions_t = Table(
    "node_emissions", md,
    Column("epoch", Integer, primary_key=True), Column("node", String(42), primary_key=True),
    Column("consensus", Wei), Column("amount", Wei),
)  # fmt: skip
validator_emissions_t = Table(
    "validator_emissions", md,
    Column("epoch", Integer, primary_key=True), Column("validator", String(42), primary_key=True),
    Column("bond", Wei), Column("amount", Wei),
)  # fmt: skip
validators_t = Table(
    "validators", md,
    Column("address", String(42), primary_key=True), Column("stake", Wei), Column("bond", Wei),
    Column("registered", Boolean),
)  # fmt: skip
agents_t = Table(
    "agents", md,
    Column("agent_id", Integer, primary_key=True), Column("owner", String(42)), Column("uri", Text),
    Column("doc_hash", String(64)), Column("wallet", String(42)), Column("block", Integer),
)  # fmt: skip
reputation_t = Table(
    "reputation", md,
    Column("subject", String(42), primary_key=True), Column("count", Integer), Column("total", Integer),
    Column("weight", Wei), Column("weighted_total", Wei), Column("raters", Integer),
)  # fmt: skip
feedback_t = Table(
    "feedback", md,
    Column("feedback_id", Integer, primary_key=True), Column("subject", String(42), index=True),
    Column("rater", String(42)), Column("job_id", Integer), Column("score", Integer), Column("tx_hash", String(66)),
    Column("block", Integer),
)  # fmt: skip
training_jobs_t = Table(
    "training_jobs", md,
    Column("job_id", Integer, primary_key=True), Column("sponsor", String(42)), Column("coordinator", String(42)),
    Column("arch_hash", String(64)), Column("val_hash", String(64)), Column("rounds", Integer),
    Column("rounds_posted", Integer), Column("participants", Integer), Column("min_participants", Integer),
    Column("coordinator_bps", Integer), Column("bounty", Wei), Column("participant_stake", Wei),
    Column("coordinator_stake", Wei), Column("total_score", Wei), Column("model_hash", String(64)),
    Column("state", String(16)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
training_rounds_t = Table(
    "training_rounds", md,
    Column("job_id", Integer, primary_key=True), Column("round", Integer, primary_key=True),
    Column("model_hash", String(64)), Column("updates_root", String(64)), Column("participants", Text),
    Column("scores", Text), Column("tx_hash", String(66)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
training_members_t = Table(
    "training_members", md,
    Column("job_id", Integer, primary_key=True), Column("account", String(42), primary_key=True),
    Column("role", String(16)), Column("stake", Wei), Column("score", Wei), Column("paid", Wei),
)  # fmt: skip
receipt_jobs_t = Table(
    "receipt_jobs", md,
    Column("order_hash", String(64), primary_key=True), Column("client", String(42)),
    Column("node", String(42), index=True), Column("model_id", Integer), Column("nonce", Wei),
    Column("max_price", Wei), Column("price", Wei), Column("status", String(16)), Column("tx_hash", String(66)),
    Column("batch_size", Integer), Column("batch_gas", Integer), Column("gas", Integer),
    Column("proof_hash", String(64)), Column("challenger", String(42)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
deposits_t = Table(
    "deposits", md,
    Column("client", String(42), primary_key=True), Column("node", String(42), primary_key=True),
    Column("amount", Wei), Column("deposited", Wei),
)  # fmt: skip
wallets_t = Table(
    "agent_wallets", md,
    Column("wallet", String(42), primary_key=True), Column("agent_id", Integer), Column("agent_key", String(42)),
    Column("per_payment_cap", Wei), Column("daily_cap", Wei), Column("spent_today", Wei), Column("balance", Wei),
    Column("paused", Boolean), Column("block", Integer),
)  # fmt: skip
data_sets_t = Table(
    "data_sets", md,
    Column("dataset_id", Integer, primary_key=True), Column("curator", String(42)), Column("host", String(42)),
    Column("schema_hash", String(64)), Column("allowed_uses", Integer), Column("price", Wei),
    Column("expiry", Integer), Column("curator_bps", Integer), Column("uri", Text), Column("records", Integer),
    Column("revocations", Integer), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
data_versions_t = Table(
    "data_versions", md,
    Column("version_id", Integer, primary_key=True), Column("dataset_id", Integer, index=True),
    Column("parent", Integer), Column("record_root", String(64)), Column("consent_root", String(64)),
    Column("record_count", Integer), Column("revoked_count", Integer), Column("tx_hash", String(66)),
    Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
data_consents_t = Table(
    "data_consents", md,
    Column("dataset_id", Integer, primary_key=True), Column("record_hash", String(64), primary_key=True),
    Column("subject", String(42)), Column("allowed_uses", Integer), Column("expiry", Integer),
    Column("revoked", Boolean), Column("revoked_tx", String(66)), Column("block", Integer),
)  # fmt: skip

proposals_t = Table(
    "proposals", md,
    Column("proposal_id", String(80), primary_key=True), Column("proposer", String(42)), Column("description", Text),
    Column("state", String(16)), Column("votes_for", Wei), Column("votes_against", Wei), Column("votes_abstain", Wei),
    Column("voters", Integer), Column("eta", Integer), Column("vote_start", Integer), Column("vote_end", Integer),
    Column("actions", Text), Column("executed_tx", String(66)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
grants_t = Table(
    "grants", md,
    Column("grant_id", Integer, primary_key=True), Column("recipient", String(42), index=True), Column("total", Wei),
    Column("escrowed", Wei), Column("milestones", Text), Column("released", Integer), Column("released_amount", Wei),
    Column("cancelled", Boolean), Column("tx_hash", String(66)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
pipelines_t = Table(
    "pipelines", md,
    Column("pipeline_id", Integer, primary_key=True), Column("owner", String(42)), Column("models", Text),
    Column("tx_hash", String(66)), Column("block", Integer), Column("ts", Integer),
)  # fmt: skip
pipeline_jobs_t = Table(
    "pipeline_jobs", md,
    Column("job_id", Integer, primary_key=True), Column("pipeline_id", Integer, index=True),
    Column("client", String(42)), Column("price", Wei), Column("status", String(16)), Column("output_hash", String(66)),
    Column("stage_models", Text), Column("stage_nodes", Text), Column("stage_proof_hashes", Text),
    Column("block", Integer), Column("ts", Integer),
)  # fmt: skip

MODES = {1: "zk", 2: "fhe"}


@dataclass(frozen=True)
class SyncResult:
    """What one :meth:`Indexer.sync` did: blocks ``from_block..to_block`` and how many events."""

    from_block: int
    to_block: int
    events: int
    reset: bool


def _json(v: Any) -> str:
    def conv(x: Any) -> Any:
        if isinstance(x, bytes):
            return "0x" + x.hex()
        if isinstance(x, list):
            return [conv(y) for y in x]
        if isinstance(x, int) and not isinstance(x, bool) and abs(x) > 2**53:
            return str(x)  # JSON readers lose precision above 2**53
        return x

    return json.dumps({k: conv(x) for k, x in v.items()})


def _upsert(conn: Connection, table: Table, key: str, value: Any, row: dict[str, Any], **first: Any) -> None:
    """Write ``row`` to the row of ``table`` whose ``key`` is ``value``: update it if indexed, else insert it
    with ``first`` too (what only the creating event sets: block, ts, tx hash, zeroed counters; a column in
    ``row`` wins). Every entity the indexer re-reads from the chain is written this one way."""
    col = table.c[key]
    if conn.execute(select(col).where(col == value)).first():
        conn.execute(update(table).where(col == value).values(**row))
    else:
        conn.execute(insert(table).values({key: value, **first, **row}))


# Events that only change a row an earlier event made: the earlier event's handler re-reads that row from the
# chain. Handler (``<Contract>_<Event>``) -> the other events of that contract it handles.
_REREAD_BY: dict[str, tuple[str, ...]] = {
    "ModelRegistry_ModelRegistered": (
        "ZkCommitmentSet",
        "FheCommitmentSet",
        "PriceSet",
        "ModelRetired",
        "ModelTransferred",
    ),
    "NodeRegistry_NodeRegistered": (
        "EndpointSet",
        "ModelsSet",
        "Staked",
        "UnbondRequested",
        "Withdrawn",
        "OfferSet",
    ),
    "Rewards_ValidatorRegistered": (
        "StakeAdded",
        "UnbondRequested",
        "Withdrawn",
        "ValidatorEvicted",
        "Penalized",
    ),
    "TrainingMarket_JobOpened": ("JobCancelled",),
    "DataRegistry_DatasetPublished": ("HostSet", "RoyaltySet"),
    "DataRegistry_VersionCommitted": ("VersionTainted",),
}
_HANDLED_AS = {f"{h.split('_', 1)[0]}_{e}": h for h, events in _REREAD_BY.items() for e in events}


# The optional contracts a deployment may name, followed when it does: (deployment key, Indexer keyword,
# module, facade class). Imported only then, so an explorer of the core suite loads none of them.
_OPTIONAL_FACADES = (
    ("agent_registry", "agent_registry", "veilproof.agents.identity", "AgentRegistryClient"),
    ("reputation", "reputation", "veilproof.agents.reputation", "ReputationClient"),
    ("training_market", "training", "veilproof.chain.training_market", "TrainingMarket"),
    ("governor", "governor", "veilproof.chain.governor", "Governor"),
    ("grants", "grants", "veilproof.chain.grants", "Grants"),
)


class Indexer:
    """Follow ``suite`` (plus the optional agent registry facade) into the SQLite file ``db_path``.

    ``sync()`` indexes up to the chain head once; ``follow()`` keeps doing it from a thread until
    ``stop()``. Reads for the web app go through :attr:`engine` (SQLAlchemy Core).
    """

    def __init__(
        self,
        suite: Suite,
        db_path: str | Path,
        *,
        agent_registry: ContractFacade | None = None,
        reputation: ContractFacade | None = None,
        training: ContractFacade | None = None,
        data: ContractFacade | None = None,
        governor: ContractFacade | None = None,
        grants: ContractFacade | None = None,
        pipelines: ContractFacade | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> None:
        if chunk < 1:
            raise ConfigError(f"chunk {chunk}: expected a positive number of blocks per range")
        self.suite = suite
        self.net = suite.net
        self.chunk = chunk
        self.agent_registry = agent_registry
        # typed facades (their read methods are used below); None: that contract is not followed
        self.reputation: Any = reputation
        self.training: Any = training
        self.data: Any = data
        self.governor: Any = governor
        self.grants: Any = grants
        self.pipelines: Any = pipelines
        self.path = Path(db_path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", connect_args={"check_same_thread": False}
        )
        self._lock = threading.Lock()  # one sync at a time (the follow thread and a test's sync)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        md.create_all(self.engine)

    @classmethod
    def for_suite(cls, suite: Suite, db_path: str | Path, *, chunk: int = DEFAULT_CHUNK) -> Indexer:
        """An indexer for ``suite`` that also follows the contracts its deployment names when they are
        deployed: ``agent_registry``, ``reputation``, ``training_market``, ``data_registry``, ``governor`` + ``grants`` (the DAO), ``pipeline_market``."""
        extra = suite.deployment.extra
        kw: dict[str, Any] = {}
        for key, keyword, module, name in _OPTIONAL_FACADES:
            if addr := extra.get(key):
                kw[keyword] = getattr(importlib.import_module(module), name)(suite.net, addr)
        if extra.get("data_registry"):
            kw["data"] = suite.data
        if extra.get("pipeline_market"):
            kw["pipelines"] = suite.pipelines
        return cls(suite, db_path, chunk=chunk, **kw)

    # --- which network ---------------------------------------------------------------------------
    def facades(self) -> list[ContractFacade]:
        """The contracts indexed: the core suite, the incentives and agents when deployed."""
        s = self.suite
        out: list[ContractFacade] = [s.models, s.nodes, s.market]
        if s.deployment.extra.get("rewards"):
            out.append(s.rewards)
        if s.quorum is not None:
            out.append(s.quorum)
        if s.receipts is not None:
            out.append(s.receipts)
        for f in (
            self.agent_registry,
            self.reputation,
            self.training,
            self.data,
            self.governor,
            self.grants,
            self.pipelines,
        ):
            if f is not None:
                out.append(f)
        return out

    def network_key(self) -> str:
        """Identifies the network followed: the chain id and every indexed contract's address."""
        addrs = sorted(f"{f.CONTRACT}={f.address}" for f in self.facades())
        return json.dumps({"schema": SCHEMA_VERSION, "chain_id": self.net.chain_id, "contracts": addrs})

    def _meta(self, conn: Connection) -> dict[str, str]:
        return {r.key: r.value for r in conn.execute(select(meta_t))}

    def _set_meta(self, conn: Connection, **kv: str) -> None:
        for k, v in kv.items():
            conn.execute(delete(meta_t).where(meta_t.c.key == k))
            conn.execute(insert(meta_t).values(key=k, value=v))

    def last_block(self) -> int:
        """The last block in the index (-1: none yet)."""
        with self.engine.connect() as conn:
            return int(self._meta(conn).get("last_block", "-1"))

    def _block_hash(self, n: int) -> str:
        return "0x" + bytes(self.net.w3.eth.get_block(n)["hash"]).hex()

    def _needs_reset(self, meta: dict[str, str], head: int) -> bool:
        if meta.get("network") != self.network_key():
            return True
        last = int(meta.get("last_block", "-1"))
        if last < 0:
            return False
        if last > head:
            return True  # the chain was reset below what we indexed
        return meta.get("last_hash") != self._block_hash(last)

    def reset(self) -> None:
        """Drop every indexed row and start a new index for the current network."""
        with self.engine.begin() as conn:
            for t in reversed(md.sorted_tables):
                conn.execute(delete(t))
            self._set_meta(conn, network=self.network_key(), last_block="-1", last_hash="")

    # --- following the chain ---------------------------------------------------------------------
    def sync(self, to_block: int | None = None) -> SyncResult:
        """Index every block from the one after ``last_block`` up to ``to_block`` (default: head)."""
        with self._lock:
            head = self.net.head() if to_block is None else min(to_block, self.net.head())
            with self.engine.connect() as conn:
                meta = self._meta(conn)
            reset = self._needs_reset(meta, head)
            if reset:
                self.reset()
                meta = {"last_block": "-1"}
            start = int(meta.get("last_block", "-1")) + 1
            n_events = 0
            a = start
            while a <= head:
                b = min(head, a + self.chunk - 1)
                n_events += self._index_range(a, b)
                a = b + 1
            return SyncResult(start, head, n_events, reset)

    def _index_range(self, a: int, b: int) -> int:
        evs: list[ChainEvent] = []
        for f in self.facades():
            evs.extend(f.events_between(a, b))
        evs.sort(key=lambda e: (e.block, e.log_index))
        ts_cache: dict[int, int] = {}
        gas_cache: dict[str, int] = {}
        with self.engine.begin() as conn:
            for ev in evs:
                if ev.block not in ts_cache:
                    ts_cache[ev.block] = self.net.block_timestamp(ev.block)
                self._apply(conn, ev, ts_cache[ev.block], gas_cache)
            self._refresh_wallets(conn, b)
            self._set_meta(conn, last_block=str(b), last_hash=self._block_hash(b))
        return len(evs)

    def follow(self, interval: float = 2.0) -> None:
        """Keep syncing from a daemon thread every ``interval`` seconds until :meth:`stop`."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.sync()
                except Exception as e:  # a flaky RPC must not kill the explorer: log, retry next tick
                    log.warning("explorer index update failed (retrying in %.0f s): %s", interval, e)
                self._stop.wait(interval)

        self._stop.clear()
        self._thread = threading.Thread(target=loop, name="explorer-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # --- applying one event ------------------------------------------------------------------------
    def _apply(self, conn: Connection, ev: ChainEvent, ts: int, gas_cache: dict[str, int]) -> None:
        a = ev.args
        job_id = int(a["job_id"]) if "job_id" in a and ev.contract in ("JobMarket", "FheQuorum") else None
        subject = next(
            (
                str(a[k])
                for k in ("node", "validator", "owner", "client", "account")
                if isinstance(a.get(k), str)
            ),
            None,
        )
        conn.execute(
            insert(events_t).values(
                block=ev.block, log_index=ev.log_index, ts=ts, tx_hash=ev.tx_hash, contract=ev.contract,
                address=ev.address, name=ev.name, args=_json(a), job_id=job_id, subject=subject,
            )
        )  # fmt: skip
        name = f"{ev.contract}_{ev.name}"
        handler = getattr(self, f"_on_{_HANDLED_AS.get(name, name)}", None)
        if handler is not None:
            handler(conn, ev, ts)
        if job_id is not None and ev.contract == "JobMarket":
            self._touch_job(conn, job_id, ev, ts, gas_cache)

    # ModelRegistry
    def _refresh_model(self, conn: Connection, model_id: int, ev: ChainEvent, ts: int) -> None:
        m = self.suite.models.read_model(model_id)
        row = {
            "owner": m.owner, "name": m.name, "price": m.price, "royalty_bps": m.royalty_bps,
            "onnx_hash": m.onnx_hash, "zk_settings_hash": m.zk_settings_hash, "zk_vk_hash": m.zk_vk_hash,
            "zk_srs_hash": m.zk_srs_hash, "fhe_client_hash": m.fhe_client_hash,
            "fhe_server_hash": m.fhe_server_hash, "training_code_hash": m.training_code_hash, "active": m.active,
        }  # fmt: skip
        if conn.execute(select(models_t.c.model_id).where(models_t.c.model_id == model_id)).first():
            conn.execute(update(models_t).where(models_t.c.model_id == model_id).values(**row))
        else:
            conn.execute(
                insert(models_t).values(
                    model_id=model_id, block=ev.block, ts=ts,
                    parents=json.dumps(self.suite.models.parents(model_id)),
                    datasets=json.dumps(self.suite.models.datasets(model_id)), **row,
                )
            )  # fmt: skip

    def _on_ModelRegistry_ModelRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_model(conn, int(ev.args["model_id"]), ev, ts)

    def _on_ModelRegistry_DatasetRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(datasets_t).values(
                dataset_id=int(a["dataset_id"]), owner=a["owner"], merkle_root=bytes(a["merkle_root"]).hex(),
                uri=a["uri"], block=ev.block,
            )
        )  # fmt: skip

    # NodeRegistry
    def _refresh_node(self, conn: Connection, address: str, ev: ChainEvent, ts: int, **extra: Any) -> None:
        n = self.suite.nodes.read_node(address)
        row = {
            "endpoint": n.endpoint, "stake": n.stake, "unbonding": n.unbonding,
            "slashed_total": n.slashed_total, "registered": n.registered,
            "models": json.dumps(self.suite.nodes.models_of(address)), **extra,
        }  # fmt: skip
        _upsert(conn, nodes_t, "address", address, row, block=ev.block, ts=ts, emissions=0, slashes=0)

    def _on_NodeRegistry_NodeRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_node(conn, str(ev.args["node"]), ev, ts)

    def _on_NodeRegistry_Slashed(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        node = str(ev.args["node"])
        prev = conn.execute(select(nodes_t.c.slashes).where(nodes_t.c.address == node)).scalar()
        self._refresh_node(conn, node, ev, ts, slashes=int(prev or 0) + 1)

    def _on_NodeRegistry_SubnetIndexAssigned(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        node, replaced = str(ev.args["node"]), str(ev.args["replaced"])
        conn.execute(update(nodes_t).where(nodes_t.c.address == replaced).values(subnet_index=None))
        self._refresh_node(conn, node, ev, ts, subnet_index=int(ev.args["index"]))

    # JobMarket
    def _on_JobMarket_JobOpened(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(jobs_t).values(
                job_id=int(a["job_id"]), client=a["client"], node=a["node"], model_id=int(a["model_id"]),
                mode=MODES.get(int(a["mode"]), str(a["mode"])), price=int(a["price"]), status="open",
                output_hash="", proof_hash="", gas=0, txs="[]", opened_ts=ts, updated_ts=ts,
            )
        )  # fmt: skip

    def _touch_job(
        self, conn: Connection, job_id: int, ev: ChainEvent, ts: int, gas_cache: dict[str, int]
    ) -> None:
        row = conn.execute(select(jobs_t.c.txs, jobs_t.c.gas).where(jobs_t.c.job_id == job_id)).first()
        if row is None:
            return
        txs = json.loads(row.txs)
        gas = int(row.gas)
        if ev.tx_hash not in txs:
            if ev.tx_hash not in gas_cache:
                gas_cache[ev.tx_hash] = self.net.gas_used(ev.tx_hash)
            txs.append(ev.tx_hash)
            gas += gas_cache[ev.tx_hash]
        j = self.suite.market.read_job(job_id)
        conn.execute(
            update(jobs_t).where(jobs_t.c.job_id == job_id).values(
                status=j.status_name, output_hash=j.output_hash, proof_hash=j.proof_hash, price=j.price,
                gas=gas, txs=json.dumps(txs), updated_ts=ts,
            )
        )  # fmt: skip

    # Rewards
    def _refresh_validator(self, conn: Connection, address: str) -> None:
        v = self.suite.rewards.read_validator(address)
        conn.execute(delete(validators_t).where(validators_t.c.address == address))
        conn.execute(
            insert(validators_t).values(address=address, stake=v.stake, bond=v.bond, registered=v.registered)
        )

    def _on_Rewards_ValidatorRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_validator(conn, str(ev.args["validator"]))

    def _on_Rewards_WeightsCommitted(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(weights_t).values(
                epoch=int(a["epoch"]), validator=a["validator"], weights="[]", stake=int(a["stake"]),
                revealed=False,
            )
        )  # fmt: skip

    def _on_Rewards_WeightsRevealed(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            update(weights_t)
            .where(weights_t.c.epoch == int(a["epoch"]), weights_t.c.validator == a["validator"])
            .values(weights=json.dumps([int(w) for w in a["weights"]]), revealed=True)
        )

    def _on_Rewards_NodeEmission(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        node, amount = str(a["node"]), int(a["amount"])
        conn.execute(
            insert(node_emissions_t).values(
                epoch=int(a["epoch"]), node=node, consensus=int(a["consensus"]), amount=amount
            )
        )
        prev = conn.execute(select(nodes_t.c.emissions).where(nodes_t.c.address == node)).scalar()
        conn.execute(
            update(nodes_t).where(nodes_t.c.address == node).values(emissions=int(prev or 0) + amount)
        )

    def _on_Rewards_ValidatorEmission(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(validator_emissions_t).values(
                epoch=int(a["epoch"]), validator=a["validator"], bond=int(a["bond"]), amount=int(a["amount"])
            )
        )
        self._refresh_validator(conn, str(a["validator"]))

    def _on_Rewards_EpochFinalized(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(epochs_t).values(
                epoch=int(a["epoch"]), revealed=int(a["revealed"]), node_total=int(a["node_total"]),
                validator_total=int(a["validator_total"]), owner_total=int(a["owner_total"]),
                block=ev.block, ts=ts,
            )
        )  # fmt: skip

    # AgentRegistry
    def _on_AgentRegistry_AgentRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            insert(agents_t).values(
                agent_id=int(a["agent_id"]), owner=a["owner"], uri=a["uri"],
                doc_hash=bytes(a["doc_hash"]).hex(), wallet=None, block=ev.block,
            )
        )  # fmt: skip

    def _on_AgentRegistry_AgentUpdated(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            update(agents_t)
            .where(agents_t.c.agent_id == int(a["agent_id"]))
            .values(uri=a["uri"], doc_hash=bytes(a["doc_hash"]).hex())
        )

    def _on_AgentRegistry_AgentTransferred(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            update(agents_t).where(agents_t.c.agent_id == int(a["agent_id"])).values(owner=a["new_owner"])
        )

    def _on_AgentRegistry_WalletSet(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        conn.execute(
            update(agents_t).where(agents_t.c.agent_id == int(a["agent_id"])).values(wallet=a["wallet"])
        )

    def _refresh_wallets(self, conn: Connection, block: int) -> None:
        """Re-read every bound agent wallet's caps: a wallet is its own contract (one per agent, not
        in the followed set), so its PolicySet/Paused events are not seen; its state is read instead."""
        from veilproof.agents.wallet import AgentWalletClient

        for r in rows_in(
            conn, select(agents_t.c.agent_id, agents_t.c.wallet).where(agents_t.c.wallet.isnot(None))
        ):
            try:
                st = AgentWalletClient(self.net, r["wallet"]).state()
            except Exception as e:  # a wallet that is not an AgentWallet (any ERC-1271 contract may be bound)
                log.debug("agent %s wallet %s: no AgentWallet state (%s)", r["agent_id"], r["wallet"], e)
                continue
            conn.execute(delete(wallets_t).where(wallets_t.c.wallet == r["wallet"]))
            conn.execute(
                insert(wallets_t).values(
                    wallet=r["wallet"], agent_id=r["agent_id"], agent_key=st.agent, per_payment_cap=st.per_payment_cap,
                    daily_cap=st.daily_cap, spent_today=st.spent_today, balance=st.balance, paused=st.paused,
                    block=block,
                )
            )  # fmt: skip

    def _on_AgentRegistry_WalletCleared(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        conn.execute(
            update(agents_t).where(agents_t.c.agent_id == int(ev.args["agent_id"])).values(wallet=None)
        )

    # Reputation: the subject's totals are re-read from the contract (summary, weighted)
    def _on_Reputation_FeedbackGiven(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        subject = str(a["subject"])
        conn.execute(
            insert(feedback_t).values(
                feedback_id=int(a["feedback_id"]), subject=subject, rater=a["rater"], job_id=int(a["job_id"]),
                score=int(a["score"]), tx_hash=ev.tx_hash, block=ev.block,
            )
        )  # fmt: skip
        s, w = self.reputation.summary(subject), self.reputation.weighted(subject)
        conn.execute(delete(reputation_t).where(reputation_t.c.subject == subject))
        conn.execute(
            insert(reputation_t).values(
                subject=subject, count=s.count, total=s.total, weight=w.weight,
                weighted_total=w.weighted_total, raters=w.raters,
            )
        )  # fmt: skip

    # TrainingMarket: every event re-reads the job; rounds and payouts come from the events
    def _refresh_training(self, conn: Connection, job_id: int, ev: ChainEvent, ts: int) -> None:
        j = self.training.job(job_id)
        row = {
            "sponsor": j.sponsor, "coordinator": j.coordinator, "arch_hash": j.arch_hash.hex(),
            "val_hash": j.val_hash.hex(), "rounds": j.rounds, "rounds_posted": j.rounds_posted,
            "participants": j.participants, "min_participants": j.min_participants,
            "coordinator_bps": j.coordinator_bps, "bounty": j.bounty, "participant_stake": j.participant_stake,
            "coordinator_stake": j.coordinator_stake, "total_score": j.total_score,
            "model_hash": j.model_hash.hex(), "state": j.state,
        }  # fmt: skip
        t = training_jobs_t
        _upsert(conn, t, "job_id", job_id, row, block=ev.block, ts=ts)

    def _member(self, conn: Connection, job_id: int, account: str, role: str, **vals: Any) -> None:
        t = training_members_t
        where = (t.c.job_id == job_id, t.c.account == account)
        if conn.execute(select(t.c.account).where(*where)).first():
            conn.execute(update(t).where(*where).values(**vals))
        else:
            base = {"stake": 0, "score": 0, "paid": 0} | vals
            conn.execute(insert(t).values(job_id=job_id, account=account, role=role, **base))

    def _on_TrainingMarket_JobOpened(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_training(conn, int(ev.args["job_id"]), ev, ts)

    def _on_TrainingMarket_Joined(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        job_id = int(ev.args["job_id"])
        self._refresh_training(conn, job_id, ev, ts)
        self._member(conn, job_id, str(ev.args["participant"]), "participant", stake=int(ev.args["stake"]))

    def _on_TrainingMarket_CoordinatorStaked(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        job_id = int(ev.args["job_id"])
        self._refresh_training(conn, job_id, ev, ts)
        self._member(conn, job_id, str(ev.args["coordinator"]), "coordinator", stake=int(ev.args["stake"]))

    def _on_TrainingMarket_RoundPosted(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        job_id = int(a["job_id"])
        self._refresh_training(conn, job_id, ev, ts)
        conn.execute(
            insert(training_rounds_t).values(
                job_id=job_id, round=int(a["round"]), model_hash=bytes(a["model_hash"]).hex(),
                updates_root=bytes(a["updates_root"]).hex(), participants=json.dumps([str(p) for p in a["participants"]]),
                scores=json.dumps([str(int(x)) for x in a["scores"]]), tx_hash=ev.tx_hash, block=ev.block, ts=ts,
            )
        )  # fmt: skip
        for p in a["participants"]:
            self._member(conn, job_id, str(p), "participant", score=self.training.score(job_id, str(p)))

    def _on_TrainingMarket_Claimed(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        job_id, acct = int(ev.args["job_id"]), str(ev.args["account"])
        t = training_members_t
        prev = conn.execute(select(t.c.paid).where(t.c.job_id == job_id, t.c.account == acct)).scalar()
        self._member(conn, job_id, acct, "sponsor", paid=int(prev or 0) + int(ev.args["amount"]))

    # ReceiptMarket (pay-on-proof): orders are learnt from the settling transaction's input
    def _receipt(self, conn: Connection, ev: ChainEvent, ts: int, status: str, **vals: Any) -> None:
        oh = bytes(ev.args["order_hash"]).hex()
        t = receipt_jobs_t
        if conn.execute(select(t.c.order_hash).where(t.c.order_hash == oh)).first():
            conn.execute(update(t).where(t.c.order_hash == oh).values(status=status, **vals))
            return
        rm = self.suite.receipts
        assert rm is not None  # events come from it
        found = [(o, p) for o, p in rm.orders_in(ev.tx_hash) if rm.order_hash(o).hex() == oh]
        o, price = found[0] if found else (None, 0)
        conn.execute(
            insert(t).values(
                order_hash=oh, client=o.client if o else None, node=o.node if o else None,
                model_id=o.model_id if o else None, nonce=o.nonce if o else None,
                max_price=o.max_price if o else None, status=status, block=ev.block, ts=ts,
                **({"price": price} | vals),
            )
        )  # fmt: skip

    def _on_ReceiptMarket_ReceiptSettled(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._receipt(conn, ev, ts, "settled", price=int(ev.args["price"]), tx_hash=ev.tx_hash)

    def _on_ReceiptMarket_BatchSettled(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        """Gas per receipt job: the batch's gas shared by the receipts it paid."""
        n = int(ev.args["settled"])
        gas = self.net.gas_used(ev.tx_hash)
        t = receipt_jobs_t
        conn.execute(
            update(t)
            .where(t.c.tx_hash == ev.tx_hash, t.c.status == "settled")
            .values(batch_size=n, batch_gas=gas, gas=gas // n if n else gas)
        )
        rm = self.suite.receipts
        assert rm is not None
        paid = rows_in(conn, select(t.c.client, t.c.node).where(t.c.tx_hash == ev.tx_hash).distinct())
        for r in paid:  # the settled receipts drew on these deposits
            d = deposits_t
            conn.execute(
                update(d)
                .where(d.c.client == r["client"], d.c.node == r["node"])
                .values(amount=rm.deposit_of(r["client"], r["node"]))
            )

    def _on_ReceiptMarket_ClaimedWithProof(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        gas = self.net.gas_used(ev.tx_hash)
        self._receipt(
            conn, ev, ts, "claimed", price=int(ev.args["paid"]), tx_hash=ev.tx_hash, batch_size=1,
            batch_gas=gas, gas=gas, proof_hash=bytes(ev.args["proof_hash"]).hex(),
        )  # fmt: skip

    def _on_ReceiptMarket_DeliveryDemanded(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._receipt(conn, ev, ts, "demanded")

    def _on_ReceiptMarket_Challenged(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._receipt(conn, ev, ts, "challenged", challenger=str(ev.args["challenger"]), tx_hash=ev.tx_hash)

    def _on_ReceiptMarket_DemandResolved(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._receipt(conn, ev, ts, "slashed" if ev.args["node_slashed"] else "answered")

    def _refresh_deposit(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        client, node = str(ev.args["client"]), str(ev.args["node"])
        rm = self.suite.receipts
        assert rm is not None
        t = deposits_t
        where = (t.c.client == client, t.c.node == node)
        prev = conn.execute(select(t.c.deposited).where(*where)).scalar()
        added = int(ev.args["amount"]) if ev.name == "Deposited" else 0
        conn.execute(delete(t).where(*where))
        conn.execute(
            insert(t).values(
                client=client, node=node, amount=rm.deposit_of(client, node), deposited=int(prev or 0) + added
            )
        )

    _on_ReceiptMarket_Deposited = _refresh_deposit
    _on_ReceiptMarket_WithdrawRequested = _refresh_deposit
    _on_ReceiptMarket_DepositWithdrawn = _refresh_deposit

    # DataRegistry: datasets, consented records (and their revocations), versions; rows re-read
    def _refresh_data_set(self, conn: Connection, dataset_id: int, ev: ChainEvent, ts: int) -> None:
        d = self.data.read_dataset(dataset_id)
        c = data_consents_t
        n = len(rows_in(conn, select(c.c.record_hash).where(c.c.dataset_id == dataset_id)))
        rv = len(
            rows_in(conn, select(c.c.record_hash).where(c.c.dataset_id == dataset_id, c.c.revoked.is_(True)))
        )
        row = {
            "curator": d.curator, "host": d.host, "schema_hash": d.schema_hash.removeprefix("0x"),
            "allowed_uses": d.allowed_uses, "price": d.price, "expiry": d.expiry, "curator_bps": d.curator_bps,
            "uri": d.uri, "records": n, "revocations": rv,
        }  # fmt: skip
        t = data_sets_t
        _upsert(conn, t, "dataset_id", dataset_id, row, block=ev.block, ts=ts)

    def _refresh_data_version(self, conn: Connection, version_id: int, ev: ChainEvent, ts: int) -> None:
        v = self.data.read_version(version_id)
        t = data_versions_t
        row = {
            "dataset_id": v.dataset_id, "parent": v.parent, "record_root": v.record_root.removeprefix("0x"),
            "consent_root": v.consent_root.removeprefix("0x"), "record_count": v.record_count,
            "revoked_count": v.revoked_count,
        }  # fmt: skip
        _upsert(conn, t, "version_id", version_id, row, tx_hash=ev.tx_hash, block=ev.block, ts=ts)

    def _on_DataRegistry_DatasetPublished(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_data_set(conn, int(ev.args["dataset_id"]), ev, ts)

    def _on_DataRegistry_RecordRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        ds = int(a["dataset_id"])
        conn.execute(
            insert(data_consents_t).values(
                dataset_id=ds, record_hash=bytes(a["record_hash"]).hex(), subject=a["subject"],
                allowed_uses=int(a["allowed_uses"]), expiry=int(a["expiry"]), revoked=False, block=ev.block,
            )
        )  # fmt: skip
        self._refresh_data_set(conn, ds, ev, ts)

    def _on_DataRegistry_ConsentRevoked(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        ds, rh = int(a["dataset_id"]), bytes(a["record_hash"]).hex()
        c = data_consents_t
        conn.execute(
            update(c)
            .where(c.c.dataset_id == ds, c.c.record_hash == rh)
            .values(revoked=True, revoked_tx=ev.tx_hash)
        )
        self._refresh_data_set(conn, ds, ev, ts)

    def _on_DataRegistry_VersionCommitted(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_data_version(conn, int(ev.args["version_id"]), ev, ts)

    # DAO (VeilGovernor): the event names the proposal; state, votes and eta are re-read from the governor
    def _refresh_proposal(self, conn: Connection, pid: int, ev: ChainEvent, ts: int, **vals: Any) -> None:
        g = self.governor
        against, for_, abstain = g.votes(pid)
        state = g.state(pid).name.lower()
        row = {"state": state, "votes_for": for_, "votes_against": against, "votes_abstain": abstain,
               "eta": g.eta(pid), **vals}  # fmt: skip
        key = str(pid)
        _upsert(conn, proposals_t, "proposal_id", key, row, voters=0, block=ev.block, ts=ts)

    def _on_VeilGovernor_ProposalCreated(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        a = ev.args
        actions = [
            {"target": t, "value": str(v), "calldata": "0x" + bytes(c).hex()}
            for t, v, c in zip(a["targets"], a["values"], a["calldatas"], strict=True)
        ]
        self._refresh_proposal(
            conn, int(a["proposalId"]), ev, ts, proposer=a["proposer"], description=a["description"],
            vote_start=int(a["voteStart"]), vote_end=int(a["voteEnd"]), actions=json.dumps(actions),
        )  # fmt: skip

    def _on_VeilGovernor_VoteCast(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        pid = int(ev.args["proposalId"])
        self._refresh_proposal(conn, pid, ev, ts)
        conn.execute(
            update(proposals_t)
            .where(proposals_t.c.proposal_id == str(pid))
            .values(voters=proposals_t.c.voters + 1)
        )

    def _on_VeilGovernor_ProposalQueued(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_proposal(conn, int(ev.args["proposalId"]), ev, ts)

    def _on_VeilGovernor_ProposalExecuted(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_proposal(conn, int(ev.args["proposalId"]), ev, ts, executed_tx=ev.tx_hash)

    def _on_VeilGovernor_ProposalCanceled(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_proposal(conn, int(ev.args["proposalId"]), ev, ts)

    # DAO grants escrow: the event names the grant; recipient, escrow and milestones are re-read via Grants.grant
    def _refresh_grant(self, conn: Connection, grant_id: int, ev: ChainEvent, ts: int, **vals: Any) -> None:
        g = self.grants.grant(grant_id)
        ms = [
            {"amount": str(m.amount), "check": m.check.name.lower(), "released": m.released}
            for m in g.milestones
        ]
        row = {
            "recipient": g.recipient, "escrowed": g.escrowed, "cancelled": g.cancelled, "milestones": json.dumps(ms),
            "released": sum(m.released for m in g.milestones),
            "released_amount": sum(m.amount for m in g.milestones if m.released), **vals,
        }  # fmt: skip
        _upsert(conn, grants_t, "grant_id", grant_id, row, tx_hash=ev.tx_hash, block=ev.block, ts=ts)

    def _on_Grants_GrantCreated(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_grant(conn, int(ev.args["grant_id"]), ev, ts, total=int(ev.args["total"]))

    def _on_Grants_MilestoneReleased(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_grant(conn, int(ev.args["grant_id"]), ev, ts)

    def _on_Grants_GrantCancelled(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_grant(conn, int(ev.args["grant_id"]), ev, ts)

    # PipelineMarket: pipelines (their stage models re-read via pipeline_models) and jobs (the contract's
    # receipt(job): status, per-stage model, node and proof hash)
    def _on_PipelineMarket_PipelineRegistered(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        pid = int(ev.args["pipeline_id"])
        conn.execute(
            insert(pipelines_t).values(
                pipeline_id=pid, owner=ev.args["owner"], models=json.dumps(self.pipelines.pipeline_models(pid)),
                tx_hash=ev.tx_hash, block=ev.block, ts=ts,
            )
        )  # fmt: skip

    def _refresh_pipeline_job(self, conn: Connection, ev: ChainEvent, ts: int, **vals: Any) -> None:
        job_id = int(ev.args["job_id"])
        r = self.pipelines.receipt(job_id)
        row = {
            "pipeline_id": r.pipeline_id, "client": r.client, "status": r.status, "output_hash": r.output_hash,
            "stage_models": json.dumps(list(r.stage_models)), "stage_nodes": json.dumps(list(r.stage_nodes)),
            "stage_proof_hashes": json.dumps(list(r.stage_proof_hashes)), **vals,
        }  # fmt: skip
        _upsert(conn, pipeline_jobs_t, "job_id", job_id, row, block=ev.block, ts=ts)

    def _on_PipelineMarket_PipelineJobOpened(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_pipeline_job(conn, ev, ts, price=int(ev.args["price"]))

    def _on_PipelineMarket_StageVerified(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_pipeline_job(conn, ev, ts)

    def _on_PipelineMarket_PipelineSettled(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_pipeline_job(conn, ev, ts)

    def _on_PipelineMarket_PipelineRefunded(self, conn: Connection, ev: ChainEvent, ts: int) -> None:
        self._refresh_pipeline_job(conn, ev, ts)


def rows_in(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(stmt)]


def rows(engine: Engine, stmt: Any) -> list[dict[str, Any]]:
    """Run a select and return plain dicts (the web app's only way to read the index)."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def tables() -> Iterable[Table]:
    return md.sorted_tables
