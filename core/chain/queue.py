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
- "signin" (the login app refused the session key: stale, missing or not activated) starts a sign-in
  episode: the item stays pending (nothing is lost), one `login.required` event is emitted for the
  episode, `on_signin({"reason", "where"})` is called (the node records core.identity.signin.mark_required),
  and the queue stops writing: it probes with one item every `signin_retry` seconds (60), or at once
  when the identity files (userData.json / userApiKey.json in `identity_dir`) change, i.e. a new
  sign-in. The first write that gets through again (landed / already / a contract error, all of
  which prove the key was accepted) ends the episode: `login.ok`, `on_signin(None)`, and every
  pending item is tried again at once.
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
from typing import Callable

from core.base import fsutil
from core.identity import signin
from core.chain import reward_to_chain
from core.chain.coordinator import Coordinator, WriteResult
from core.base.errors import IdentityError
from core.base.i18n import M
from core.base.paths import ensure_private_dir
from core.events.types import ErrorEvent, LoginOk, LoginRequired, SubmissionEvent

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
                 max_delay: float = 60.0, jitter: float = 0.2, identity_dir: Path | None = None,
                 on_signin: Callable[[dict | None], None] | None = None, signin_retry: float = 60.0,
                 signin_required: dict | None = None, profile: str | None = None):
        """identity_dir: where userData.json / userApiKey.json live (a change there = a new sign-in).
        on_signin: called with {"reason", "where"} when a sign-in episode starts and None when it ends.
        signin_required: the episode recorded by an earlier run (core.identity.signin.required): resumed,
        probed at once, and ended (login.ok) when the first write gets through."""
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
        self.identity_dir = Path(identity_dir) if identity_dir is not None else None
        self.on_signin = on_signin
        self.signin_retry = signin_retry
        self.profile = profile
        # the current sign-in episode ({"reason", "where", "since"}) or None
        self.signin: dict | None = dict(signin_required) if signin_required else None
        self._signin_announced = False  # login.required emitted for this episode (by this process)
        self._signin_next = 0.0         # wall time of the next probe
        self._signin_sig = self._identity_sig()
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
        self.bus.emit(SubmissionEvent(kind=s.kind, status=s.status, round=s.round, stage=s.stage,
                                      tx=s.tx or None, reason=s.reason or None))

    def _attempt(self, s: Submission) -> WriteResult:
        c = self.coordinator
        if s.kind == "register":
            return c.register_peer(s.peer_id)
        if s.kind == "reward":
            return c.submit_reward(s.round, s.stage, s.reward, s.peer_id)
        if s.kind == "winners":
            return c.submit_winners(s.round, s.winners or [], s.peer_id)
        return WriteResult("rejected", error=f"unknown kind {s.kind}")

    # ------------------------------------------------------------------ sign-in episodes
    def _identity_sig(self) -> tuple:
        if self.identity_dir is None:
            return ()
        out = []
        for f in ("userData.json", "userApiKey.json"):
            try:
                st = (self.identity_dir / f).stat()
                out.append((f, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append((f, None))
        return tuple(out)

    def _signin_due(self) -> bool:
        """In an episode: time for the next probe, or the identity files changed (a new sign-in)."""
        if time.time() >= self._signin_next:
            return True
        return self._identity_sig() != self._signin_sig

    def _hook(self, info: dict | None) -> None:
        if self.on_signin is None:
            return
        try:
            self.on_signin(info)
        except Exception:  # recording the state must never stop the queue
            pass

    def _enter_signin(self, error: str | None) -> None:
        """A write answered "signin": start (or continue) the episode and schedule the next probe."""
        what = error.partition("; sign in again:")[0] if error else M("chain.reason.refused")
        where = getattr(self.coordinator, "login_url", None)
        changed = self.signin is None or self.signin.get("reason") != what or not self._signin_announced
        since = (self.signin or {}).get("since") or time.time()
        self.signin = {"reason": what, "where": where, "since": since}
        self._signin_next = time.time() + self.signin_retry
        self._signin_sig = self._identity_sig()
        if not self._signin_announced:  # one event per episode
            self._signin_announced = True
            if self.bus is not None:
                self.bus.emit(LoginRequired(reason=what, fix=signin.command(self._profile_name()), where=where or ""))
        if changed:
            self._hook({"reason": what, "where": where})

    def _leave_signin(self, s: "Submission") -> None:
        """A write got through again: end the episode, retry everything pending at once."""
        episode, self.signin = self.signin, None
        self._signin_announced = False
        for other in self._items.values():
            if other.status == "pending":
                other.next_try = 0.0
        if self.bus is not None:
            since = float((episode or {}).get("since") or time.time())
            self.bus.emit(LoginOk(kind=s.kind, waited=round(time.time() - since, 1)))
        self._hook(None)

    def _profile_name(self) -> str | None:
        return self.profile or getattr(self.coordinator, "profile", None)

    # ------------------------------------------------------------------ processing
    def process(self, now: float | None = None) -> int:
        """Try every due pending item once. Returns how many are still pending.

        During a sign-in episode only one item is tried, and only when a probe is due (real time,
        whatever `now` says): a stale key must not hammer the login app."""
        now = time.time() if now is None else now
        with self._lock:
            probing = self.signin is not None
            if probing and not self._signin_due():
                return len(self.pending())
        for s in self.pending():
            if not probing and s.next_try > now:
                continue
            with self._lock:
                if s.status != "pending":
                    continue
                s.attempts += 1
                try:
                    res = self._attempt(s)
                except IdentityError as e:
                    s.status, s.reason = "failed", M("chain.reason.identity", error=e.part("what"))
                    self._save(s)
                    self._emit(s)
                    raise
                except Exception as e:  # a bug or an unexpected reply: keep the item, retry later
                    res = WriteResult("retry", error=f"{type(e).__name__}: {e}")
                if res.status == "signin":
                    self._enter_signin(res.error)
                    s.reason = res.error[:300] if res.error else M("chain.reason.sign_in_again")
                    s.next_try = self._signin_next
                elif res.status in ("landed", "already"):
                    s.status, s.tx = "landed", res.tx
                    s.reason = None if res.status == "landed" else M("chain.reason.already", error=str(res.error))
                elif res.status == "rejected":
                    s.status, s.reason = "failed", res.error
                else:
                    delay = min(self.max_delay, self.base_delay * (2 ** min(s.attempts - 1, 16)))
                    delay *= 1 + random.uniform(-self.jitter, self.jitter)
                    s.next_try = time.time() + delay
                    s.reason = res.error
                self._save(s)
                if probing and res.status in ("landed", "already", "rejected"):
                    self._leave_signin(s)  # the app took a write: the key is good again
                    probing = False
                elif probing and res.status != "signin":  # could not tell (app down): probe again later
                    self._signin_next = time.time() + self.signin_retry
                    self._signin_sig = self._identity_sig()
            if s.status != "pending" or s.attempts == 1:
                self._emit(s)
            if probing or res.status == "signin":
                break
        return len(self.pending())

    def flush(self, timeout: float = 30.0) -> bool:
        """Process until nothing is pending or `timeout` passes (ignores backoff). True when empty.

        Returns False at once while a sign-in episode waits (nothing lands before a new sign-in)."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.process(now=float("inf"))
            if left == 0:
                return True
            if self.signin is not None or time.monotonic() > deadline:
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
                        self.bus.emit(ErrorEvent(where="chain", what=e.what, fix=e.fix))
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
