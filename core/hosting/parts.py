"""The swarm host's parts (chain, advancer, guard, faucet, bootnode), each watched like a node.

A Part wraps what starts one part, what tells whether it is still well, and what stops it.
The host process calls tick() every few seconds; a part that is not well is stopped and
restarted after the node supervisor's backoff (core.supervisor.policy.RestartPolicy: same
quick-failure count, same give-up rule), or given up at once when its check says a restart
cannot help (`Broken(..., fatal=True)`, e.g. the bootnode's port is taken by another program).

State words, as for nodes: starting, running, crashed (waiting to restart), gave_up, stopped.
to_dict() is what host-runtime.json carries and `swarm status` shows (uptime, restarts, last exit).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable

from core.base.i18n import M, Msg
from core.supervisor.policy import RestartPolicy

log = logging.getLogger("swarmdeck.host")


class Broken(Exception):
    """A part's start or check failed; `fatal`: restarting will not help (give up now)."""

    def __init__(self, reason: str | Msg, fatal: bool = False):  # a Msg: shown in the reader's language
        super().__init__(reason)
        self.reason, self.fatal = reason, fatal


class Part:
    def __init__(self, name: str, start: Callable[[], Any], check: Callable[[Any], None],
                 stop: Callable[[Any], None] = lambda h: None, *, policy: RestartPolicy | None = None,
                 log_file: str = "", clock: Callable[[], float] = time.monotonic):
        self.name = name
        self._start, self._check, self._stop = start, check, stop
        self.policy = policy or RestartPolicy()
        self.log_file = log_file
        self.clock = clock
        self.handle: Any = None
        self.state = "stopped"
        self.reason = ""
        self.since = time.time()
        self.started_at: float | None = None     # monotonic, while it runs
        self.restarts = 0
        self.last_exit: dict | None = None
        self.next_restart_at: float | None = None
        self.on_restart: list[Callable[[Any], None]] = []  # parts that depend on this one's new handle

    def _set(self, state: str, reason: str = "") -> None:
        if state != self.state or reason != self.reason:
            (log.warning if state in ("crashed", "gave_up") else log.info)(
                "part %s: %s%s", self.name, state, f" ({reason})" if reason else "")
        self.state, self.reason, self.since = state, reason, time.time()

    def start(self) -> bool:
        self._set("starting")
        try:
            self.handle = self._start()
        except Broken as e:
            self._failed(e.reason, e.fatal, uptime=0.0)
            return False
        except Exception as e:  # noqa: BLE001 - a part that cannot start is a failure like a crash
            self._failed(f"{type(e).__name__}: {str(e)[:300]}", False, uptime=0.0)
            return False
        self.started_at = self.clock()
        self._set("running")
        for cb in self.on_restart:
            cb(self.handle)
        return True

    def _failed(self, reason: str, fatal: bool, uptime: float) -> None:
        self.last_exit = {"reason": reason, "at": time.time(), "uptime": round(uptime, 1)}
        self.started_at = None
        delay = None if fatal else self.policy.exited(uptime)
        if delay is None:
            self.next_restart_at = None
            why = reason if fatal else M("sup.reason.gave_up", n=self.policy.quick_failures, reason=reason)
            self._set("gave_up", why)
        else:
            self.next_restart_at = self.clock() + delay
            self._set("crashed", reason)

    def tick(self) -> None:
        now = self.clock()
        if self.state == "running":
            try:
                self._check(self.handle)
            except Broken as e:
                uptime = now - (self.started_at or now)
                with contextlib.suppress(Exception):
                    self._stop(self.handle)
                self.handle = None
                self._failed(e.reason, e.fatal, uptime)
                return
            self.policy.healthy(now - (self.started_at or now))
        elif self.state == "crashed" and self.next_restart_at is not None and now >= self.next_restart_at:
            self.next_restart_at = None
            self.restarts += 1
            self.start()

    def stop(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):
                self._stop(self.handle)
        self.handle = None
        self.started_at = None
        self._set("stopped")

    def retry(self) -> None:
        """Start a part that gave up (the operator fixed the cause and ran `swarm host` again)."""
        if self.state == "gave_up":
            self.policy.reset()
            self.start()

    def to_dict(self) -> dict:
        now = self.clock()
        # the reason stays English text (host.json readers, logs); its key rides beside it in "msgs"
        msgs = {"reason": self.reason.to_wire()} if isinstance(self.reason, Msg) else None
        return {"state": self.state, "reason": self.reason, "since": self.since, **({"msgs": msgs} if msgs else {}),
                "uptime": round(now - self.started_at, 1) if self.started_at is not None else None,
                "restarts": self.restarts, "last_exit": self.last_exit,
                "next_restart_in": round(max(0.0, self.next_restart_at - now), 1)
                if self.next_restart_at is not None else None, "log": self.log_file}


class HostAlerts:
    """Change-only alerts for the host's parts: a condition ("bootnode down", ...) is sent as "fired" once it
    has held for `grace` seconds (a part restarted by its watcher within seconds sends nothing), and as
    "recovered" when it clears after it was sent. Pure: update() takes the conditions now and the time, and
    returns the core.alerts.rules.Alert transitions to send."""

    def __init__(self, swarm: str, grace: float = 30.0):
        self.swarm, self.grace = swarm, float(grace)
        self.since: dict[str, float] = {}
        self.sent: set[str] = set()

    def update(self, conditions: dict[str, str], now: float) -> list:
        from core.alerts.rules import Alert

        out = []
        for title, detail in conditions.items():
            self.since.setdefault(title, now)
            if title not in self.sent and now - self.since[title] >= self.grace:
                self.sent.add(title)
                out.append(Alert(profile=f"swarm {self.swarm}", condition=title, kind="fired",
                                 title=M("alert.host.title", swarm=self.swarm, title=title),
                                 body=M("alert.host.body", detail=detail), ts=now))
        for title in list(self.since):
            if title not in conditions:
                del self.since[title]
                if title in self.sent:
                    self.sent.discard(title)
                    out.append(Alert(profile=f"swarm {self.swarm}", condition=title, kind="recovered",
                                     title=M("alert.host.recovered", swarm=self.swarm, title=title),
                                     # not empty: apprise refuses a message without a body
                                     body=M("alert.host.recovered_body"), ts=now))
        return out
