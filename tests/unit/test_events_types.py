"""Typed events read what earlier versions wrote (tests/fixtures/events_v1.jsonl, written by the untyped
EventBus before core.events.types existed) and write it back byte for byte."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.events import (EVENT_CLASSES, Event, EventBus, GenericEvent, NodeState, Oom, PeerSeen, PeersUpdate,
                         RoundFinished, SubmissionEvent, TrainStep, last_seq, read_events, registered, tail_events)
from core.events.types import event_from_fields

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events_v1.jsonl"


def test_an_old_events_file_reads_as_typed_events():
    evs = list(read_events(FIXTURE))
    assert len(evs) == 28  # the torn last line is skipped
    # every type of the catalogue but those added after the fixture was written (model.build: issue 20;
    # peers.trust: issue 22); they have their own tests
    assert {ev.type for ev in evs} == (set(EVENT_CLASSES) - {"model.build", "peers.trust"}) | {"swarm.vote"}
    assert [ev.seq for ev in evs] == list(range(1, 29))
    sup = evs[0]
    assert isinstance(sup, NodeState) and (sup.state, sup.source, sup.restarts, sup.pid) == ("starting", "supervisor",
                                                                                            0, 4242)
    assert sup.extra == {"downshift": {}}  # a field this version does not name is kept
    rf = next(ev for ev in evs if isinstance(ev, RoundFinished))
    assert (rf.round, rf.reward, rf.n_external, rf.seconds, rf.profile) == (7, 0.625, 3, 31.2, "main")
    pu = next(ev for ev in evs if isinstance(ev, PeersUpdate))
    assert pu.peers == (PeerSeen("QmB", "b", 1764400001.0), PeerSeen("QmC", "c", 1764400002.0)) and pu.total == 2
    ts = next(ev for ev in evs if isinstance(ev, TrainStep))
    assert (ts.loss, ts.tokens_per_s, ts.skipped) == (0.0123, 850.5, False)
    crashed = [ev for ev in evs if isinstance(ev, NodeState)][-2]
    assert crashed.exit["exit_code"] == 42 and crashed.next_restart_in == 5.0
    assert [o.step_down for o in evs if isinstance(o, Oom)] == [None, "generations 8 -> 4"]
    # a type from a newer version is a generic event, not an error
    new = evs[-1]
    assert isinstance(new, GenericEvent) and new.type == "swarm.vote" and new.extra == {"round": 8, "choice": "QmB"}


def test_typed_events_write_the_old_lines_back_byte_for_byte():
    lines = FIXTURE.read_text().splitlines()[:-1]  # not the torn one
    assert [ev.to_json() for ev in read_events(FIXTURE)] == lines


def test_tail_and_registered_read_the_same_file():
    subs = tail_events(FIXTURE, 100, ("submission",))
    assert [s.status for s in subs] == ["pending", "landed", "pending", "failed"]
    assert all(isinstance(s, SubmissionEvent) for s in subs)
    assert registered(FIXTURE)


def test_a_known_type_missing_a_field_it_needs_is_refused(tmp_path):
    with pytest.raises(ValueError, match="missing fields"):
        Event.from_wire({"type": "round.finished", "round": 1})
    p = tmp_path / "events.jsonl"
    p.write_text('{"type":"round.finished","round":1}\n{"type":"round.started","round":2,"stage":0}\n'
                 '{"type":"round.started","round":3,"stage":0,"seq":1e999}\n{"type":"peers.update","peers":5}\n'
                 '{"type":"log","level":"info","message":"x","seq":[1]}\n' + "[" * 10000 + "\n")
    assert [ev.type for ev in read_events(p)] == ["round.started"]


def test_the_bus_stamps_and_persists_typed_events(tmp_path):
    p = tmp_path / "events.jsonl"
    bus = EventBus("lab", persist_to=p)
    got = []
    bus.subscribe(got.append)
    a = bus.emit(RoundFinished(round=1, stage=0, reward=0.5, n_local=4, n_external=0))
    b = bus.emit(SubmissionEvent(kind="reward", round=1, stage=0, status="pending"))
    # publish() takes an event its caller stamped (the supervisor numbers its own and the child's)
    bus.publish(NodeState(state="running", source="supervisor", seq=b.seq + 1, ts=time.time(), profile="lab"))
    bus.close()
    assert isinstance(b, SubmissionEvent) and b.seq > a.seq > 0 and a.profile == "lab" and a.ts > 0
    assert got[:2] == [a, b]
    back = list(read_events(p))
    assert back[:2] == [a, b] and isinstance(back[2], NodeState) and back[2].source == "supervisor"
    with pytest.raises(ValueError, match="unknown event type"):
        event_from_fields("no.such.type", x=1)
    assert json.loads(p.read_text().splitlines()[0])["reward"] == 0.5


def test_tail_skips_a_line_the_window_cut_and_last_seq_falls_back_to_the_backup(tmp_path):
    data = FIXTURE.read_bytes()
    p = tmp_path / "events.jsonl"
    p.write_bytes(data)
    window = len(data) - data.index(b"\n") - 5  # starts 4 bytes into the second line
    assert [ev.seq for ev in tail_events(p, 100, window=window)][0] == 3
    assert last_seq(p) == 28
    p.with_name("events.jsonl.1").write_bytes(data)
    p.write_bytes(b"")  # emptied by hand: numbering goes on from the backup
    assert last_seq(p) == 28
    p.unlink()
    assert last_seq(p) == 28 and last_seq(tmp_path / "none.jsonl") == 0
