"""events.jsonl stays bounded (core.events.log.compact_events via EventBus(max_bytes=...)) without losing what
the dashboard reads back: real files, real EventBus / Supervisor / EventSource, real kill -9."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tui.model import dashboard
from core.events import log as events
from tui.model.dashboard import DashboardModel
from core.events import (ChainTotals, CheckpointSaved, Event, EventBus, EventSource, LogEvent, NodeIdentity, NodeMode,
                         NodeState, PeersUpdate, RolloutsFetched, RolloutsShared, RoundFinished, RoundStarted,
                         SubmissionEvent, TrainStep, compact_events, read_events)

from tests.helpers.events import PEER, emit_round, emit_start  # noqa: F401


def model_view(m: DashboardModel) -> dict:
    """Everything the dashboard draws (not its redraw counters version / log_total)."""
    return {
        "rewards": list(m.rewards.items()), "rounds_finished": m.rounds_finished, "round": m.round,
        "state": m.state, "peer_id": m.peer_id, "name": m.display_name, "registered": m.registered,
        "mode": (m.mode, m.device), "chain": (m.total_reward_chain, m.total_wins_chain),
        "submissions": [(k, vars(v)) for k, v in m.submissions.items()], "counts": m.submission_counts(),
        "failures": [vars(f) for f in m.failures], "logs": [vars(x) for x in m.logs],
        "peers": [vars(p) for p in m.peers], "loss": m.loss, "n_external": m.n_external_last,
        "last_seq": m.last_seq, "last_ts": m.last_event_ts,
    }


class Twin:
    """The same events into a compacting bus and into an uncompacted reference file."""

    def __init__(self, d: Path, max_bytes: int):
        self.path, self.ref = d / "events.jsonl", d / "reference.jsonl"
        self.compactions: list[dict] = []
        self.bus = EventBus("p", persist_to=self.path, max_bytes=max_bytes, on_compact=self.compactions.append)
        self.ref_bus = EventBus("p", persist_to=self.ref)
        self.bus.subscribe(self.ref_bus.publish)  # same Event objects, same seq

    def emit(self, ev: Event) -> Event:
        return self.bus.emit(ev)

    def close(self) -> None:
        self.bus.close()
        self.ref_bus.close()


class ThroughSupervisor:
    """emit_round's typed events published by the supervisor (it stamps its own seq and profile)."""

    def __init__(self, sup):
        self.sup = sup

    def emit(self, ev: Event) -> None:
        self.sup.publish(ev)


def seqs(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for line in path.read_bytes().splitlines()]


def test_dashboard_limits_match_what_compaction_keeps():
    # the compaction keeps what the dashboard folds: if a dashboard cap grows, this must follow
    assert events.KEEP_RECENT["log"] >= dashboard.MAX_LOG and events.KEEP_RECENT["error"] >= dashboard.MAX_LOG
    assert events.KEEP_RECENT["hf.push"] >= dashboard.MAX_LOG
    assert events.SUBMISSION_KEYS >= 4 * dashboard.MAX_ROUNDS
    assert events.SUBMISSION_FAILED >= dashboard.MAX_FAILURES


