"""The rule engine: typed events and periodic facts in, Alert transitions out. Pure (no I/O, no clock
of its own: every call passes `now`), so every rule is unit-tested without a process or a network.

Conditions (AlertSettings.conditions turns each on or off):
  down        the node crashed (reason, and the fix when the supervisor names one); "recovered" when it runs again
  gave_up     the supervisor stopped restarting it (sent as an update of an active "down")
  oom         the supervisor stepped the model down after an out-of-memory exit (one-shot)
  sign_in     the login app refused the profile's session key: sign in again
  no_progress no round finished for no_progress_rounds x the network's round length while running
  no_reward   no_reward_rounds rounds in a row finished with reward 0
  behind      the chain's round is behind_rounds or more ahead of the node's
  backup      the identity has no verified backup
  disk        less than disk_free_gb free where the profile keeps its data
  win         the chain counts a new win for this peer (one-shot)
  peer_ignored  the node ignores a peer whose groups failed verification ("peer X ignored: claimed rewards
              disagree with local scores"); an update when the set of ignored peers changes, "recovered"
              when none is ignored any more

Change-only: a condition sends when it starts holding and, if that was sent, "recovered" when it clears
(a down node is recovered once it finishes a round or runs for RECOVERED_AFTER s, not at its first event);
never again while it holds. Cooldown: a condition that comes back within cooldown_minutes of its last
message is not sent (nor its recovery): a flapping node sends one message, not one per restart.
Quiet hours: messages due then wait, and go out when the quiet hours end, if the condition still holds
(a recovery of a waiting message is dropped with it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable, Mapping

from core.config.settings import AlertSettings
from core.base.errors import dict_part
from core.base.i18n import M, Msg
from core.events.types import (ChainTotals, Event, LoginOk, LoginRequired, NodeState, Oom, PeerTrust, RoundFinished,
                               RoundStarted)

GB = 10**9
RECOVERED_AFTER = 60.0   # s of running (or a finished round) before a down node counts as recovered


@dataclass(frozen=True)
class Alert:
    profile: str
    condition: str
    kind: str          # "fired" | "recovered" | "update" | "event"
    title: str
    body: str
    ts: float

    def to_dict(self) -> dict:
        return {"profile": self.profile, "condition": self.condition, "kind": self.kind, "title": self.title,
                "body": self.body, "ts": self.ts}


@dataclass(frozen=True)
class Facts:
    """What the supervisor's glue reads every check (None = unknown: the rule keeps its state)."""

    now: float
    state: str | None = None                 # the supervisor's state
    disk_free_bytes: int | None = None
    disk_path: str | None = None
    backup_verified: bool | None = None      # None: no identity yet, or unknown
    signin_required: dict | None = None      # {"reason", "fix"} or None
    chain_round: int | None = None
    round_seconds: float | None = None


@dataclass
class _Cond:
    active: bool = False
    sent: bool = False               # the "fired" message went out (so a recovery is worth sending)
    since: float = 0.0
    last_msg: float | None = None    # when this condition last sent a fired/event message (cooldown)
    detail: str = ""                 # e.g. "crashed" / "gave_up": a change while active sends an update


_QUIET_RE = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


def _keyed(ev: Event, name: str) -> "Msg | str | None":
    """An event's text field as its Msg when it was keyed (so the alert renders it in the user's
    language), else its plain text."""
    m = Msg.from_wire((ev.msgs or {}).get(name)) if isinstance(ev.msgs, Mapping) else None
    return m if m is not None else getattr(ev, name, None)


def _joined(parts: list) -> "Msg | str":
    """Several messages as one "a; b; c" (each rendered in the user's language)."""
    if not parts:
        return ""
    out = parts[-1]
    for m in reversed(parts[:-1]):
        out = M("alert.b.list", first=m, rest=out)
    return out


def in_quiet_hours(spec: str, now: float, localtime: Callable[[float], time.struct_time] = time.localtime) -> bool:
    """Whether `now` (local time) falls in "HH:MM-HH:MM" (which may wrap past midnight); "" = never."""
    m = _QUIET_RE.fullmatch(spec or "")
    if not m:
        return False
    a = int(m[1]) * 60 + int(m[2])
    b = int(m[3]) * 60 + int(m[4])
    t = localtime(now)
    cur = t.tm_hour * 60 + t.tm_min
    if a == b:
        return False
    return a <= cur < b if a < b else (cur >= a or cur < b)


