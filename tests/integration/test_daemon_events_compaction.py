"""A live supervisor keeps events.jsonl under its events_max_bytes while the node floods it with events:
compactions happen, every round stays, seq keeps increasing across a supervisor restart, the TUI's
EventSource and the control socket's replay see no duplicate."""

from __future__ import annotations

import json
import time

import pytest

from core import supervisor
from daemon_support import needs_fake, rig, wait_for  # noqa: F401

pytestmark = pytest.mark.timeout(120)

LIMIT = 40_000


def _seqs(path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_bytes().splitlines()]


def _compactions(rig) -> int:
    try:
        return (rig.paths.log_dir / "supervisor.log").read_text().count("compacted ")
    except FileNotFoundError:
        return 0


def test_live_supervisor_compacts_events_and_keeps_rounds_and_seq(rig):
    needs_fake()
    from core.events.reader import EventSource

    rig.configure("--rate", "300", "--round-every", "0.05", events_max_bytes=LIMIT)
    rig.start()
    rig.wait_state("running")
    src = EventSource(rig.paths.events_file)
    seen = []
    deadline = time.monotonic() + 60
    while _compactions(rig) < 3 and time.monotonic() < deadline:
        seen += src.poll()
        time.sleep(0.1)
    assert _compactions(rig) >= 3, "no compaction"
    supervisor.stop_profile(rig.name)
    seen += src.poll()

    path = rig.paths.events_file
    assert path.stat().st_size <= LIMIT and (path.parent / "events.jsonl.1").exists()
    s = _seqs(path)
    assert s == sorted(set(s))
    rounds = [e["round"] for e in rig.events(["round.finished"])]
    assert len(rounds) > 20 and rounds == list(range(1, len(rounds) + 1)), "a round went missing"
    got = [e.seq for e in seen]
    assert got == sorted(set(got)) and got == list(range(got[0], got[0] + len(got))), \
        "the TUI's EventSource handed out an event twice or missed one across a compaction"

    # a new supervisor goes on from the last seq of the compacted file, without a duplicate
    rig.start()
    rig.wait_state("running")
    wait_for(lambda: _seqs(path)[-1] > s[-1], what="a new event")
    assert [q for q in _seqs(path) if q > s[-1]][0] == s[-1] + 1
    wait_for(lambda: (rig.status()["round"] or 0) > rounds[-1] + 3, what="rounds after the restart")
    supervisor.stop_profile(rig.name)
    s2 = _seqs(path)
    assert s2 == sorted(set(s2)) and s2[-1] > s[-1]
    rounds2 = [e["round"] for e in rig.events(["round.finished"])]
    assert rounds2 == list(range(1, len(rounds2) + 1)) and rounds2[-1] > rounds[-1]
