"""tui.model.dashboard.DashboardModel folds events into what the dashboard draws (no terminal)."""

from __future__ import annotations

from tui.model.dashboard import MAX_LOG, MAX_ROUNDS, DashboardModel
from core.events.log import EventBus
from core.events.types import Event, RoundFinished, RoundStarted


def ev(typ, **data):
    return Event.from_wire({"type": typ, "ts": 1000.0, **data})


def test_folds_a_node_history():
    m = DashboardModel(profile="main")
    v0 = m.version
    m.apply_all([
        ev("node.state", state="running"),
        ev("node.identity", peer_id="QmA", display_name="sly shaggy toucan"),
        ev("node.mode", mode="4bit", device="cuda", reason="24 GiB"),
        ev("round.started", round=5, stage=0),
        ev("train.step", round=5, loss=0.25, step_seconds=1.5, tokens_per_s=900.0),
        ev("round.finished", round=5, stage=0, reward=0.75, n_local=4, n_external=3),
        ev("submission", kind="register", status="landed"),
        ev("submission", kind="reward", round=5, stage=0, status="pending"),
        ev("submission", kind="reward", round=5, stage=0, status="landed", tx="0x1"),
        ev("submission", kind="winners", round=5, stage=0, status="failed", reason="InvalidVote"),
        ev("peers.update", peers=[{"peer_id": "QmB", "name": "b", "last_seen": 10},
                                  {"peer_id": "QmC", "name": "c", "last_seen": 20}, {"bad": 1}]),
        ev("chain.totals", total_reward=12.5, total_wins=2),
        ev("oom", kind="cuda", step_down="4bit"),
        ev("error", where="chain", what="rpc down", fix="check rpc_url"),
        ev("log", level="info", message="hello"),
    ])
    assert m.version > v0
    assert (m.state, m.peer_id, m.display_name, m.mode, m.device) == ("running", "QmA", "sly shaggy toucan", "4bit",
                                                                      "cuda")
    assert (m.round, m.stage, m.loss, m.tokens_per_s, m.n_external_last) == (5, 0, 0.25, 900.0, 3)
    assert m.rewards == {5: 0.75} and m.rounds_finished == 1 and m.reward_series() == [0.75]
    assert m.registered
    # one entry per (kind, round, stage): the pending reward became landed
    assert m.submission_counts() == {"pending": 0, "landed": 2, "failed": 1, "skipped": 0}
    assert [f.reason for f in m.failures] == ["InvalidVote"]
    assert [p.peer_id for p in m.peers] == ["QmC", "QmB"]  # newest first, malformed entry dropped
    assert (m.total_reward_chain, m.total_wins_chain) == (12.5, 2)
    assert m.oom == "cuda -> 4bit"
    assert m.last_error == "chain: rpc down (check rpc_url)"
    assert [ln.message for ln in m.logs] == ["chain: rpc down (check rpc_url)", "hello"]
    m.apply(ev("node.state", state="running"))
    assert m.oom is None


def test_unknown_event_types_do_not_change_the_version():
    m = DashboardModel()
    m.apply(ev("checkpoint.saved", round=1, path="/x"))
    v = m.version
    m.apply(ev("rollouts.shared", round=1))
    assert m.version == v


def test_memory_stays_bounded_and_new_logs_are_incremental():
    m = DashboardModel()
    for r in range(MAX_ROUNDS + 50):
        m.apply(ev("round.finished", round=r, stage=0, reward=float(r), n_local=4, n_external=4))
    assert len(m.rewards) == MAX_ROUNDS and next(iter(m.rewards)) == 50
    for i in range(MAX_LOG + 10):
        m.apply(ev("log", level="info", message=str(i)))
    assert len(m.logs) == MAX_LOG
    seen = m.log_total
    m.apply(ev("log", level="info", message="new"))
    assert [ln.message for ln in m.new_logs(seen)] == ["new"]
    assert len(m.new_logs(0)) == MAX_LOG