@pytest.mark.timeout(120)
def test_bus_past_limit_compacts_and_dashboard_history_is_identical(tmp_path):
    limit = 1_200_000
    t = Twin(tmp_path, limit)
    emit_start(t)
    for r in range(700):
        emit_round(t, r, fail=(r % 50 == 7))
    t.close()

    full, compacted = t.ref.stat().st_size, t.path.stat().st_size
    assert full > 3 * limit                       # ~4 MB written ...
    assert len(t.compactions) >= 3, t.compactions
    assert compacted <= limit                     # ... the file never stays past the limit
    assert not any("error" in c for c in t.compactions)

    ref, got = DashboardModel.from_history(t.ref), DashboardModel.from_history(t.path)
    assert len(ref.rewards) == dashboard.MAX_ROUNDS and ref.rounds_finished == 700
    assert model_view(got) == model_view(ref)

    # every round's reward is still in the file, not only the dashboard's window
    def rf(p):
        return [(e.round, e.reward, e.seq) for e in read_events(p, ["round.finished"])]
    assert rf(t.path) == rf(t.ref)
    # the newest events are there byte for byte (replay, restart seq, the TUI's first read)
    tail = t.ref.read_bytes()[-limit // events.TAIL_FRACTION:].split(b"\n", 1)[1]
    assert t.path.read_bytes().endswith(tail)
    # order and seq untouched: strictly increasing, a subset of the original
    s = seqs(t.path)
    assert s == sorted(set(s)) and set(s) <= set(seqs(t.ref))
    # the previous full file is the one backup
    backup = tmp_path / "events.jsonl.1"
    assert backup.exists() and not (tmp_path / "events.jsonl.1.1").exists()
    b = seqs(backup)
    assert b == sorted(b) and b[-1] < s[-1] and b[-1] in s
    assert backup.stat().st_size > limit
    assert not list(tmp_path.glob(".*compact"))


@pytest.mark.timeout(60)
def test_history_budget_drops_oldest_rounds_first(tmp_path):
    # a node so old that its reward history alone is past half the limit: the oldest rounds go first,
    # the dashboard's window (the newest MAX_ROUNDS rounds) is untouched
    path = tmp_path / "events.jsonl"
    bus = EventBus("p", persist_to=path)
    for r in range(4000):
        bus.emit(RoundFinished(round=r, stage=0, reward=r / 1000, n_local=4, n_external=0))
    bus.close()
    before = DashboardModel.from_history(path)
    limit = path.stat().st_size // 2
    info = compact_events(path, limit)
    assert info and info["after"] <= limit * (1 / events.TAIL_FRACTION + 1 / events.HISTORY_FRACTION) + 1000
    rounds = [e.round for e in read_events(path)]
    assert rounds == list(range(rounds[0], 4000)) and rounds[0] > 0
    after = DashboardModel.from_history(path)
    assert list(after.rewards.items()) == list(before.rewards.items())
    assert compact_events(path, 10 * limit) is None  # under the limit: nothing to do


@pytest.mark.timeout(60)
def test_seq_keeps_increasing_across_compaction_and_restart(tmp_path):
    import core.supervisor as daemon
    from core.base.paths import ProfilePaths

    paths = ProfilePaths("seqp")
    settings = daemon.SupervisorSettings(events_max_bytes=300_000, replay=500)

    def supervisor():
        return daemon.Supervisor("seqp", settings=settings, node_cmd=["true"], paths=paths)

    def close(sup):
        sup.bus.close()
        for h in sup.log.handlers + sup.nodelog.handlers:
            h.close()

    sup = supervisor()
    for r in range(60):
        emit_round(ThroughSupervisor(sup), r)  # Supervisor.publish numbers them (self._seq), as the node's
    last = sup._seq
    close(sup)
    assert (paths.root / "events.jsonl.1").exists()                  # it did compact
    assert "compacted" in (paths.log_dir / "supervisor.log").read_text()
    s = seqs(paths.events_file)
    assert s[-1] == last and s == sorted(set(s))

    sup2 = supervisor()                                               # a restart reads the last seq back
    assert sup2._seq == last
    for r in range(60, 120):
        emit_round(ThroughSupervisor(sup2), r)
    close(sup2)
    s2 = seqs(paths.events_file)
    assert s2 == sorted(set(s2)) and s2[-1] == sup2._seq > last
    assert [e.round for e in read_events(paths.events_file, ["round.finished"])] == list(range(120))

    # events.jsonl deleted by hand: seq still goes on from the backup, never back to 1
    paths.events_file.unlink()
    sup3 = supervisor()
    assert sup3._seq >= seqs(paths.root / "events.jsonl.1")[-1] > 0
    close(sup3)


@pytest.mark.timeout(60)
def test_event_source_across_a_compaction_hands_out_only_new_events(tmp_path):
    from core.base.paths import ProfilePaths

    path = ProfilePaths("tuip").events_file
    bus = EventBus("tuip", persist_to=path, max_bytes=150_000)
    compactions: list = []
    bus._on_compact = compactions.append
    emit_start(bus)
    src = EventSource(path)
    got = src.poll()
    for r in range(40):
        emit_round(bus, r)
        got += src.poll()  # a TUI polling each second
    bus.close()
    got += src.poll()
    assert len(compactions) >= 2
    s = [e.seq for e in got]
    assert s == sorted(set(s)), "an event handed out twice after a compaction"
    assert s == list(range(s[0], s[0] + len(s))), "an event missed after a compaction"
    model = DashboardModel()
    model.apply_all(got)
    assert model.rounds_finished == 40 and len(model.logs) == 40


def test_torn_last_line_is_not_glued_to_the_next_event(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(RoundStarted(round=1, stage=0).to_json().encode() + b"\n"
                     + b'{"v":1,"type":"round.fini')  # kill -9 mid-write
    bus = EventBus("p", persist_to=path)
    bus.emit(RoundFinished(round=1, stage=0, reward=0.5, n_local=4, n_external=0))
    bus.close()
    assert [e.type for e in read_events(path)] == ["round.started", "round.finished"]


def test_compaction_failure_never_stops_persisting(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    infos: list = []
    bus = EventBus("p", persist_to=path, max_bytes=20_000, on_compact=infos.append)

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(events.tempfile, "mkstemp", disk_full)
    for r in range(20):
        emit_round(bus, r, n_peers=2)
    bus.close()
    assert infos and all("error" in i for i in infos)
    assert len(infos) < 10  # retried after another quarter of the limit, not on every event
    assert [e.round for e in read_events(path, ["round.finished"])] == list(range(20))


def test_events_max_mb_from_the_profile_config():
    import core.supervisor as daemon
    from core.identity.profiles import create_profile

    assert daemon.SupervisorSettings().events_max_bytes == 20 * 2**20
    create_profile("evcfg", identity=False, daemon={"events_max_mb": 3})
    assert daemon.load_settings("evcfg").events_max_bytes == 3 * 2**20
    create_profile("evoff", identity=False, daemon={"events_max_mb": 0})
    assert daemon.load_settings("evoff").events_max_bytes == 0
