"""Typed events: the one API through which the engine, supervisor, CLI and TUI talk.

Every screen draws from these events (and from telemetry), never from log text.
An event is {"v": 1, "type": <name>, "ts": <unix seconds>, "seq": <int>, "profile": <name>, **fields}
on the wire (JSON lines on the control socket and in events.jsonl).

Event types and their fields (extra fields are allowed; these are the ones consumers rely on):
  node.state          state: starting|running|stopping|stopped|crashed|gave_up, reason?
                      (from the supervisor: source="supervisor", restarts, pid?, exit? {exit_code, signal,
                      reason, oom, last_error}, next_restart_in?, fix?)
  node.identity       peer_id, display_name, eoa?
  node.registered     peer_id, eoa?
  node.mode           mode: 4bit|8bit|bf16|fp32, device: cpu|cuda, reason (why this path ran)
  round.started       round, stage
  round.finished      round, stage, reward (mean local reward), n_local, n_external, seconds
  rollouts.shared     round, bytes, chunks
  rollouts.fetched    round, peers: int, n_external, rejected: int
  train.step          round, loss, step_seconds, tokens_per_s
  peers.update        peers: [{peer_id, name, last_seen}]
  submission          kind: register|reward|winners, round?, stage?, status: pending|landed|failed|skipped, tx?, reason?
  login.required      reason, fix (the command: swarmdeck login -p NAME), where? (the login app's URL):
                      the login app refused this profile's session key (stale / not activated / unknown
                      account); writes wait, training goes on. One per episode (core.chain.queue, core.signin)
  login.ok            kind (the write that got through again), waited (seconds): the episode is over
  chain.totals        total_reward (getTotalRewards for this peer), total_wins? (read from chain, for the dashboard)
  checkpoint.saved    round, path
  hf.push             round, status: ok|failed, reason?
  oom                 kind: cuda|kernel, step_down?   (the supervisor also emits kind rss_limit|vram_limit when
                      it enforced the profile's limit itself; with level, overrides, source="supervisor")
  error               where, what, fix?
  log                 level, message
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from core import safejson

PROTOCOL_VERSION = 1

EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "node.state": ("state",),
    "node.identity": ("peer_id", "display_name"),
    "node.registered": ("peer_id",),
    "node.mode": ("mode", "device", "reason"),
    "round.started": ("round", "stage"),
    "round.finished": ("round", "stage", "reward", "n_local", "n_external"),
    "rollouts.shared": ("round",),
    "rollouts.fetched": ("round", "n_external"),
    "train.step": ("round", "loss"),
    "peers.update": ("peers",),
    "submission": ("kind", "status"),
    "login.required": ("reason", "fix"),
    "login.ok": ("kind",),
    "chain.totals": ("total_reward",),
    "checkpoint.saved": ("round", "path"),
    "hf.push": ("round", "status"),
    "oom": ("kind",),
    "error": ("where", "what"),
    "log": ("level", "message"),
}

_seq = itertools.count(1)


@dataclass
class Event:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    seq: int = field(default_factory=lambda: next(_seq))
    profile: str = ""

    def __post_init__(self) -> None:
        required = EVENT_TYPES.get(self.type)
        if required is None:
            raise ValueError(f"unknown event type {self.type!r}")
        missing = [k for k in required if k not in self.data]
        if missing:
            raise ValueError(f"event {self.type} missing fields {missing}")

    def to_dict(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "type": self.type, "ts": self.ts, "seq": self.seq,
                "profile": self.profile, **self.data}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Event":
        d = dict(d)
        d.pop("v", None)
        return cls(type=d.pop("type"), ts=float(d.pop("ts", time.time())), seq=int(d.pop("seq", 0)),
                   profile=str(d.pop("profile", "")), data=d)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to listeners, plus optional persistence to a JSON-lines file.

    Listeners must be quick (they run on the emitting thread); a listener that raises
    is dropped from nothing and logged nowhere: it must not break the engine.
    """

    def __init__(self, profile: str = "", persist_to: Path | None = None):
        self.profile = profile
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._file = None
        if persist_to is not None:
            persist_to.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(persist_to, "a", encoding="utf-8")

    def subscribe(self, fn: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)

        return unsubscribe

    def emit(self, type: str, **data: Any) -> Event:
        ev = Event(type=type, data=data, profile=self.profile)
        self.publish(ev)
        return ev

    def publish(self, ev: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
            if self._file is not None:
                self._file.write(ev.to_json() + "\n")
                self._file.flush()
        for fn in listeners:
            try:
                fn(ev)
            except Exception:  # a broken listener must never stop training
                pass

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_events(path: Path, types: Iterable[str] | None = None) -> Iterator[Event]:
    """Read persisted events, skipping torn or foreign lines (a crash may cut the last one)."""
    wanted = set(types) if types else None
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                d = safejson.loads(line)
                if wanted and d.get("type") not in wanted:
                    continue
                yield Event.from_dict(d)
            except (ValueError, KeyError, TypeError):
                continue
