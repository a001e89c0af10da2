"""The node's own state in SQLite: jobs it accepted, their results, the evaluation keys it holds.

Why a database and not memory: a node killed mid-job must, on restart, know which jobs it owes and
either finish them or give them up before their deadline (so the client can refund). Inputs are
stored only as encrypted blobs (ECIES envelope or FHE ciphertext), never as plaintext.

Why jobs are keyed by ``chain`` as well as by id: a job id is only unique on one chain, one market, one
chain history. Keyed by id alone, a node whose dev chain was restarted and redeployed at the same
addresses refused every new job id it had seen before as a replay. The key :func:`chain_key` is
``chain id : market address : genesis block hash`` (a reset chain has a new genesis).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from veilproof.chain.views import JobMode
from veilproof.node.changes import Changes, job_key, order_key
from veilproof.protocol.api import JobState  # the states are part of the wire protocol (GET /jobs/{id})


class Base(DeclarativeBase):
    pass


def chain_key(chain_id: int, market: str, genesis_hash: str) -> str:
    """Which chain history a job id belongs to (see the module's docstring)."""
    return f"{chain_id}:{market.lower()}:{genesis_hash.lower().removeprefix('0x')}"


class JobRow(Base):
    # "node_jobs", not the former "jobs": that table was keyed by job id alone.
    __tablename__ = "node_jobs"
    chain: Mapped[str] = mapped_column(String(160), primary_key=True)  # chain_key(...)
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unique per chain: served once
    mode: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[int] = mapped_column(BigInteger)
    client: Mapped[str] = mapped_column(String(42))
    deadline: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default=JobState.ACCEPTED.value)
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted input (ECIES) or FHE ciphertext
    eval_keys_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # ZK: instances, proof, signature
    output_ct: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # FHE output ciphertext
    tx_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created: Mapped[float] = mapped_column(default=time.time)
    finished: Mapped[float | None] = mapped_column(nullable=True)


