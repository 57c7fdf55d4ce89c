"""SubmissionQueue: idempotent, persisted on-chain writes for one profile.

    q = SubmissionQueue(coordinator, profile.paths.queue_dir, bus=bus)
    q.register(peer_id)
    q.reward(round, stage, reward_float, peer_id)   # float, scaled once by core.chain.reward_to_chain
    q.winners(round, [peer ids], peer_id)
    q.process()            # try everything that is due (or q.start() for a background thread)

Rules:
- one item per key: ("register", peer_id), ("reward", round, stage), ("winners", round).
  Enqueueing a key again is a no-op: the same (kind, round, stage) is submitted at most once.
- an item is written to disk (0600, write-then-rename) before its first attempt, so a crash or a
  restart resumes it; the contract's RewardAlreadySubmitted / PeerIdAlreadyRegistered /
  WinnerAlreadyVoted by our own EOA then count as landed (a tx that was sent just before a crash).
- transient failures (RPC or login service down) retry with exponential backoff + jitter, forever
  (a reward is worth landing late); permanent ones (InvalidRoundNumber ...) are marked failed.
- the peer id registered to ANOTHER EOA raises IdentityError out of process(): loud, never retried.
Each status change emits a `submission` event (kind, round?, stage?, status, tx?, reason?).
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import fsutil
from core.chain import reward_to_chain
from core.chain.coordinator import Coordinator, WriteResult
from core.errors import IdentityError
from core.paths import ensure_private_dir

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class Submission:
    kind: str                      # register | reward | winners
    key: str
    peer_id: str
    round: int | None = None
    stage: int | None = None
    reward: int | None = None      # on-chain units (see core.chain.REWARD_SCALE)
    winners: list[str] | None = None
    status: str = "pending"        # pending | landed | failed
    attempts: int = 0
    next_try: float = 0.0
    tx: str | None = None
    reason: str | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


class SubmissionQueue:
    def __init__(self, coordinator: Coordinator, queue_dir: Path, *, bus=None, base_delay: float = 1.0,
                 max_delay: float = 60.0, jitter: float = 0.2):
        self.coordinator = coordinator
        self.dir = Path(queue_dir)
        ensure_private_dir(self.dir)
        self.bus = bus
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.jitter = jitter
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.identity_error: IdentityError | None = None  # set when the background thread hit one
        self._items: dict[str, Submission] = {}
        for p in sorted(self.dir.glob("*.json")):
            try:
                s = Submission(**json.loads(p.read_text()))
                self._items[s.key] = s
            except (ValueError, TypeError):
                continue  # a torn file from a crash: its key is re-enqueued by the node if still wanted

    # ------------------------------------------------------------------ enqueue
    def register(self, peer_id: str) -> Submission:
        return self._enqueue(Submission("register", f"register-{peer_id}", peer_id))

    def reward(self, round: int, stage: int, reward: float, peer_id: str) -> Submission:
        """`reward` is the node's float reward; it is scaled once, here (core.chain.reward_to_chain)."""
        return self._enqueue(Submission("reward", f"reward-r{int(round)}-s{int(stage)}", peer_id,
                                        round=int(round), stage=int(stage), reward=reward_to_chain(reward)))

    def winners(self, round: int, winners: list[str], peer_id: str) -> Submission:
        return self._enqueue(Submission("winners", f"winners-r{int(round)}", peer_id, round=int(round),
                                        winners=list(winners)))

    def _path(self, key: str) -> Path:
        return self.dir / (_SAFE.sub("_", key) + ".json")

    def _save(self, s: Submission) -> None:
        s.updated = time.time()
        fsutil.atomic_write_json(self._path(s.key), asdict(s))

    def _enqueue(self, s: Submission) -> Submission:
        with self._lock:
            old = self._items.get(s.key)
            if old is not None:
                return old
            self._items[s.key] = s
            self._save(s)
        self._emit(s)
        self._wake.set()
        return s

    # ------------------------------------------------------------------ views
    def get(self, key: str) -> Submission | None:
        return self._items.get(key)

    def items(self) -> list[Submission]:
        with self._lock:
            return sorted(self._items.values(), key=lambda s: s.created)

    def pending(self) -> list[Submission]:
        return [s for s in self.items() if s.status == "pending"]

    def counts(self) -> dict[str, int]:
        out = {"pending": 0, "landed": 0, "failed": 0}
        for s in self.items():
            out[s.status] = out.get(s.status, 0) + 1
        return out

    # ------------------------------------------------------------------ processing
    def _emit(self, s: Submission) -> None:
        if self.bus is None:
            return
        data = {"kind": s.kind, "status": s.status}
        if s.round is not None:
            data["round"] = s.round
        if s.stage is not None:
            data["stage"] = s.stage
        if s.tx:
            data["tx"] = s.tx
        if s.reason:
            data["reason"] = s.reason
        self.bus.emit("submission", **data)

    def _attempt(self, s: Submission) -> WriteResult:
        c = self.coordinator
        if s.kind == "register":
            return c.register_peer(s.peer_id)
        if s.kind == "reward":
            return c.submit_reward(s.round, s.stage, s.reward, s.peer_id)
        if s.kind == "winners":
            return c.submit_winners(s.round, s.winners or [], s.peer_id)
        return WriteResult("rejected", error=f"unknown kind {s.kind}")

    def process(self, now: float | None = None) -> int:
        """Try every due pending item once. Returns how many are still pending."""
        now = time.time() if now is None else now
        for s in self.pending():
            if s.next_try > now:
                continue
            with self._lock:
                if s.status != "pending":
                    continue
                s.attempts += 1
                try:
                    res = self._attempt(s)
                except IdentityError as e:
                    s.status, s.reason = "failed", f"identity: {e.what}"
                    self._save(s)
                    self._emit(s)
                    raise
                except Exception as e:  # a bug or an unexpected reply: keep the item, retry later
                    res = WriteResult("retry", error=f"{type(e).__name__}: {e}")
                if res.status in ("landed", "already"):
                    s.status, s.tx = "landed", res.tx
                    s.reason = None if res.status == "landed" else f"already on chain ({res.error})"
                elif res.status == "rejected":
                    s.status, s.reason = "failed", res.error
                else:
                    delay = min(self.max_delay, self.base_delay * (2 ** min(s.attempts - 1, 16)))
                    delay *= 1 + random.uniform(-self.jitter, self.jitter)
                    s.next_try = time.time() + delay
                    s.reason = res.error
                self._save(s)
            if s.status != "pending" or s.attempts == 1:
                self._emit(s)
        return len(self.pending())

    def flush(self, timeout: float = 30.0) -> bool:
        """Process until nothing is pending or `timeout` passes (ignores backoff). True when empty."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.process(now=float("inf"))
            if left == 0:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    # ------------------------------------------------------------------ background
    def start(self, poll: float = 1.0) -> "SubmissionQueue":
        if self._thread is not None:
            return self
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    self.process()
                except IdentityError as e:
                    self.identity_error = e
                    if self.bus is not None:
                        self.bus.emit("error", where="chain", what=e.what, fix=e.fix)
                self._wake.wait(poll)
                self._wake.clear()

        self._thread = threading.Thread(target=run, name="submission-queue", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
