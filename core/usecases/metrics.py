"""Prometheus metrics of every profile: what `swarmdeck metrics serve` exposes (prometheus-client).

One collector reads the same sources the TUI and `swarmdeck status` read: the supervisor's status
(core.supervisor.query_status), each profile's events.jsonl through the one reader
(core.events.reader.EventSource, followed incrementally: a scrape reads only what was appended since the
last one) and the host telemetry (core.hardware.telemetry: NVML for the GPUs). Labels are the profile
and its peer id (public); never a secret (no EOA key, no token, no URL).

Metric names (contrib/grafana/swarmdeck.json charts them):
  swarmdeck_up{profile,peer_id}                 1 when the node runs (running|starting|preparing|stopping)
  swarmdeck_node_state{profile,peer_id,state}   1 for the current state, 0 for the others
  swarmdeck_supervisor_up{profile,peer_id}      1 when the profile's supervisor answers
  swarmdeck_node_restarts{profile,peer_id}      restarts by the current supervisor
  swarmdeck_node_rss_bytes{profile,peer_id}     RSS of the node's process tree
  swarmdeck_rounds_finished_total{profile,peer_id}
  swarmdeck_last_round{profile,peer_id}
  swarmdeck_round_reward{profile,peer_id}       mean local reward of the last finished round
  swarmdeck_chain_total_reward{profile,peer_id} on-chain total reward
  swarmdeck_chain_wins{profile,peer_id}         on-chain wins
  swarmdeck_votes_total{profile,peer_id}        winner votes that landed on chain
  swarmdeck_peers_seen{profile,peer_id}         peers heard from over the DHT
  swarmdeck_rollouts_shared_total{profile,peer_id}   rounds whose rollouts this node shared
  swarmdeck_rollouts_shared_bytes_total{profile,peer_id}
  swarmdeck_rollouts_taken_total{profile,peer_id}    peers' rollouts this node trained on
  swarmdeck_useful_groups_total{profile,peer_id,origin}  useful groups trained on (origin own|peers) and
                                                peers' groups refused (origin refused)
  swarmdeck_peer_share_20{profile,peer_id}      peers' share of the useful groups over the last 20 rounds
  swarmdeck_swarm_gain_faster{profile,peer_id}  1 when the last 20 rounds rose faster than own groups alone
                                                predict (core.events.swarm_gain), else 0
  swarmdeck_submission_queue{profile,peer_id}   chain writes pending
  swarmdeck_submissions_total{profile,peer_id,kind,status}
  swarmdeck_tokens_per_second{profile,peer_id}  generation speed of the last step
  swarmdeck_gpu_utilization_percent{gpu,name}, swarmdeck_gpu_memory_used_bytes{gpu,name},
  swarmdeck_gpu_memory_total_bytes{gpu,name}, swarmdeck_gpu_temperature_celsius{gpu,name},
  swarmdeck_gpu_power_watts{gpu,name}           (absent without an NVIDIA GPU)
  swarmdeck_host_memory_used_bytes, swarmdeck_host_cpu_percent
  swarmdeck_scrape_seconds                      what the last collection cost
  swarmdeck_fleet_host_up{host}                 while `swarmdeck fleet watch` runs: 1 when the host answers
  swarmdeck_fleet_host_rtt_seconds{host}        its SSH round trip
  swarmdeck_fleet_node_state{host,profile,state} 1 for a remote node's current state, 0 for the others
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

import core.supervisor as _supervisor
from core.base import paths as _paths
from core.config import settings as _config
from core.events.reader import EventSource
from core.events.swarm_gain import SwarmGain
from core.events.types import (ChainTotals, Event, NodeIdentity, PeersUpdate, PeerTrust, RolloutsFetched, RolloutsShared,
                               RoundFinished, RoundStarted, SubmissionEvent, TrainStep)
from core.hardware.telemetry import Telemetry
from core.identity import files as _identity

STATES = ("running", "starting", "preparing", "stopping", "stopped", "crashed", "gave_up")
RUNNING = ("running", "starting", "preparing", "stopping")


@dataclass
class ProfileCounters:
    """What one profile's events add up to (from the reader, incrementally)."""

    peer_id: str = ""
    rounds_finished: int = 0
    last_round: int | None = None
    round_reward: float | None = None
    total_reward: float | None = None
    wins: int | None = None
    votes: int = 0
    peers_seen: int | None = None
    shared: int = 0
    shared_bytes: int = 0
    taken: int = 0
    tokens_per_s: float | None = None
    pending: set = field(default_factory=set)
    submissions: dict = field(default_factory=dict)   # (kind, status) -> count
    last_state: str | None = None                     # the last node.state in the file (no supervisor)
    gain: SwarmGain = field(default_factory=SwarmGain)  # useful groups by origin (core.events.swarm_gain)
    useful: dict = field(default_factory=lambda: {"own": 0, "peers": 0, "refused": 0})
    run_refused: dict = field(default_factory=dict)   # peer groups refused by verification, by reason, this run
    refused_base: dict = field(default_factory=dict)  # the same summed over earlier runs of the node
    ignored_peers: int | None = None                  # peers ignored now (peer trust)

    @property
    def refused(self) -> dict:
        """Peer groups refused by verification since the events file began, by reason (a counter)."""
        keys = set(self.run_refused) | set(self.refused_base)
        return {k: self.refused_base.get(k, 0) + self.run_refused.get(k, 0) for k in sorted(keys)}

    def add(self, ev: Event) -> None:
        if isinstance(ev, NodeIdentity):
            self.peer_id = ev.peer_id
        elif isinstance(ev, RoundStarted):
            self.last_round = max(self.last_round or 0, ev.round)
        elif isinstance(ev, RoundFinished):
            self.gain.add(ev)
            if ev.useful_own is not None:
                self.useful["own"] += int(ev.useful_own)
                self.useful["peers"] += int(ev.useful_peers or 0)
                self.useful["refused"] += int(ev.refused or 0)
            self.rounds_finished += 1
            self.last_round = max(self.last_round or 0, ev.round)
            self.round_reward = float(ev.reward)
        elif isinstance(ev, ChainTotals):
            self.total_reward = float(ev.total_reward)
            if ev.total_wins is not None:
                self.wins = int(ev.total_wins)
        elif isinstance(ev, PeersUpdate):
            self.peers_seen = int(ev.total) if ev.total is not None else len(ev.peers)
        elif isinstance(ev, RolloutsShared):
            self.shared += 1
            self.shared_bytes += int(ev.bytes or 0)
        elif isinstance(ev, RolloutsFetched):
            self.taken += int(ev.n_external or 0)
        elif isinstance(ev, PeerTrust):
            self.run_refused = {str(k): int(v) for k, v in ev.refused.items()}  # cumulative within one node run
            self.ignored_peers = len(ev.ignored)
        elif isinstance(ev, TrainStep):
            if ev.tokens_per_s is not None:
                self.tokens_per_s = float(ev.tokens_per_s)
        elif isinstance(ev, SubmissionEvent):
            key = (ev.kind, ev.round, ev.stage)
            self.submissions[(ev.kind, ev.status)] = self.submissions.get((ev.kind, ev.status), 0) + 1
            if ev.status == "pending":
                self.pending.add(key)
            else:
                self.pending.discard(key)
                if ev.kind == "winners" and ev.status == "landed":
                    self.votes += 1
        elif ev.type == "node.state":
            self.last_state = getattr(ev, "state", None)
            if self.last_state == "starting" and self.run_refused:  # a new node run counts from 0: bank this one
                self.refused_base = self.refused
                self.run_refused = {}