class EvalKeyRow(Base):
    """FHE evaluation keys a client uploaded for one of its open jobs on this node: whose they are (the
    quota is per client) and which job they were uploaded for (they are deleted once it is over)."""

    __tablename__ = "fhe_keys"
    chain: Mapped[str] = mapped_column(String(160), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(42), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # one row per job that needs them
    size: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[int] = mapped_column(BigInteger)  # the job's deadline: kept no later than this (+ grace)
    created: Mapped[float] = mapped_column(default=time.time)


class JobTimingsRow(Base):
    """A finished job's phase timings (:class:`veilproof.protocol.api.JobTimings` as JSON). A table of its
    own, not a column of ``node_jobs``: an existing node database gains it without a migration."""

    __tablename__ = "node_job_timings"
    chain: Mapped[str] = mapped_column(String(160), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timings_json: Mapped[str] = mapped_column(Text)


class OrderRow(Base):
    """A pay-on-proof order this node accepted (ReceiptMarket): the order as signed, the node's
    delivery, the client's receipt, and how it was paid. Why stored: the node owes a delivery for
    every acceptance it signed (a demand slashes it), and is paid only by settling the receipt or, after
    the deadline, by claiming with the stored proof; both must survive a restart."""

    __tablename__ = "node_orders"
    chain: Mapped[str] = mapped_column(String(160), primary_key=True)
    order_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex, no 0x
    client: Mapped[str] = mapped_column(String(42))  # lower case
    nonce: Mapped[str] = mapped_column(String(80))  # uint256 as decimal (SQLite integers are int64)
    max_price: Mapped[str] = mapped_column(String(80))
    deadline: Mapped[int] = mapped_column(BigInteger)
    model_id: Mapped[int] = mapped_column(BigInteger)
    order_json: Mapped[str] = mapped_column(Text)  # protocol.api.WireOrder
    client_sig: Mapped[str] = mapped_column(String(140))
    payload: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted input (ECIES envelope)
    state: Mapped[str] = mapped_column(String(16), default=JobState.ACCEPTED.value)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivery_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # protocol.api.SignedDelivery
    receipt_sig: Mapped[str | None] = mapped_column(String(140), nullable=True)
    receipt_price: Mapped[str | None] = mapped_column(String(80), nullable=True)
    receipt_at: Mapped[float | None] = mapped_column(nullable=True)
    settled_tx: Mapped[str | None] = mapped_column(String(80), nullable=True)  # paid (settle or claim)
    closed: Mapped[str | None] = mapped_column(String(200), nullable=True)  # why nothing more is owed
    created: Mapped[float] = mapped_column(default=time.time)


def _wal(dbapi_connection: Any, _record: Any) -> None:
    """Write-ahead log, still synced at every commit (``synchronous=FULL``: a committed job survives a
    power cut, as before). Why: SQLite's default rollback journal syncs the journal, the database and
    its directory at each commit; measured, a job's three commits took ~50 ms (2-5 % of a small
    model's proof); with WAL one sync each."""
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


class NodeStore:
    def __init__(self, path: Path, chain: str = "") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _wal)
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.chain = chain
        # Long-polls of a job or an order wake when its row is written (see node/changes.py).
        self.changes = Changes()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def get(self, job_id: int) -> JobRow | None:
        if not 0 < job_id < 2**63:  # SQLite integers are int64: a larger id is no row, not an overflow
            return None
        with self.session() as s:
            return s.get(JobRow, (self.chain, job_id))

    def delete(self, job_id: int) -> None:
        with self.session() as s:
            row = s.get(JobRow, (self.chain, job_id))
            if row is not None:
                s.delete(row)
        self.changes.notify(job_key(job_id))

    def unfinished(self) -> list[JobRow]:
        """Jobs of the current chain the node still owes (accepted or running)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(JobRow).where(
                        JobRow.chain == self.chain,
                        JobRow.state.in_([JobState.ACCEPTED.value, JobState.RUNNING.value]),
                    )
                )
            )

    def submitted_fhe(self) -> list[JobRow]:
        """FHE jobs of the current chain whose result this node posted (their payout may be due)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(JobRow).where(
                        JobRow.chain == self.chain,
                        JobRow.mode == int(JobMode.FHE),
                        JobRow.state == JobState.SUBMITTED.value,
                    )
                )
            )

    def owed_elsewhere(self) -> list[JobRow]:
        """Unfinished jobs recorded under another chain history (the chain was reset since)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(JobRow).where(
                        JobRow.chain != self.chain,
                        JobRow.state.in_([JobState.ACCEPTED.value, JobState.RUNNING.value]),
                    )
                )
            )

    def update(self, job_id: int, **fields: object) -> None:
        with self.session() as s:
            row = s.get(JobRow, (self.chain, job_id))
            if row is None:
                return
            for k, v in fields.items():
                setattr(row, k, v)
        self.changes.notify(job_key(job_id))  # after the commit: a woken reader sees the change

    def save_timings(self, job_id: int, timings_json: str) -> None:
        with self.session() as s:
            s.merge(JobTimingsRow(chain=self.chain, job_id=job_id, timings_json=timings_json))

    def get_timings(self, job_id: int) -> str | None:
        if not 0 < job_id < 2**63:
            return None
        with self.session() as s:
            row = s.get(JobTimingsRow, (self.chain, job_id))
            return row.timings_json if row is not None else None

    # --- pay-on-proof orders ----------------------------------------------------------------------
    def add_order(self, row: OrderRow) -> None:
        """Raises SQLAlchemy's IntegrityError if the order was recorded before (a replay)."""
        with self.session() as s:
            s.add(row)

    def get_order(self, order_hash: str) -> OrderRow | None:
        with self.session() as s:
            return s.get(OrderRow, (self.chain, order_hash))

    def update_order(self, order_hash: str, **fields: object) -> None:
        with self.session() as s:
            row = s.get(OrderRow, (self.chain, order_hash))
            if row is None:
                return
            for k, v in fields.items():
                setattr(row, k, v)
        self.changes.notify(order_key(order_hash))

    def delete_order(self, order_hash: str) -> None:
        with self.session() as s:
            row = s.get(OrderRow, (self.chain, order_hash))
            if row is not None:
                s.delete(row)
        self.changes.notify(order_key(order_hash))

    def open_orders(self, client: str | None = None) -> list[OrderRow]:
        """Orders not yet paid nor closed (of ``client``, or all): what the client's deposit must still
        cover, and what the maintenance loop must settle or claim."""
        with self.session() as s:
            q = select(OrderRow).where(
                OrderRow.chain == self.chain, OrderRow.settled_tx.is_(None), OrderRow.closed.is_(None)
            )
            if client is not None:
                q = q.where(OrderRow.client == client.lower())
            return list(s.scalars(q.order_by(OrderRow.created)))

    # --- FHE evaluation keys ---------------------------------------------------------------------
    def key_bytes_of(self, client: str) -> int:
        """Bytes of evaluation keys held for ``client`` on this chain (its quota's use)."""
        with self.session() as s:
            held = (
                select(EvalKeyRow.digest, EvalKeyRow.size)
                .where(EvalKeyRow.chain == self.chain, EvalKeyRow.client == client.lower())
                .distinct()
                .subquery()
            )  # the same keys for several jobs count once
            return int(s.scalar(select(func.coalesce(func.sum(held.c.size), 0))) or 0)

    def add_job(self, row: JobRow, key_bytes: int | None = None) -> None:
        """Record an admitted job and, for an FHE job (``key_bytes``: the size of its evaluation keys),
        that it holds its keys: one commit, not two (each is an fsync, ~5 ms, on every FHE job's path).
        Raises SQLAlchemy's IntegrityError if the job was recorded before (a replay)."""
        with self.session() as s:
            if key_bytes is not None and row.eval_keys_hash is not None:
                self._add_keys(s, row.eval_keys_hash, row.client, row.job_id, key_bytes, row.deadline)
            s.add(row)

    def add_keys(self, digest: str, client: str, job_id: int, size: int, deadline: int) -> None:
        with self.session() as s:
            self._add_keys(s, digest, client, job_id, size, deadline)

    def _add_keys(self, s: Session, digest: str, client: str, job_id: int, size: int, deadline: int) -> None:
        if s.get(EvalKeyRow, (self.chain, digest, client.lower(), job_id)) is None:
            s.add(EvalKeyRow(chain=self.chain, digest=digest, client=client.lower(), job_id=job_id,
                             size=size, deadline=deadline))  # fmt: skip

    def client_holds(self, client: str, digest: str) -> bool:
        """Whether these keys already count in ``client``'s quota (uploaded for another of its jobs)."""
        with self.session() as s:
            q = select(EvalKeyRow.digest).where(
                EvalKeyRow.chain == self.chain,
                EvalKeyRow.client == client.lower(),
                EvalKeyRow.digest == digest,
            )
            return s.scalar(q.limit(1)) is not None

    def keys_held(self, digest: str) -> bool:
        with self.session() as s:
            return s.scalar(select(EvalKeyRow.digest).where(EvalKeyRow.digest == digest).limit(1)) is not None

    def key_uploads(self) -> list[EvalKeyRow]:
        """Every key upload held, on any chain (the sweep asks the chain which jobs are over)."""
        with self.session() as s:
            return list(s.scalars(select(EvalKeyRow)))

    def drop_keys(self, rows: list[EvalKeyRow]) -> list[str]:
        """Forget these uploads; the digests no upload names any more (their blobs can be deleted)."""
        with self.session() as s:
            for r in rows:
                s.execute(
                    delete(EvalKeyRow).where(
                        EvalKeyRow.chain == r.chain,
                        EvalKeyRow.digest == r.digest,
                        EvalKeyRow.client == r.client,
                        EvalKeyRow.job_id == r.job_id,
                    )
                )
        gone = []
        for d in {r.digest for r in rows}:
            if not self.keys_held(d):
                gone.append(d)
        return gone
