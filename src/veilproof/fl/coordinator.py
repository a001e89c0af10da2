"""The coordinator's side: run a training job's rounds on Flower and commit each on TrainingMarket.

``run_job`` starts the Flower cluster (SuperLink, one SuperNode per client), submits the app, and posts every
round on chain as soon as the ServerApp has written it (the round file is the hand-off: the ServerApp runs in
Flower's process, the chain key stays in this one). ``verify_round`` is the check anyone can run: the
committed updates hash to the posted Merkle root and re-aggregate to the posted model hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from veilproof.chain.token import Token
from veilproof.chain.training_market import TrainingMarket
from veilproof.fl.commit import aggregate_round, check_round, read_round, round_path
from veilproof.fl.model import ARCHITECTURE, Arrays, accuracy, load_split, train_central
from veilproof.fl.runtime import ClientSpec, FlowerCluster, FlowerRuntimeError
from veilproof.fl.sign import UpdateDomain


def arch_hash() -> bytes:
    return keccak(text=ARCHITECTURE)


def val_hash(seed: int = 7) -> bytes:
    """keccak256 of the public validation set (features then labels, float64 bytes)."""
    s = load_split(seed)
    return keccak(s.x_val.tobytes() + s.y_val.tobytes())


@dataclass
class JobRun:
    """What a run measured: per round its wall time in Flower and the gas of its on-chain post."""

    round_seconds: list[float] = field(default_factory=list)
    round_gas: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    test_accuracy: float = 0.0
    central_test_accuracy: float = 0.0


def post_round_file(market: TrainingMarket, job_id: int, job_dir: Path, rnd: int, coord: LocalAccount) -> int:
    """Post round ``rnd`` from the job directory; returns the gas used."""
    rec, _, _ = read_round(job_dir, rnd)
    rcpt = market.post_round(
        job_id, rnd, rec.aggregated_hash, rec.root, rec.participants, rec.scores,
        rec.update_hashes, rec.signatures, sender=coord,
    )  # fmt: skip
    return rcpt.gas_used


def verify_round(market: TrainingMarket, job_id: int, job_dir: Path, rnd: int) -> None:
    """Anyone's check of a posted round (raises ReaggregationMismatch)."""
    check_round(
        job_dir,
        rnd,
        market.round_model(job_id, rnd),
        market.round_root(job_id, rnd),
        update_domain(market, job_id),
    )


def update_domain(market: TrainingMarket, job_id: int) -> UpdateDomain:
    """Where the clients' update signatures for ``job_id`` are valid."""
    return UpdateDomain(market.net.chain_id, market.address, job_id)


def run_job(
    market: TrainingMarket,
    job_id: int,
    coord: LocalAccount,
    clients: list[ClientSpec],
    job_dir: Path,
    *,
    round_timeout: float = 60.0,
    kill_after: tuple[int, float] | None = None,
    timeout: float = 600.0,
    dp: tuple[float, float] = (0.0, 0.0),
) -> JobRun:
    """Run all rounds of ``job_id`` on a fresh Flower cluster and post each on chain as it completes.

    ``kill_after=(i, s)`` SIGKILLs client ``i``'s SuperNode ``s`` seconds after the run is submitted (the
    crash test). ``dp=(noise_multiplier, clipping_norm)`` turns on DP
    (fl.dp). The job must be started on chain (``TrainingMarket.start``) already."""
    job = market.job(job_id)
    job_dir = Path(job_dir)
    with FlowerCluster(job_dir) as cluster:
        cluster.start_superlink()
        for i, spec in enumerate(clients):
            cluster.start_client(i, len(clients), spec)
        cluster.submit(
            rounds=job.rounds,
            min_nodes=job.min_participants,
            round_timeout=round_timeout,
            domain=update_domain(market, job_id),
            dp=dp,
        )
        killer = None
        if kill_after:
            i, after = kill_after
            t_kill = time.monotonic() + after
            done = [False]

            def killer() -> None:
                if not done[0] and time.monotonic() >= t_kill:
                    cluster.kill(f"supernode-{i}")
                    done[0] = True

        return post_rounds(market, job_id, coord, job_dir, timeout=timeout, tick=killer)


def post_rounds(
    market: TrainingMarket,
    job_id: int,
    coord: LocalAccount,
    job_dir: Path,
    *,
    timeout: float = 600.0,
    tick: Callable[[], None] | None = None,
    on_round: Callable[[int, int], None] | None = None,
) -> JobRun:
    """Post every round the ServerApp writes, as it appears, until the job's last; ``tick`` runs each poll."""
    job = market.job(job_id)
    out = JobRun()
    t0 = time.monotonic()
    posted = job.rounds_posted
    while posted < job.rounds:
        if time.monotonic() - t0 > timeout:
            raise FlowerRuntimeError(f"round {posted + 1} not done after {timeout:.0f} s: see {job_dir}/logs")
        if tick:
            tick()
        if not round_path(job_dir, posted + 1).is_file():
            time.sleep(0.3)
            continue
        posted += 1
        out.round_gas.append(post_round_file(market, job_id, job_dir, posted, coord))
        rec, _, _ = read_round(job_dir, posted)
        out.round_seconds.append(rec.seconds)
        out.val_accuracy.append(rec.val_accuracy)
        if on_round:
            on_round(posted, out.round_gas[-1])
    out.test_accuracy = final_test_accuracy(job_dir, job.rounds)
    s = load_split()
    out.central_test_accuracy = accuracy(train_central(s, job.rounds), s.x_test, s.y_test)
    return out


def final_model(job_dir: Path, rounds: int) -> Arrays:
    """The trained model: the last round's committed updates, re-aggregated (not trusted from anyone)."""
    rec, ups, _ = read_round(job_dir, rounds)
    return aggregate_round(rec, ups)


def final_test_accuracy(job_dir: Path, rounds: int) -> float:
    s = load_split()
    return accuracy(final_model(job_dir, rounds), s.x_test, s.y_test)


def open_and_fill(
    market: TrainingMarket,
    token: Token,
    minter: LocalAccount,
    sponsor: LocalAccount,
    coord: LocalAccount,
    participants: list[LocalAccount],
    *,
    rounds: int,
    min_participants: int,
    bounty: int,
    stake: int,
    coordinator_stake: int,
    coordinator_bps: int = 1000,
) -> int:
    """Dev-chain setup shared by the demo and the tests: mint, open, everyone joins, the coordinator starts."""
    for who, amount in [(sponsor, bounty), (coord, coordinator_stake), *[(p, stake) for p in participants]]:
        token.mint(who.address, amount, sender=minter)
        token.approve(market.address, amount, sender=who)
    job_id = market.open_job(
        coordinator=coord.address,
        arch_hash=arch_hash(),
        val_hash=val_hash(),
        rounds=rounds,
        min_participants=min_participants,
        coordinator_bps=coordinator_bps,
        bounty=bounty,
        participant_stake=stake,
        coordinator_stake=coordinator_stake,
        sender=sponsor,
    )
    for p in participants:
        market.join(job_id, sender=p)
    market.start(job_id, sender=coord)
    return job_id
