"""The dashboard model: folds typed events (core.events.types) into the state screens render.

Pure Python, no Textual: the TUI feeds it the events core.events.reader.EventSource reads from the
profile's events.jsonl, and reads plain attributes.
`version` increases on every change so a view can skip redrawing when nothing moved.
Bounded memory: reward history, logs and failures are capped (weeks in tmux).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from core.events.reader import read_events
from core.events.swarm_gain import SwarmGain
from tui.model.i18n import t
from core.events.types import (
    ChainTotals, CheckpointSaved, ErrorEvent, Event, HfPush, LogEvent, NodeIdentity, NodeMode, NodeRegistered,
    ModelBuild, NodeState, Oom, PeersUpdate, PeerTrust, RolloutsFetched, RoundFinished, RoundStarted, SubmissionEvent,
    TrainStep,
)

MAX_ROUNDS = 500
MAX_LOG = 300
MAX_FAILURES = 20


@dataclass(frozen=True)
class Exchange:
    """The newest round's rollout fetch, as the DHT layer counted it (SwarmDHT.last_fetch)."""

    round: int
    taken: int                  # external rollouts used
    choosable: int | None       # peers whose manifests it could choose from
    requests: int | None        # DHT gets issued
    bytes: int | None           # value bytes received
    rejected: int | None        # records refused (bad signature, wrong version, junk)


@dataclass(frozen=True)
class IgnoredPeer:
    peer_id: str
    reason: str                 # core.training.verify reason tag (disagree, unverifiable, ...)
    until_round: int | None     # ignored while the round is below this


@dataclass(frozen=True)
class Trust:
    """Verified sharing (peers.trust): peer groups refused since the node started, and who is ignored.

    For the Peers panel (and the table it becomes): refused by reason, by peer, and the ignored peers."""

    round: int
    refused: dict[str, int]                    # reason -> groups
    by_peer: dict[str, dict[str, int]]         # peer id -> reason -> groups (the most refused 50)
    ignored: tuple[IgnoredPeer, ...]

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def refused_of(self, peer_id: str) -> int:
        return sum(self.by_peer.get(peer_id, {}).values())


@dataclass
class Peer:
    peer_id: str
    name: str
    last_seen: float | None
    trust: str | None = None   # verified sharing's trust state when the node reports one


@dataclass
class Submission:
    kind: str
    round: int | None
    stage: int | None
    status: str
    tx: str | None = None
    reason: str | None = None
    ts: float = 0.0


@dataclass
class LogLine:
    ts: float
    level: str
    message: str


