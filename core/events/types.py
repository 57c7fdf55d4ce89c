"""One frozen dataclass per event type: what the node, the supervisor and the TUI say to each other.

On the wire (JSON lines in events.jsonl and on the node's stdout) an event is
    {"v": 1, "type": <name>, "ts": <unix seconds>, "seq": <int>, "profile": <name>, **fields}
`to_wire()` writes that shape (optional fields left at None are not written) and `from_wire()` reads it
back; fields this version does not name are kept in `extra` and written again, so a newer writer's
additions survive. A type this version does not know reads as a GenericEvent, never as an error.

User-visible text fields (a log line's `message`, an error's what/where/fix, a state's reason...) may be
given as a message key (core.base.i18n.Msg): the field then holds the English text (old readers, logs,
`status --json`) and `msgs` maps the field's name to {"key", "params"}; `ev.text(name)` renders it in
the user's language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, Mapping

from core.base.i18n import Msg, Translator

PROTOCOL_VERSION = 1
ENVELOPE = ("v", "type", "ts", "seq", "profile")


@dataclass(frozen=True, kw_only=True)
class Event:
    """The envelope every event carries; subclasses add their fields (all keyword-only)."""

    TYPE: ClassVar[str] = ""
    seq: int = 0
    ts: float = 0.0
    profile: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)
    msgs: Mapping[str, Any] | None = field(default=None, compare=False)  # field -> {"key", "params"}

    def __post_init__(self) -> None:
        # A text field given as a Msg: the field keeps the English text, `msgs` the key and params.
        keyed = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Msg):
                keyed[f.name] = v.to_wire()
                object.__setattr__(self, f.name, v.english())
        if keyed:
            object.__setattr__(self, "msgs", {**(self.msgs or {}), **keyed})

    @property
    def type(self) -> str:
        return self.TYPE

    def text(self, name: str, tr: Translator | None = None) -> str:
        """Field `name` for the user: rendered from its message key in the current language when the
        event carries one, else the field's text as written ('' when unset)."""
        m = Msg.from_wire((self.msgs or {}).get(name)) if isinstance(self.msgs, Mapping) else None
        if m is not None:
            return m.render(tr)
        v = getattr(self, name, None)
        if v is None:
            v = self.extra.get(name) if isinstance(self.extra, Mapping) else None
        return "" if v is None else str(v)

    def fields_dict(self) -> dict[str, Any]:
        """The event's own fields in declaration order (None = not set, not written), then `extra`."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in _ENVELOPE_ATTRS:
                continue
            v = getattr(self, f.name)
            if v is not None:
                out[f.name] = _to_json_value(v)
        out.update(self.extra)
        return out

    def to_wire(self) -> dict[str, Any]:
        return {"v": PROTOCOL_VERSION, "type": self.type, "ts": self.ts, "seq": self.seq,
                "profile": self.profile, **self.fields_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_wire(), separators=(",", ":"), default=str)

    def stamped(self, seq: int, ts: float, profile: str) -> "Event":
        return replace(self, seq=seq, ts=ts, profile=profile)

    @staticmethod
    def from_wire(d: Mapping[str, Any]) -> "Event":
        """The typed event of a wire dict. Raises ValueError when a known type misses a field it needs."""
        t = d.get("type")
        if not isinstance(t, str):
            raise ValueError("an event needs a string 'type'")
        env = dict(seq=int(d.get("seq", 0) or 0), ts=float(d.get("ts", 0.0) or 0.0),
                   profile=str(d.get("profile", "") or ""))
        body = {k: v for k, v in d.items() if k not in ENVELOPE}
        cls = EVENT_CLASSES.get(t)
        if cls is None:
            return GenericEvent(wire_type=t, extra=body, **env)
        return cls._from_fields(body, env)

    @classmethod
    def _from_fields(cls, body: dict[str, Any], env: dict[str, Any]) -> "Event":
        names = _field_names(cls)
        known = {k: v for k, v in body.items() if k in names}
        missing = [k for k in _required(cls) if k not in known]
        if missing:
            raise ValueError(f"event {cls.TYPE} missing fields {missing}")
        extra = {k: v for k, v in body.items() if k not in names}
        known = cls._convert(known)
        return cls(**env, **known, extra=extra)

    @classmethod
    def _convert(cls, known: dict[str, Any]) -> dict[str, Any]:
        return known


def event_from_fields(type: str, **data: Any) -> Event:
    """The typed event of `type` with these fields (the `emit(type, **fields)` path). Unknown type: ValueError."""
    cls = EVENT_CLASSES.get(type)
    if cls is None:
        raise ValueError(f"unknown event type {type!r}")
    return cls._from_fields(dict(data), {})


_ENVELOPE_ATTRS = frozenset(("seq", "ts", "profile", "extra", "wire_type"))


def _to_json_value(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_to_json_value(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _to_json_value(x) for k, x in v.items()}
    if hasattr(v, "to_wire"):
        return v.to_wire()
    return v


_NAMES: dict[type, frozenset] = {}
_REQUIRED: dict[type, tuple] = {}


def _field_names(cls: type) -> frozenset:
    if cls not in _NAMES:
        _NAMES[cls] = frozenset(f.name for f in fields(cls) if f.name not in _ENVELOPE_ATTRS)
    return _NAMES[cls]


def _required(cls: type) -> tuple:
    if cls not in _REQUIRED:
        from dataclasses import MISSING

        _REQUIRED[cls] = tuple(f.name for f in fields(cls) if f.name not in _ENVELOPE_ATTRS
                               and f.default is MISSING and f.default_factory is MISSING)
    return _REQUIRED[cls]


@dataclass(frozen=True, kw_only=True)
class GenericEvent(Event):
    """An event of a type this version does not know (a newer writer): its fields are all in `extra`."""

    wire_type: str

    @property
    def type(self) -> str:
        return self.wire_type


# --------------------------------------------------------------------------- the catalogue

@dataclass(frozen=True, kw_only=True)
class NodeState(Event):
    """starting|preparing|running|stopping|stopped|crashed|gave_up; the supervisor adds why, restarts and exit
    details. `preparing`: past its start, the model not loaded yet (a first demo-model build can take minutes)."""

    TYPE: ClassVar[str] = "node.state"
    state: str
    reason: str | None = None
    source: str | None = None            # "supervisor" when the supervisor (not the node) says it
    restarts: int | None = None
    pid: int | None = None
    exit: Mapping[str, Any] | None = None  # {exit_code, signal, reason, oom, last_error}
    next_restart_in: float | None = None
    fix: str | None = None


@dataclass(frozen=True, kw_only=True)
class NodeIdentity(Event):
    TYPE: ClassVar[str] = "node.identity"
    peer_id: str
    display_name: str
    eoa: str | None = None


@dataclass(frozen=True, kw_only=True)
class NodeRegistered(Event):
    TYPE: ClassVar[str] = "node.registered"
    peer_id: str
    eoa: str | None = None


@dataclass(frozen=True, kw_only=True)
class NodeMode(Event):
    """The precision/device path this node runs, and why."""

    TYPE: ClassVar[str] = "node.mode"
    mode: str                            # 4bit|8bit|bf16|fp32
    device: str                          # cpu|cuda
    reason: str
    requested: str | None = None
    fallback: bool | None = None
    model: str | None = None             # the model that runs (a name, e.g. "demo" or "Qwen/Qwen2.5-0.5B-Instruct")


@dataclass(frozen=True, kw_only=True)
class ModelBuild(Event):
    """Progress of a model the node builds before it can run (the local demo model when its recipe changed)."""

    TYPE: ClassVar[str] = "model.build"
    model: str
    step: int
    steps: int
    elapsed_s: float
    eta_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class RoundStarted(Event):
    TYPE: ClassVar[str] = "round.started"
    round: int
    stage: int


@dataclass(frozen=True, kw_only=True)
class RoundFinished(Event):
    TYPE: ClassVar[str] = "round.finished"
    round: int
    stage: int
    reward: float                        # mean local reward
    n_local: int
    n_external: int
    peers: int | None = None             # peers whose rollouts arrived
    seconds: float | None = None
    # What the swarm gave this round (core.events.swarm_gain): the useful groups (nonzero advantage)
    # the step trained on, by origin, and the peers' groups refused before training.
    useful_own: int | None = None
    useful_peers: int | None = None
    refused: int | None = None
    taken_from: Mapping[str, int] | None = None    # peer id -> groups of it trained on this round
    refused_from: Mapping[str, int] | None = None  # peer id -> its groups refused this round
    verify_seconds: float | None = None  # regenerating + re-scoring the peers' groups (core.training.verify)
    verify_pct: float | None = None      # the same in % of the round's wall time


@dataclass(frozen=True, kw_only=True)
class RolloutsShared(Event):
    TYPE: ClassVar[str] = "rollouts.shared"
    round: int
    bytes: int | None = None
    chunks: int | None = None


@dataclass(frozen=True, kw_only=True)
class RolloutsFetched(Event):
    TYPE: ClassVar[str] = "rollouts.fetched"
    round: int
    peers: int | None = None             # peers whose rollouts arrived
    n_external: int
    n_candidates: int | None = None
    rejected: int | None = None
    requests: int | None = None          # DHT gets this round's fetch issued (SwarmDHT.last_fetch, summed)
    bytes: int | None = None             # value bytes they received
    choosable: int | None = None         # peers whose manifests it could choose rollouts from
    useful: int | None = None            # downloaded peer groups that passed verification with signal
    refused: Mapping[str, int] | None = None  # this round's peer groups refused by verification, by reason
    filtered: int | None = None          # groups of ignored/unregistered peers, not downloaded


@dataclass(frozen=True, kw_only=True)
class TrainStep(Event):
    TYPE: ClassVar[str] = "train.step"
    round: int
    loss: float
    step_seconds: float | None = None
    tokens_per_s: float | None = None    # generation speed of the round
    skipped: bool | None = None


@dataclass(frozen=True)
class PeerSeen:
    peer_id: str
    name: str = ""
    last_seen: float | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"peer_id": self.peer_id, "name": self.name, "last_seen": self.last_seen}


@dataclass(frozen=True, kw_only=True)
class PeersUpdate(Event):
    TYPE: ClassVar[str] = "peers.update"
    peers: tuple[PeerSeen, ...]          # newest first, at most 50
    total: int | None = None             # every peer heard from

    def __post_init__(self) -> None:
        # the DHT's peer dicts (and the wire's) become PeerSeen; a malformed entry is dropped, not fatal
        out = []
        for p in self.peers or ():
            if isinstance(p, PeerSeen):
                out.append(p)
            elif isinstance(p, Mapping) and p.get("peer_id"):
                ls = p.get("last_seen")
                out.append(PeerSeen(str(p["peer_id"]), str(p.get("name") or ""),
                                    ls if isinstance(ls, (int, float)) else None))
        object.__setattr__(self, "peers", tuple(out))
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class PeerTrust(Event):
    """Verified sharing (core.swarm.trust): peer groups refused since the node started, and the peers it ignores.

    refused: reason -> groups; by_peer: peer id -> reason -> groups (the most refused 50);
    ignored: [{"peer_id", "reason", "since_round", "until_round"}], the peers whose groups are not downloaded."""

    TYPE: ClassVar[str] = "peers.trust"
    round: int
    refused: Mapping[str, int] = field(default_factory=dict)
    by_peer: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    ignored: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        # from the wire: lists and junk become the declared shapes (a malformed entry is dropped, not fatal)
        def counts(c) -> dict[str, int]:
            return {str(k): int(v) for k, v in c.items() if isinstance(v, (int, float))} if isinstance(c, Mapping) else {}

        ign = self.ignored if isinstance(self.ignored, (list, tuple)) else ()
        object.__setattr__(self, "ignored", tuple(dict(x) for x in ign if isinstance(x, Mapping) and x.get("peer_id")))
        object.__setattr__(self, "refused", counts(self.refused))
        by_peer = self.by_peer if isinstance(self.by_peer, Mapping) else {}
        object.__setattr__(self, "by_peer", {str(p): counts(c) for p, c in by_peer.items() if isinstance(c, Mapping)})
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class SubmissionEvent(Event):
    """A chain write's progress: kind register|reward|winners, status pending|landed|failed|skipped."""

    TYPE: ClassVar[str] = "submission"
    kind: str
    status: str
    round: int | None = None
    stage: int | None = None
    tx: str | None = None
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class LoginRequired(Event):
    """The login app refused this profile's session key: writes wait, training goes on."""

    TYPE: ClassVar[str] = "login.required"
    reason: str
    fix: str
    where: str | None = None