def test_from_history_reads_the_persisted_events(tmp_path):
    f = tmp_path / "events.jsonl"
    bus = EventBus("main", persist_to=f)
    bus.emit(RoundStarted(round=1, stage=0))
    bus.emit(RoundFinished(round=1, stage=0, reward=0.5, n_local=4, n_external=0))
    bus.close()
    with open(f, "a") as fh:
        fh.write('{"type": "round.fin')  # a torn last line (crash mid-write)
    m = DashboardModel.from_history(f, "main")
    assert m.rewards == {1: 0.5} and m.round == 1


def test_peer_count_is_the_events_total_not_the_listed_few():
    m = DashboardModel()
    listed = [{"peer_id": f"Qm{i}", "name": f"p{i}", "last_seen": 100.0 + i} for i in range(3)]
    m.apply(ev("peers.update", peers=listed, total=1234))
    assert (m.peer_total, [p.peer_id for p in m.peers]) == (1234, ["Qm2", "Qm1", "Qm0"])
    m.apply(ev("peers.update", peers=listed))  # an event written before "total" existed
    assert m.peer_total == 3
    m.apply(ev("peers.update", peers=listed, total=1))  # nonsense total: never fewer than listed
    assert m.peer_total == 3


def test_dht_forgets_peers_silent_for_a_day_and_caps_how_many_it_keeps(monkeypatch):
    from core.swarm import peers as peers_mod
    from core.swarm.dht import SwarmDHT
    from core.swarm.peers import PeerSeen as _PeerSeen

    d = object.__new__(SwarmDHT)  # only the bookkeeping is under test (no DHT process)
    now = 1_000_000.0
    d._seen = {"old": _PeerSeen(now - peers_mod.PEER_FORGET_S - 1), "fresh": _PeerSeen(now - 60)}
    d._forget_old_peers(now)
    assert list(d._seen) == ["fresh"]
    monkeypatch.setattr(peers_mod, "MAX_KNOWN_PEERS", 3)
    d._seen = {f"p{i}": _PeerSeen(now - i) for i in range(6)}  # p0 newest ... p5 oldest
    d._forget_old_peers(now)
    assert sorted(d._seen) == ["p0", "p1", "p2"]


def test_a_model_build_shows_while_the_node_prepares_and_the_model_is_named():
    m = DashboardModel(profile="main")
    m.apply_all([ev("node.state", state="starting"), ev("node.state", state="preparing", reason="loading the model"),
                 ev("model.build", model="demo", step=300, steps=800, elapsed_s=60.0, eta_s=100.0)])
    assert m.state == "preparing" and (m.build.step, m.build.steps, m.build.eta_s) == (300, 800, 100.0)
    m.apply(ev("model.build", model="demo", step=800, steps=800, elapsed_s=160.0, eta_s=0.0))
    assert m.build is None  # done
    m.apply(ev("model.build", model="demo", step=400, steps=800, elapsed_s=80.0, eta_s=80.0))
    m.apply_all([ev("node.mode", mode="fp32", device="cpu", reason="no GPU", model="demo"),
                 ev("node.state", state="running")])
    assert m.build is None and m.model_name == "demo"


def test_peer_trust_refused_counts_and_ignored_peers():
    m = DashboardModel(profile="main")
    assert m.trust is None
    m.apply(ev("peers.trust", round=4, refused={"disagree": 3, "unverifiable": 1},
               by_peer={"QmLiar": {"disagree": 3}, "QmOld": {"unverifiable": 1}},
               ignored=[{"peer_id": "QmLiar", "reason": "disagree", "since_round": 3, "until_round": 23},
                        {"reason": "junk without a peer"}, "junk"]))
    t = m.trust
    assert t.round == 4 and t.refused_total == 4 and t.refused_of("QmLiar") == 3 and t.refused_of("QmNone") == 0
    assert [(i.peer_id, i.reason, i.until_round) for i in t.ignored] == [("QmLiar", "disagree", 23)]
    m.apply(ev("peers.trust", round=30, refused={"disagree": 3, "unverifiable": 1}, ignored=[]))
    assert m.trust.ignored == () and m.trust.refused_total == 4
