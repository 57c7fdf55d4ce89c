"""core.usecases.metrics without processes: the collector over a profile's events.jsonl (what a scrape
exposes, incrementally), and the shipped Grafana dashboard charts only metric names the collector has."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from core.base.paths import ProfilePaths, ensure_private_dir
from core.events.types import (ChainTotals, NodeIdentity, PeersUpdate, RolloutsFetched, RolloutsShared, RoundFinished,
                               SubmissionEvent)
from core.usecases.metrics import SwarmdeckCollector

REPO = Path(__file__).resolve().parents[2]


def write(name: str, *events) -> None:
    pp = ProfilePaths(name)
    ensure_private_dir(pp.events_file.parent)
    with open(pp.events_file, "a") as f:
        for i, ev in enumerate(events):
            f.write(ev.stamped(seq=i + 1, ts=1.0, profile=name).to_json() + "\n")


def test_collector_counts_events_incrementally():
    write("p1", NodeIdentity(peer_id="QmP1", display_name="x"),
          RoundFinished(round=4, stage=0, reward=0.25, n_local=4, n_external=2),
          RolloutsShared(round=4, bytes=1000), RolloutsFetched(round=4, n_external=6, peers=3),
          PeersUpdate(peers=(), total=7), ChainTotals(total_reward=12.5, total_wins=2),
          SubmissionEvent(kind="reward", status="pending", round=4, stage=0),
          SubmissionEvent(kind="winners", status="pending", round=4),
          SubmissionEvent(kind="winners", status="landed", round=4))
    write("p2", RoundFinished(round=9, stage=0, reward=1.0, n_local=4, n_external=0))
    reg = CollectorRegistry(auto_describe=False)
    col = SwarmdeckCollector(["p1", "p2"])
    reg.register(col)
    text = generate_latest(reg).decode()
    lab = 'peer_id="QmP1",profile="p1"'
    for line in (f"swarmdeck_rounds_finished_total{{{lab}}} 1.0", f"swarmdeck_last_round{{{lab}}} 4.0",
                 f"swarmdeck_round_reward{{{lab}}} 0.25", f"swarmdeck_chain_total_reward{{{lab}}} 12.5",
                 f"swarmdeck_chain_wins{{{lab}}} 2.0", f"swarmdeck_votes_total{{{lab}}} 1.0",
                 f"swarmdeck_peers_seen{{{lab}}} 7.0", f"swarmdeck_rollouts_shared_total{{{lab}}} 1.0",
                 f"swarmdeck_rollouts_shared_bytes_total{{{lab}}} 1000.0",
                 f"swarmdeck_rollouts_taken_total{{{lab}}} 6.0", f"swarmdeck_submission_queue{{{lab}}} 1.0",
                 f'swarmdeck_up{{{lab}}} 0.0', 'swarmdeck_node_state{peer_id="",profile="p2",state="stopped"} 1.0',
                 'swarmdeck_last_round{peer_id="",profile="p2"} 9.0'):
        assert line in text.splitlines(), line
    # the next scrape reads only what was appended
    write("p1", RoundFinished(round=5, stage=0, reward=0.5, n_local=4, n_external=2))
    text = generate_latest(reg).decode()
    assert f"swarmdeck_rounds_finished_total{{{lab}}} 2.0" in text.splitlines()
    assert f"swarmdeck_last_round{{{lab}}} 5.0" in text.splitlines()
    assert "secret" not in text.lower() and "0x" not in text
    # every per-profile series carries peer_id (issue 20: up, node_state, supervisor_up, restarts, rss had
    # only profile, though the docs promise peer_id on all of them)
    per_profile = [ln for ln in text.splitlines() if not ln.startswith("#") and 'profile="' in ln]
    assert per_profile and all('peer_id="' in ln for ln in per_profile), [ln for ln in per_profile
                                                                          if 'peer_id="' not in ln]
    fams = {ln.split("{")[0] for ln in per_profile}
    assert {"swarmdeck_up", "swarmdeck_node_state", "swarmdeck_supervisor_up", "swarmdeck_node_restarts"} <= fams


def test_grafana_dashboard_uses_only_exposed_metric_names():
    dash = json.loads((REPO / "contrib" / "grafana" / "swarmdeck.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bswarmdeck_[a-z_]+", e)}
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SwarmdeckCollector([]))
    text = generate_latest(reg).decode()
    exposed = set(re.findall(r"^# TYPE (swarmdeck_[a-z_]+) (\w+)", text, re.M))
    names = {n for n, _ in exposed} | {n + "_total" for n, t in exposed if t == "counter"}
    assert used and used <= names, used - names
    # every profile metric of the collector has a panel
    assert {"swarmdeck_up", "swarmdeck_round_reward", "swarmdeck_chain_wins", "swarmdeck_votes_total",
            "swarmdeck_peers_seen", "swarmdeck_submission_queue", "swarmdeck_gpu_power_watts",
            "swarmdeck_node_rss_bytes", "swarmdeck_node_restarts"} <= used


def test_refused_peer_groups_by_reason_survive_a_node_restart():
    from core.events.types import NodeState, PeerTrust

    liar = {"peer_id": "QmLiar", "reason": "disagree", "until_round": 30}
    write("p3", NodeIdentity(peer_id="QmP3", display_name="x"), NodeState(state="starting"),
          PeerTrust(round=1, refused={"disagree": 1}),
          PeerTrust(round=2, refused={"disagree": 3, "unverifiable": 1}, ignored=(liar,)),
          NodeState(state="starting"),                       # the node restarted: its counts begin again
          PeerTrust(round=3, refused={"disagree": 2}))
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SwarmdeckCollector(["p3"]))
    lines = generate_latest(reg).decode().splitlines()
    lab = 'peer_id="QmP3",profile="p3"'
    assert f'swarmdeck_peer_groups_refused_total{{{lab},reason="disagree"}} 5.0' in lines
    assert f'swarmdeck_peer_groups_refused_total{{{lab},reason="unverifiable"}} 1.0' in lines
    assert f"swarmdeck_peers_ignored{{{lab}}} 0.0" in lines


def test_what_the_swarm_gave_in_the_metrics_and_status_json():
    """Useful groups by origin and refused, peers' share over 20 rounds, and the verdict: the same fold
    (core.events.swarm_gain) as the dashboard, in the metrics and in `status --json`'s profile entry."""
    from core.usecases.profile_state import swarm_gave

    evs = [NodeIdentity(peer_id="QmG", display_name="x")]
    for r in range(20):  # a clear rise, 3 of every 4 useful groups from peers
        evs.append(RoundFinished(round=r, stage=0, reward=0.1 + 0.02 * r, n_local=4, n_external=3, useful_own=1,
                                 useful_peers=3, refused=1 if r == 7 else 0, taken_from={"QmA": 2, "QmB": 1},
                                 refused_from={"QmB": 1} if r == 7 else {}))
    write("g1", *evs)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SwarmdeckCollector(["g1"]))
    lines = generate_latest(reg).decode().splitlines()
    lab = 'peer_id="QmG",profile="g1"'
    for want in (f'swarmdeck_useful_groups_total{{origin="own",{lab}}} 20.0',
                 f'swarmdeck_useful_groups_total{{origin="peers",{lab}}} 60.0',
                 f'swarmdeck_useful_groups_total{{origin="refused",{lab}}} 1.0',
                 f"swarmdeck_peer_share_20{{{lab}}} 0.75", f"swarmdeck_swarm_gain_faster{{{lab}}} 1.0"):
        assert want in lines, want
    st = swarm_gave("g1")
    assert st["last_round"] == {"round": 19, "own": 1, "from_peers": 3, "refused": 0}
    assert st["window"]["verdict"] == "faster" and st["window"]["peer_share"] == 0.75
    assert st["taken_from"] == {"QmA": 40, "QmB": 20} and st["refused_from"] == {"QmB": 1}
    json.dumps(st)  # JSON-able as it is
    assert swarm_gave("nobody") is None
