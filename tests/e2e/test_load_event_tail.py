"""The load harness reads its clients' event files as they grow (``demo.load._EventTail``): every
event once, in order, a line still being written left for the next read."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from veilproof.demo.load import JobEvent, _EventTail


def _line(client: int, seq: int) -> bytes:
    ev = JobEvent(client=client, seq=seq, mode="zk", behaviour="honest", outcome="settled")
    return (json.dumps(asdict(ev)) + "\n").encode()


def test_events_are_read_once_each_and_a_torn_line_waits(tmp_path: Path) -> None:
    tail = _EventTail(tmp_path, 2)
    assert tail.read() == []  # no file yet
    f0 = tmp_path / "events-0.jsonl"
    f0.write_bytes(_line(0, 1) + _line(0, 2))
    assert [(e.client, e.seq) for e in tail.read()] == [(0, 1), (0, 2)]
    third = _line(0, 3)
    with f0.open("ab") as f:
        f.write(third[:10])  # the client is writing this line now
    (tmp_path / "events-1.jsonl").write_bytes(_line(1, 1))
    assert [(e.client, e.seq) for e in tail.read()] == [(0, 1), (0, 2), (1, 1)]
    with f0.open("ab") as f:
        f.write(third[10:])
    assert [(e.client, e.seq) for e in tail.read()] == [(0, 1), (0, 2), (1, 1), (0, 3)]
    assert len(tail.read()) == 4  # nothing new: nothing read twice
