"""A realistic stream of node events (field shapes copied from a real local run), for the
event-log compaction tests in tests/unit and tests/integration."""

from __future__ import annotations

import time

from core.events import (ChainTotals, CheckpointSaved, EventBus, LogEvent, NodeIdentity, NodeMode, NodeState,
                         PeersUpdate, RolloutsFetched, RolloutsShared, RoundFinished, RoundStarted, SubmissionEvent,
                         TrainStep)

PEER = "Qmdetc7T1tMtjjX58sZSzQ9aFphuYbw6x1F1VXkc3Z8U1Y"


def _peers(n: int, now: float) -> list[dict]:
    return [{"peer_id": f"QmPeer{i:040d}", "name": f"wiry pouncing woodpecker {i}", "last_seen": now - i}
            for i in range(n)]


def emit_round(bus: EventBus, r: int, n_peers: int = 30, fail: bool = False) -> None:
    """One round as core.node + core.chain.queue emit it (field shapes copied from a real local run)."""
    now = time.time()
    bus.emit(RoundStarted(round=r, stage=0))
    bus.emit(RolloutsShared(round=r, bytes=2077, chunks=1))
    bus.emit(RolloutsFetched(round=r, peers=n_peers, n_external=2, n_candidates=8, rejected=0))
    bus.emit(PeersUpdate(peers=_peers(n_peers, now)))
    bus.emit(TrainStep(round=r, loss=1.0 / (r + 1), step_seconds=2.43, tokens_per_s=1634.2, skipped=False))
    bus.emit(SubmissionEvent(kind="reward", status="pending", round=r, stage=0))
    bus.emit(SubmissionEvent(kind="winners", status="pending", round=r))
    bus.emit(CheckpointSaved(round=r, path=f"/home/u/.local/share/swarmdeck/profiles/p/checkpoints/round-{r:08d}"))
    if fail:
        bus.emit(SubmissionEvent(kind="reward", status="failed", round=r, stage=0, reason="rpc down"))
    bus.emit(SubmissionEvent(kind="reward", status="landed", round=r, stage=0, tx="0x" + f"{r:064x}"))
    bus.emit(ChainTotals(total_reward=round(r * 0.01, 3), total_wins=r // 3))
    bus.emit(RoundFinished(round=r, stage=0, reward=round(0.001 * (r % 97), 6), n_local=4, n_external=2,
                           peers=n_peers, seconds=3.3))
    bus.emit(LogEvent(level="info", message=f"round {r}: reward {0.001 * (r % 97):.3f}, 4 local + 2 peer rollouts"))
    bus.emit(SubmissionEvent(kind="winners", status="landed", round=r, tx="0x" + f"{r + 7:064x}"))


def emit_start(bus: EventBus) -> None:
    bus.emit(NodeState(state="starting"))
    bus.emit(NodeIdentity(peer_id=PEER, display_name="hibernating scaly meerkat"))
    bus.emit(SubmissionEvent(kind="register", status="pending"))
    bus.emit(SubmissionEvent(kind="register", status="landed", tx="0x9ac0"))
    bus.emit(NodeMode(mode="fp32", device="cpu", reason="CPU mode"))
    bus.emit(NodeState(state="running"))
