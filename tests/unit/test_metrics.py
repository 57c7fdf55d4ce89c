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