@dataclass(frozen=True, kw_only=True)
class LoginOk(Event):
    TYPE: ClassVar[str] = "login.ok"
    kind: str
    waited: float | None = None


@dataclass(frozen=True, kw_only=True)
class ChainTotals(Event):
    TYPE: ClassVar[str] = "chain.totals"
    total_reward: float
    total_wins: int | None = None


@dataclass(frozen=True, kw_only=True)
class CheckpointSaved(Event):
    TYPE: ClassVar[str] = "checkpoint.saved"
    round: int
    path: str


@dataclass(frozen=True, kw_only=True)
class HfPush(Event):
    TYPE: ClassVar[str] = "hf.push"
    round: int
    status: str                          # ok|failed
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class Oom(Event):
    """kind cuda|memory|kernel from the node; rss_limit|vram_limit when the supervisor enforced a limit."""

    TYPE: ClassVar[str] = "oom"
    kind: str
    step_down: str | None = None
    what: str | None = None
    level: int | None = None
    overrides: Mapping[str, Any] | None = None
    source: str | None = None


@dataclass(frozen=True, kw_only=True)
class ErrorEvent(Event):
    TYPE: ClassVar[str] = "error"
    where: str
    what: str
    fix: str | None = None


@dataclass(frozen=True, kw_only=True)
class LogEvent(Event):
    TYPE: ClassVar[str] = "log"
    level: str
    message: str


EVENT_CLASSES: dict[str, type[Event]] = {c.TYPE: c for c in (
    NodeState, NodeIdentity, NodeRegistered, NodeMode, RoundStarted, RoundFinished, RolloutsShared,
    RolloutsFetched, TrainStep, PeersUpdate, PeerTrust, SubmissionEvent, LoginRequired, LoginOk, ChainTotals,
    CheckpointSaved, HfPush, Oom, ErrorEvent, LogEvent, ModelBuild)}