@dataclass
class DashboardModel:
    profile: str = ""
    state: str = "unknown"          # node.state: starting|preparing|running|stopping|stopped|crashed|gave_up
    model_name: str | None = None    # the model that runs (node.mode's `model`)
    build: ModelBuild | None = None  # the newest model.build while the node prepares; None once it runs
    state_reason: str | None = None
    peer_id: str | None = None
    display_name: str | None = None
    eoa: str | None = None
    registered: bool = False
    mode: str | None = None          # 4bit|8bit|bf16|fp32
    device: str | None = None        # cpu|cuda
    mode_reason: str | None = None
    round: int | None = None
    stage: int | None = None
    rewards: "OrderedDict[int, float]" = field(default_factory=OrderedDict)  # round -> reward
    total_reward_chain: float | None = None   # from chain.totals events
    total_wins_chain: int | None = None
    rounds_finished: int = 0
    peers: list[Peer] = field(default_factory=list)  # the newest ones (peers.update lists at most 50)
    peer_total: int = 0  # every peer heard from (the event's "total")
    submissions: "OrderedDict[tuple, Submission]" = field(default_factory=OrderedDict)
    failures: deque = field(default_factory=lambda: deque(maxlen=MAX_FAILURES))
    loss: float | None = None
    step_seconds: float | None = None
    tokens_per_s: float | None = None
    n_external_last: int | None = None
    exchange: Exchange | None = None
    gain: SwarmGain = field(default_factory=SwarmGain)  # what the swarm gave, per round and over 20
    trust: Trust | None = None
    oom: str | None = None
    last_error: str | None = None
    logs: deque = field(default_factory=lambda: deque(maxlen=MAX_LOG))
    log_total: int = 0  # lines ever appended (the deque drops old ones); lets views append only new lines
    last_event_ts: float | None = None
    last_seq: int = 0
    version: int = 0

    # -- folding ---------------------------------------------------------------------------
    def apply(self, ev: Event) -> None:
        handler = _HANDLERS.get(type(ev))
        if handler is None:
            return
        handler(self, ev)
        self.last_event_ts = ev.ts
        if ev.seq:
            self.last_seq = max(self.last_seq, ev.seq)
        self.version += 1

    def apply_all(self, events: Iterable[Event]) -> None:
        for ev in events:
            self.apply(ev)

    def _on_node_state(self, ev: NodeState) -> None:
        self.state = str(ev.state)
        self.state_reason = ev.text("reason") or None
        if self.state == "running":
            self.oom = None
        if self.state not in ("preparing",):
            self.build = None  # a build belongs to the node's preparation only

    def _on_model_build(self, ev: ModelBuild) -> None:
        self.build = ev if ev.step < ev.steps else None

    def _on_node_identity(self, ev: NodeIdentity) -> None:
        self.peer_id = ev.peer_id
        self.display_name = ev.display_name
        self.eoa = ev.eoa or self.eoa

    def _on_node_registered(self, ev: NodeRegistered) -> None:
        self.registered = True
        self.peer_id = self.peer_id or ev.peer_id
        self.eoa = ev.eoa or self.eoa

    def _on_node_mode(self, ev: NodeMode) -> None:
        self.mode, self.device, self.mode_reason = ev.mode, ev.device, ev.text("reason")
        self.model_name = ev.model or self.model_name

    def _on_round_started(self, ev: RoundStarted) -> None:
        self.round, self.stage = int(ev.round), int(ev.stage)

    def _on_round_finished(self, ev: RoundFinished) -> None:
        r = int(ev.round)
        self.rewards[r] = float(ev.reward)
        self.rewards.move_to_end(r)
        while len(self.rewards) > MAX_ROUNDS:
            self.rewards.popitem(last=False)
        self.rounds_finished += 1
        self.n_external_last = ev.n_external
        self.gain.add(ev)

    def _on_chain_totals(self, ev: ChainTotals) -> None:
        self.total_reward_chain = float(ev.total_reward)
        if ev.total_wins is not None:
            self.total_wins_chain = int(ev.total_wins)

    def _on_train_step(self, ev: TrainStep) -> None:
        self.loss = ev.loss
        if ev.step_seconds is not None:
            self.step_seconds = ev.step_seconds
        if ev.tokens_per_s is not None:
            self.tokens_per_s = ev.tokens_per_s

    def _on_peers_update(self, ev: PeersUpdate) -> None:
        peers = [Peer(p.peer_id, p.name, p.last_seen, _trust(p)) for p in ev.peers]
        peers.sort(key=lambda p: -(p.last_seen or 0))
        self.peers = peers
        total = ev.total
        self.peer_total = int(total) if isinstance(total, int) and total >= len(peers) else len(peers)

    def _on_rollouts_fetched(self, ev: RolloutsFetched) -> None:
        self.exchange = Exchange(round=int(ev.round), taken=int(ev.n_external), choosable=ev.choosable,
                                 requests=ev.requests, bytes=ev.bytes, rejected=ev.rejected)

    def _on_peer_trust(self, ev: PeerTrust) -> None:
        ign = []
        for e in ev.ignored:
            until = e.get("until_round")
            ign.append(IgnoredPeer(str(e.get("peer_id")), str(e.get("reason") or ""),
                                   until if isinstance(until, int) and not isinstance(until, bool) else None))
        self.trust = Trust(round=int(ev.round), refused=dict(ev.refused),
                           by_peer={p: dict(c) for p, c in ev.by_peer.items()}, ignored=tuple(ign))

    def _on_submission(self, ev: SubmissionEvent) -> None:
        key = (ev.kind, ev.round, ev.stage)
        sub = Submission(kind=ev.kind, round=ev.round, stage=ev.stage,
                         status=ev.status, tx=ev.tx, reason=ev.text("reason") or None, ts=ev.ts)
        self.submissions[key] = sub
        self.submissions.move_to_end(key)
        while len(self.submissions) > 4 * MAX_ROUNDS:
            self.submissions.popitem(last=False)
        if sub.status == "failed":
            self.failures.append(sub)
        if ev.kind == "register" and sub.status in ("landed", "skipped"):
            self.registered = True

    def _on_oom(self, ev: Oom) -> None:
        self.oom = f"{ev.kind}" + (f" -> {ev.step_down}" if ev.step_down else "")

    def _on_error(self, ev: ErrorEvent) -> None:
        fix = ev.text("fix")
        self.last_error = f"{ev.text('where')}: {ev.text('what')}" + (f" ({fix})" if fix else "")
        self._log(LogLine(ev.ts, "error", self.last_error))

    def _on_log(self, ev: LogEvent) -> None:
        self._log(LogLine(ev.ts, str(ev.level), ev.text("message")))

    def _on_hf_push(self, ev: HfPush) -> None:
        reason = ev.text("reason")
        msg = t("event.hf_push", round=ev.round, status=t("event.hf_status." + ev.status) if ev.status in ("ok", "failed") else ev.status)
        msg += f" ({reason})" if reason else ""
        self._log(LogLine(ev.ts, "info" if ev.status == "ok" else "warning", msg))

    def _on_checkpoint_saved(self, ev: CheckpointSaved) -> None:
        pass  # counted for freshness only

    def _log(self, line: LogLine) -> None:
        self.logs.append(line)
        self.log_total += 1

    def new_logs(self, seen_total: int) -> list[LogLine]:
        """Lines appended after a view had seen `seen_total` of them (at most the retained ones)."""
        n = min(self.log_total - seen_total, len(self.logs))
        return list(self.logs)[-n:] if n > 0 else []

    # -- derived ---------------------------------------------------------------------------
    def submission_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "landed": 0, "failed": 0, "skipped": 0}
        for s in self.submissions.values():
            counts[s.status] = counts.get(s.status, 0) + 1
        return counts

    def reward_series(self, n: int = 60) -> list[float]:
        return list(self.rewards.values())[-n:]

    def reward_points(self, n: int = 60) -> list[tuple[int, float]]:
        """(round, reward) of the newest n finished rounds, oldest first."""
        return list(self.rewards.items())[-n:]

    def total_reward_local(self) -> float:
        return sum(self.rewards.values())

    @classmethod
    def from_history(cls, events_file: Path, profile: str = "") -> "DashboardModel":
        m = cls(profile=profile)
        m.apply_all(read_events(events_file))
        return m


def _trust(p) -> str | None:
    """A peer's trust state, where the node's peers.update carries one (verified sharing)."""
    v = getattr(p, "trust", None)
    return str(v) if v else None


_HANDLERS = {
    NodeState: DashboardModel._on_node_state, NodeIdentity: DashboardModel._on_node_identity,
    NodeRegistered: DashboardModel._on_node_registered, NodeMode: DashboardModel._on_node_mode,
    ModelBuild: DashboardModel._on_model_build,
    RoundStarted: DashboardModel._on_round_started, RoundFinished: DashboardModel._on_round_finished,
    ChainTotals: DashboardModel._on_chain_totals, TrainStep: DashboardModel._on_train_step,
    PeersUpdate: DashboardModel._on_peers_update, RolloutsFetched: DashboardModel._on_rollouts_fetched, SubmissionEvent: DashboardModel._on_submission,
    PeerTrust: DashboardModel._on_peer_trust,
    Oom: DashboardModel._on_oom, ErrorEvent: DashboardModel._on_error, LogEvent: DashboardModel._on_log,
    HfPush: DashboardModel._on_hf_push, CheckpointSaved: DashboardModel._on_checkpoint_saved,
}
