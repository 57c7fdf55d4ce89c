"""Typed events (core.events.types), the bus that persists them (core.events.log) and the one reader of
events.jsonl (core.events.reader)."""

from core.events.log import EventBus, compact_events
from core.events.reader import (EventSource, last_seq, parse_line, read_events, registered, registered_in,
                                tail_events)
from core.events.types import (
    EVENT_CLASSES, ChainTotals, CheckpointSaved, ErrorEvent, Event, GenericEvent, HfPush, LogEvent, LoginOk,
    LoginRequired, ModelBuild, NodeIdentity, NodeMode, NodeRegistered, NodeState, Oom, PeersUpdate, PeerSeen,
    PeerTrust, RolloutsFetched,
    RolloutsShared, RoundFinished, RoundStarted, SubmissionEvent, TrainStep,
)

__all__ = [
    "EventBus", "compact_events", "EventSource", "last_seq", "parse_line", "read_events", "registered", "registered_in",
    "tail_events", "EVENT_CLASSES", "ChainTotals", "CheckpointSaved", "ErrorEvent", "Event", "GenericEvent", "HfPush",
    "LogEvent", "LoginOk", "LoginRequired", "ModelBuild", "NodeIdentity", "NodeMode", "NodeRegistered", "NodeState", "Oom",
    "PeersUpdate", "PeerSeen", "PeerTrust", "RolloutsFetched", "RolloutsShared", "RoundFinished", "RoundStarted",
    "SubmissionEvent", "TrainStep",
]