def _peer_id(pp: _paths.ProfilePaths) -> str:
    """The profile's peer id from its swarm.pem (public), so the label is stable before the node says it."""
    try:
        return _identity.peer_id_from_pem(pp.swarm_pem) if pp.swarm_pem.exists() else ""
    except Exception:
        return ""


class SwarmdeckCollector(Collector):
    """A prometheus-client collector over every profile in config.toml (or the names given)."""

    def __init__(self, profiles: Callable[[], Iterable[str]] | Iterable[str] | None = None,
                 telemetry: Telemetry | None = None, status_timeout: float = 1.0):
        self._profiles = profiles
        self._sources: dict[str, EventSource] = {}
        self._counters: dict[str, ProfileCounters] = {}
        self._telemetry = telemetry
        self._status_timeout = status_timeout
        self._lock = threading.Lock()   # the HTTP server answers scrapes from threads
        self.last_seconds = 0.0

    def profile_names(self) -> list[str]:
        if self._profiles is None:
            try:
                names = _config.load_config(create=False, strict=False).profile_names()
            except Exception:
                names = []
        elif callable(self._profiles):
            names = list(self._profiles())
        else:
            names = list(self._profiles)
        return [n for n in names if _paths.PROFILE_NAME_RE.match(n)]

    def counters(self, name: str) -> ProfileCounters:
        """The profile's counters after reading what its events.jsonl gained since the last call."""
        src = self._sources.get(name)
        if src is None:
            pp = _paths.ProfilePaths(name)
            # the whole file on the first read (the supervisor compacts it past events_max_mb)
            src = self._sources[name] = EventSource(pp.events_file, history_bytes=1 << 40)
            self._counters[name] = ProfileCounters(peer_id=_peer_id(pp))
        c = self._counters[name]
        for ev in src.poll():
            c.add(ev)
        return c

    def collect(self) -> Iterator:
        with self._lock:
            t0 = time.perf_counter()
            yield from self._collect()
            self.last_seconds = time.perf_counter() - t0
            g = GaugeMetricFamily("swarmdeck_scrape_seconds", "seconds the previous collection took")
            g.add_metric([], self.last_seconds)
            yield g

    def _collect(self) -> Iterator:
        PP = ["profile", "peer_id"]
        up = GaugeMetricFamily("swarmdeck_up", "1 when the profile's node runs", labels=PP)
        state = GaugeMetricFamily("swarmdeck_node_state", "1 for the node's current state", labels=PP + ["state"])
        sup = GaugeMetricFamily("swarmdeck_supervisor_up", "1 when the profile's supervisor answers", labels=PP)
        restarts = GaugeMetricFamily("swarmdeck_node_restarts", "restarts by the current supervisor", labels=PP)
        rss = GaugeMetricFamily("swarmdeck_node_rss_bytes", "RSS of the node's process tree", labels=PP)
        rounds = CounterMetricFamily("swarmdeck_rounds_finished", "rounds finished (events.jsonl)", labels=PP)
        last_round = GaugeMetricFamily("swarmdeck_last_round", "the node's newest round", labels=PP)
        reward = GaugeMetricFamily("swarmdeck_round_reward", "mean local reward of the last round", labels=PP)
        total = GaugeMetricFamily("swarmdeck_chain_total_reward", "on-chain total reward", labels=PP)
        wins = GaugeMetricFamily("swarmdeck_chain_wins", "on-chain wins", labels=PP)
        votes = CounterMetricFamily("swarmdeck_votes", "winner votes landed on chain", labels=PP)
        peers = GaugeMetricFamily("swarmdeck_peers_seen", "peers heard from over the DHT", labels=PP)
        shared = CounterMetricFamily("swarmdeck_rollouts_shared", "rounds whose rollouts were shared", labels=PP)
        shared_b = CounterMetricFamily("swarmdeck_rollouts_shared_bytes", "bytes of rollouts shared", labels=PP)
        taken = CounterMetricFamily("swarmdeck_rollouts_taken", "peers' rollouts trained on", labels=PP)
        queue = GaugeMetricFamily("swarmdeck_submission_queue", "chain writes pending", labels=PP)
        subs = CounterMetricFamily("swarmdeck_submissions", "chain write status changes",
                                   labels=PP + ["kind", "status"])
        tps = GaugeMetricFamily("swarmdeck_tokens_per_second", "generation speed of the last step", labels=PP)
        refused = CounterMetricFamily("swarmdeck_peer_groups_refused",
                                      "peers' rollout groups refused by verification (re-derived and re-scored "
                                      "locally), by reason", labels=PP + ["reason"])
        ignored = GaugeMetricFamily("swarmdeck_peers_ignored", "peers ignored for failing verification", labels=PP)
        useful = CounterMetricFamily("swarmdeck_useful_groups", "useful groups trained on, by origin (own, peers), "
                                     "and peers' groups refused (refused)", labels=PP + ["origin"])
        share20 = GaugeMetricFamily("swarmdeck_peer_share_20", "peers' share of the useful groups, last 20 rounds",
                                    labels=PP)
        faster = GaugeMetricFamily("swarmdeck_swarm_gain_faster", "1 when the last 20 rounds' reward rose faster "
                                   "than own groups alone predict", labels=PP)
        for name in self.profile_names():
            pp = _paths.ProfilePaths(name)
            st = _supervisor.query_status(pp, timeout=self._status_timeout) or {}
            c = self.counters(name)
            s = str(st.get("state") or "") or ("crashed" if c.last_state in ("crashed", "gave_up") else "stopped")
            lab = [name, c.peer_id]  # every per-profile series carries peer_id (docs/operators.md)
            up.add_metric(lab, 1.0 if s in RUNNING else 0.0)
            for x in STATES:
                state.add_metric(lab + [x], 1.0 if s == x else 0.0)
            sup.add_metric(lab, 1.0 if st else 0.0)
            restarts.add_metric(lab, float(st.get("restarts") or 0))
            if st.get("rss_mb") is not None:
                rss.add_metric(lab, float(st["rss_mb"]) * 2**20)
            rounds.add_metric(lab, c.rounds_finished)
            if c.last_round is not None:
                last_round.add_metric(lab, c.last_round)
            if c.round_reward is not None:
                reward.add_metric(lab, c.round_reward)
            if c.total_reward is not None:
                total.add_metric(lab, c.total_reward)
            if c.wins is not None:
                wins.add_metric(lab, c.wins)
            votes.add_metric(lab, c.votes)
            if c.peers_seen is not None:
                peers.add_metric(lab, c.peers_seen)
            shared.add_metric(lab, c.shared)
            shared_b.add_metric(lab, c.shared_bytes)
            taken.add_metric(lab, c.taken)
            queue.add_metric(lab, len(c.pending))
            for (kind, status), n in sorted(c.submissions.items()):
                subs.add_metric(lab + [str(kind), str(status)], n)
            if c.tokens_per_s is not None:
                tps.add_metric(lab, c.tokens_per_s)
            for reason, n in c.refused.items():
                refused.add_metric(lab + [reason], n)
            if c.ignored_peers is not None:
                ignored.add_metric(lab, c.ignored_peers)
            if c.gain.last() is not None:
                for origin in ("own", "peers", "refused"):
                    useful.add_metric(lab + [origin], c.useful[origin])
                v = c.gain.view()
                if v["peer_share"] is not None:
                    share20.add_metric(lab, v["peer_share"])
                faster.add_metric(lab, 1.0 if v["verdict"] == "faster" else 0.0)
        yield from (up, state, sup, restarts, rss, rounds, last_round, reward, total, wins, votes, peers, shared,
                    shared_b, taken, queue, subs, tps, refused, ignored, useful, share20, faster)
        yield from self._host()
        yield from self._fleet()

    def _fleet(self) -> Iterator:
        """The watchtower's last poll (core.usecases.fleet.watch writes it); nothing when no watch runs."""
        from core.usecases.fleet import watch_gauges

        d = watch_gauges()
        if not d:
            return
        up = GaugeMetricFamily("swarmdeck_fleet_host_up", "fleet host answers over SSH", labels=["host"])
        rtt = GaugeMetricFamily("swarmdeck_fleet_host_rtt_seconds", "fleet host SSH round trip", labels=["host"])
        st = GaugeMetricFamily("swarmdeck_fleet_node_state", "remote node state", labels=["host", "profile", "state"])
        for h in d.get("hosts") or []:
            up.add_metric([h["name"]], 1.0 if h.get("up") else 0.0)
            if h.get("rtt_ms") is not None:
                rtt.add_metric([h["name"]], float(h["rtt_ms"]) / 1000)
            for p in h.get("profiles") or []:
                for x in STATES:
                    st.add_metric([h["name"], p["name"], x], 1.0 if p.get("state") == x else 0.0)
        yield from (up, rtt, st)

    def _host(self) -> Iterator:
        if self._telemetry is None:
            self._telemetry = Telemetry()
        snap = self._telemetry.sample()
        G = ["gpu", "name"]
        fams = {k: GaugeMetricFamily(f"swarmdeck_gpu_{k}", h, labels=G) for k, h in (
            ("utilization_percent", "GPU utilisation"), ("memory_used_bytes", "GPU memory used"),
            ("memory_total_bytes", "GPU memory total"), ("temperature_celsius", "GPU temperature"),
            ("power_watts", "GPU power draw"))}
        for g in snap.gpus:
            lab = [str(g.index), g.name or ""]
            for k, v in (("utilization_percent", g.util_pct), ("memory_used_bytes", g.mem_used),
                         ("memory_total_bytes", g.mem_total), ("temperature_celsius", g.temp_c),
                         ("power_watts", g.power_w)):
                if v is not None:
                    fams[k].add_metric(lab, float(v))
        yield from fams.values()
        mem = GaugeMetricFamily("swarmdeck_host_memory_used_bytes", "host memory in use")
        if snap.host_ram_used is not None:
            mem.add_metric([], float(snap.host_ram_used))
        cpu = GaugeMetricFamily("swarmdeck_host_cpu_percent", "host CPU use (100 = all cores)")
        if snap.host_cpu_pct is not None:
            cpu.add_metric([], float(snap.host_cpu_pct))
        yield mem
        yield cpu


def make_registry(profiles: Iterable[str] | None = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SwarmdeckCollector(profiles))
    return reg


def render(profiles: Iterable[str] | None = None) -> str:
    """The exposition text once (`swarmdeck metrics show`)."""
    from prometheus_client import generate_latest

    return generate_latest(make_registry(profiles)).decode()


def serve(host: str = "127.0.0.1", port: int = 9464, profiles: Iterable[str] | None = None):
    """Start the HTTP endpoint (a daemon thread); (server, thread). server.shutdown() stops it."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=make_registry(profiles))
