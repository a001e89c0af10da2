"""The job timer: disjoint phases that, with "other", add up to the job's wall time."""

from __future__ import annotations

from veilproof.node.timings import JobTimer, TimerBook, current, phase


class FakeClock:
    """The timer's clock, moved by the test: exact phase lengths whatever the machine's load (with
    real sleeps this test failed on a busy machine: a 20 ms sleep took over 30 ms)."""

    def __init__(self) -> None:
        self.t = 100.0

    def perf_counter(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_phases_are_disjoint_and_add_up_to_the_total(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from veilproof.node import timings

    clock = FakeClock()
    monkeypatch.setattr(timings, "time", clock)
    book = TimerBook()
    timer = JobTimer()
    with phase("outside a job"):  # no current timer: nothing recorded anywhere
        pass
    with book.recording(timer):
        assert current() is timer
        with phase("admission"):
            clock.sleep(0.02)
            with phase("chain_reads"):
                clock.sleep(0.03)
        clock.sleep(0.015)  # the round trip to the prover process, which measured 0.01 s inside
        timer.add_prover({"phases": {"prove": 0.01}, "pid": 7, "package_loads": 1}, round_trip_s=0.015)
        timer.finish()
    assert current() is None
    rep = timer.report()
    assert rep.complete and set(rep.phases) == {"admission", "chain_reads", "prove", "prover_ipc", "other"}
    assert abs(rep.phases["admission"] - 0.02) < 1e-9  # its nested chain_reads are not counted twice
    assert abs(rep.phases["chain_reads"] - 0.03) < 1e-9
    assert abs(rep.phases["prover_ipc"] - 0.005) < 1e-9
    assert abs(sum(rep.phases.values()) - rep.total_s) < 1e-9
    assert abs(rep.total_s - 0.065) < 1e-9
    assert rep.prover == {"pid": 7, "package_loads": 1}


def test_a_replayed_request_cannot_replace_the_jobs_timer() -> None:
    book = TimerBook(keep=2)
    t1 = book.for_job(1)
    assert book.for_job(1) is t1  # a recovered or queued job keeps its timer
    book.adopt(2, JobTimer())
    book.adopt(3, JobTimer())
    assert book.get(1) is None and book.get(3) is not None  # bounded: the oldest is forgotten


def test_recent_job_time_is_the_median_of_the_models_finished_jobs() -> None:
    """What /info advertises per model (#14): a median over recent finished jobs, other models and
    unfinished jobs excluded, one outlier (a first job loading keys) not moving it."""
    book = TimerBook()
    assert book.recent_job_time(1) == (None, 0)
    for job_id, (model, seconds) in enumerate([(1, 2.0), (1, 30.0), (1, 3.0), (2, 9.0), (1, 4.0)], start=1):
        t = JobTimer()
        t.started, t.finished = 100.0, 100.0 + seconds
        book.adopt(job_id, t, model)
    book.adopt(99, JobTimer(), 1)  # still running: not counted
    assert book.recent_job_time(1) == (3.5, 4)
    assert book.recent_job_time(2) == (9.0, 1)
    assert book.recent_job_time(1, last=2) == (3.5, 2)  # the two most recent: 3.0 and 4.0