class AlertEngine:
    def __init__(self, profile: str, settings: AlertSettings,
                 localtime: Callable[[float], time.struct_time] = time.localtime):
        self.profile = profile
        self.settings = settings
        self.localtime = localtime
        self.conds: dict[str, _Cond] = {}
        self.pending: list[Alert] = []   # held by quiet hours
        self.state: str | None = None
        self.running_since: float | None = None
        self.last_progress: float | None = None
        self.node_round: int | None = None
        self.zero_reward_rounds = 0
        self.wins: int | None = None
        self.dirty = False               # conditions changed since the last snapshot() (the glue persists it)

    # ------------------------------------------------------------------ helpers
    def _on(self, cond: str) -> bool:
        return self.settings.enabled and cond in self.settings.conditions

    def _c(self, cond: str) -> _Cond:
        return self.conds.setdefault(cond, _Cond())

    def _quiet(self, now: float) -> bool:
        return in_quiet_hours(self.settings.quiet_hours, now, self.localtime)

    def _cooling(self, c: _Cond, now: float) -> bool:
        return c.last_msg is not None and now - c.last_msg < self.settings.cooldown_minutes * 60

    def _alert(self, cond: str, kind: str, title: str, body: str, now: float) -> Alert:
        # title/body are Msgs (str = English: to_dict, alert-state JSON and logs stay English); the sender
        # renders them in the user's language when it delivers them
        return Alert(self.profile, cond, kind, M("alert.title", profile=self.profile, title=title), body, now)

    def _deliver(self, a: Alert, now: float) -> list[Alert]:
        if self._quiet(now):
            self.pending.append(a)
            return []
        return [a]

    def _set(self, cond: str, active: bool, now: float, title: str = "", body: str = "", detail: str = "",
             recovered: str = "") -> list[Alert]:
        """Move a condition to active/clear; the messages that change is worth."""
        c = self._c(cond)
        if active != c.active or (active and detail and detail != c.detail):
            self.dirty = True
        if active and not c.active:
            c.active, c.since, c.detail, c.sent = True, now, detail, False
            if not self._on(cond) or self._cooling(c, now):
                return []
            c.sent, c.last_msg = True, now
            return self._deliver(self._alert(cond, "fired", title, body, now), now)
        if active and c.active and detail and detail != c.detail:
            c.detail = detail
            # giving up is news even when the crash before it was not sent (cooldown): it needs the user
            upd = "gave_up" if detail == "gave_up" else cond
            if not self._on(upd) or (not c.sent and upd != "gave_up"):
                return []
            c.sent, c.last_msg = True, now
            return self._deliver(self._alert(cond, "update", title, body, now), now)
        if not active and c.active:
            c.active = False
            was_sent, c.sent = c.sent, False
            if not was_sent:
                return []
            held = [a for a in self.pending if a.condition == cond and a.kind in ("fired", "update")]
            if held:  # its message still waits for the quiet hours to end: neither goes out
                self.pending = [a for a in self.pending if a not in held]
                return []
            if not recovered:
                return []
            return self._deliver(self._alert(cond, "recovered", M("alert.recovered", title=title), recovered, now), now)
        return []

    def _once(self, cond: str, now: float, title: str, body: str) -> list[Alert]:
        c = self._c(cond)
        if not self._on(cond) or self._cooling(c, now):
            return []
        c.last_msg, self.dirty = now, True
        return self._deliver(self._alert(cond, "event", title, body, now), now)

    def _flush(self, now: float) -> list[Alert]:
        if not self.pending or self._quiet(now):
            return []
        out = []
        for a in self.pending:
            if a.kind in ("fired", "update") and not self._c(a.condition).active:
                continue  # it cleared meanwhile
            out.append(a)
        self.pending = []
        return out

    # ------------------------------------------------------------------ events
    def observe(self, ev: Event, now: float | None = None) -> list[Alert]:
        now = ev.ts if now is None else now
        out = self._flush(now)
        if isinstance(ev, NodeState):
            out += self._node_state(ev, now)
        elif isinstance(ev, (RoundStarted, RoundFinished)):
            if self.node_round is None or ev.round >= self.node_round:
                self.node_round = ev.round
            if isinstance(ev, RoundFinished):
                self.last_progress = now
                if self.state == "running":
                    out += self._set("down", False, now, M("alert.t.down"),
                                     recovered=M("alert.b.runs_again_round", round=ev.round))
                out += self._set("no_progress", False, now, M("alert.t.no_progress"),
                                 recovered=M("alert.b.round_finished", round=ev.round))
                if ev.reward > 0:
                    self.zero_reward_rounds = 0
                    out += self._set("no_reward", False, now, M("alert.t.no_reward"),
                                     recovered=M("alert.b.reward_earned", round=ev.round, reward=f"{ev.reward:g}"))
                else:
                    self.zero_reward_rounds += 1
                    n = self.settings.no_reward_rounds
                    if self.zero_reward_rounds >= n:
                        out += self._set("no_reward", True, now, M("alert.t.no_reward"),
                                         M("alert.b.no_reward", n=self.zero_reward_rounds, round=ev.round,
                                           profile=self.profile))
        elif isinstance(ev, Oom) and ev.source == "supervisor":
            if ev.step_down:
                body = M("alert.b.oom_step", kind=ev.kind, step=ev.step_down)
            else:
                fix = (ev.extra or {}).get("fix") or M("alert.b.oom_fix")
                body = M("alert.b.oom_none", kind=ev.kind, fix=fix)
            out += self._once("oom", now, M("alert.t.oom"), body)
        elif isinstance(ev, LoginRequired):
            out += self._set("sign_in", True, now, M("alert.t.sign_in"), M("alert.b.reason_fix", reason=_keyed(ev, "reason"), fix=_keyed(ev, "fix")))
        elif isinstance(ev, LoginOk):
            out += self._set("sign_in", False, now, M("alert.t.sign_in"), recovered=M("alert.b.signed_in"))
        elif isinstance(ev, PeerTrust):
            out += self._peer_trust(ev, now)
        elif isinstance(ev, ChainTotals) and ev.total_wins is not None:
            wins = int(ev.total_wins)
            if self.wins is not None and wins > self.wins:
                new = wins - self.wins
                out += self._once("win", now, M("alert.t.win") if new == 1 else M("alert.t.wins", n=new),
                                  M("alert.b.wins", wins=wins, new=new, reward=f"{ev.total_reward:g}"))
            if wins != self.wins:
                self.dirty = True
            self.wins = wins if self.wins is None else max(self.wins, wins)
        return out

    def _peer_trust(self, ev: PeerTrust, now: float) -> list[Alert]:
        ign = [e for e in ev.ignored if e.get("peer_id")]
        if not ign:
            return self._set("peer_ignored", False, now, M("alert.t.peer_ignored"), recovered=M("alert.b.no_peer_ignored"))
        lines = []
        for e in ign[:5]:
            reason = str(e.get("reason") or "")
            why = M(f"event.trust_reason.{reason}") if reason.isidentifier() else reason
            until = e.get("until_round")
            lines.append(M("alert.b.peer_until", peer=e["peer_id"], why=why, until=until) if until
                         else M("alert.b.peer", peer=e["peer_id"], why=why))
        if len(ign) > 5:
            lines.append(M("alert.b.more", n=len(ign) - 5))
        body = M("alert.b.peers_ignored", lines=_joined(lines))
        title = M("alert.t.peer", peer=ign[0]["peer_id"]) if len(ign) == 1 else M("alert.t.peers", n=len(ign))
        return self._set("peer_ignored", True, now, title, body,
                         detail=",".join(sorted(str(e["peer_id"]) for e in ign)))

    def _node_state(self, ev: NodeState, now: float) -> list[Alert]:
        st = ev.state
        self.state = st
        if st == "running":
            # not recovered yet: a crash-looping node runs for a moment each time. A finished round, or
            # RECOVERED_AFTER s of running (check()), is the proof.
            if self.running_since is None:
                self.running_since = now
            return []
        if st in ("starting", "preparing"):
            # not running yet (a first model build can take minutes): the round-progress rules wait
            self.running_since = None
            return []
        if st in ("stopped",) and ev.source == "supervisor":
            self.running_since = None
            self._set("down", False, now)  # stopped on request: clear without a message
            self._set("no_progress", False, now)
            return []
        if st in ("crashed", "gave_up") and ev.source == "supervisor":
            self.running_since = None
            fix = ev.fix or (ev.extra or {}).get("fix")
            reason = _keyed(ev, "reason") or M("alert.b.unknown_reason")
            if st == "gave_up":
                title = M("alert.t.gave_up")
                body = M("alert.b.gave_up", reason=reason)
            else:
                title = M("alert.t.down")
                body = (M("alert.b.down_restart", reason=reason, seconds=f"{ev.next_restart_in:g}")
                        if ev.next_restart_in is not None else M("alert.b.down", reason=reason))
            if fix:
                body = M("alert.b.with_fix", body=body, fix=_keyed(ev, "fix") or fix)
            return self._set("down", True, now, title, body, detail=st)
        return []

    # ------------------------------------------------------------------ periodic facts
    def check(self, f: Facts) -> list[Alert]:
        now = f.now
        out = self._flush(now)
        s = self.settings
        if f.state is not None and f.state != self.state:
            self.state = f.state
            if f.state == "running" and self.running_since is None:
                self.running_since = now
            elif f.state != "running":
                self.running_since = None
        if f.disk_free_bytes is not None:
            low = f.disk_free_bytes < s.disk_free_gb * GB
            out += self._set("disk", low, now, M("alert.t.disk"),
                             M("alert.b.disk", gb=f"{f.disk_free_bytes / GB:.1f}",
                               path=f.disk_path or M("alert.b.data_disk"), limit=f"{s.disk_free_gb:g}"),
                             recovered=M("alert.b.disk_ok", gb=f"{f.disk_free_bytes / GB:.1f}"))
        if f.backup_verified is not None:
            out += self._set("backup", not f.backup_verified, now, M("alert.t.backup"),
                             M("alert.b.backup", profile=self.profile),
                             recovered=M("alert.b.backup_ok"))
        if f.signin_required is not None or self._c("sign_in").active:
            req = f.signin_required
            out += self._set("sign_in", req is not None, now, M("alert.t.sign_in"),
                             M("alert.b.reason_fix", reason=dict_part(req, "reason") or "", fix=dict_part(req, "fix") or ""),
                             recovered=M("alert.b.signed_in"))
        running = self.state == "running" and self.running_since is not None
        if running and now - (self.running_since or now) >= RECOVERED_AFTER:
            out += self._set("down", False, now, M("alert.t.down"),
                             recovered=M("alert.b.runs_again_min",
                                         minutes=f"{(now - (self.running_since or now)) / 60:.0f}"))
        if running and f.round_seconds:
            since = max(self.last_progress or 0.0, self.running_since or 0.0)
            stalled = now - since > s.no_progress_rounds * f.round_seconds
            out += self._set("no_progress", stalled, now, M("alert.t.no_progress"),
                             M("alert.b.no_progress", minutes=f"{(now - since) / 60:.0f}", n=s.no_progress_rounds,
                               seconds=f"{f.round_seconds:g}", round=self.node_round, profile=self.profile),
                             recovered=M("alert.b.rounds_again"))
        if running and f.chain_round is not None and self.node_round is not None:
            behind = f.chain_round - self.node_round
            out += self._set("behind", behind >= s.behind_rounds, now, M("alert.t.behind"),
                             M("alert.b.behind", chain=f.chain_round, node=self.node_round, n=behind),
                             recovered=M("alert.b.caught_up"))
        elif not running:
            out += self._set("behind", False, now)
        return out

    def snapshot(self) -> dict:
        """What a restarted supervisor needs to stay change-only (no repeat of what was sent)."""
        self.dirty = False
        return {"v": 1, "wins": self.wins,
                "conds": {k: {"active": c.active, "sent": c.sent, "since": c.since, "last_msg": c.last_msg,
                              "detail": c.detail} for k, c in self.conds.items()}}

    def restore(self, d: dict) -> None:
        """The state of snapshot() (anything malformed is ignored: at worst a message is sent again)."""
        if not isinstance(d, dict) or d.get("v") != 1:
            return
        if isinstance(d.get("wins"), int):
            self.wins = d["wins"]
        for k, v in (d.get("conds") or {}).items():
            if not isinstance(v, dict):
                continue
            try:
                self.conds[str(k)] = _Cond(active=bool(v.get("active")), sent=bool(v.get("sent")),
                                           since=float(v.get("since") or 0.0),
                                           last_msg=float(v["last_msg"]) if v.get("last_msg") is not None else None,
                                           detail=str(v.get("detail") or ""))
            except (TypeError, ValueError):
                continue

    def active(self) -> list[str]:
        return sorted(k for k, c in self.conds.items() if c.active)


def quiet_now(settings: AlertSettings, now: float | None = None) -> bool:
    return in_quiet_hours(settings.quiet_hours, time.time() if now is None else now)


__all__ = ["Alert", "AlertEngine", "Facts", "in_quiet_hours", "quiet_now"]
