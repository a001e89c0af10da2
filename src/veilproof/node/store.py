"""The node's own state in SQLite: jobs it accepted, their results, the evaluation keys it holds.

Why a database and not memory: a node killed mid-job must, on restart, know which jobs it owes and
either finish them or give them up before their deadline (so the client can refund). Inputs are
stored only as encrypted blobs (ECIES envelope or FHE ciphertext), never as plaintext.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from veilproof.protocol.api import JobState  # the states are part of the wire protocol (GET /jobs/{id})


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # unique: a job is served once
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
    __tablename__ = "eval_keys"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[float] = mapped_column(default=time.time)


class NodeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        Base.metadata.create_all(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    def get(self, job_id: int) -> JobRow | None:
        if not 0 < job_id < 2**63:  # SQLite integers are int64: a larger id is no row, not an overflow
            return None
        with self.session() as s:
            return s.get(JobRow, job_id)

    def unfinished(self) -> list[JobRow]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(JobRow).where(JobRow.state.in_([JobState.ACCEPTED.value, JobState.RUNNING.value]))
                )
            )

    def update(self, job_id: int, **fields: object) -> None:
        with self.session() as s:
            row = s.get(JobRow, job_id)
            if row is None:
                return
            for k, v in fields.items():
                setattr(row, k, v)
