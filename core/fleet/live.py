"""The fleet, live: what the TUI's fleet view shows, kept current by background threads (no textual here).

Per host, two threads: a status poll (core.fleet.status.poll_host) every `poll_s`, and the host's event
stream (`swarmdeck events --follow --json --all -n 0` over the shared SSH connection, kept open), so a
remote node's state change shows within about a second instead of at the next poll. A host that stops
answering is marked "unreachable since" the first failed poll and retried with backoff (2 s doubling to
`max_backoff`). `on_change()` is called from those threads after every change; the caller redraws.

RemoteStream follows one remote profile's events for its dashboard (the same typed events a local
dashboard reads from events.jsonl).
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from core.config.settings import FleetSettings
from core.events.reader import parse_line
from core.events.types import Event, NodeState, RoundFinished, RoundStarted
from core.fleet import remote
from core.fleet.registry import FleetError, FleetHost
from core.fleet.ssh import Ssh
from core.fleet.status import poll_host


@dataclass
class HostView:
    name: str
    reachable: bool | None = None        # None: not asked yet
    down_since: float | None = None      # first failed poll of the current outage
    error: dict | None = None
    version: str | None = None
    rtt_ms: float | None = None
    profiles: dict[str, dict] = field(default_factory=dict)
    next_try: float = 0.0


class FleetLive:
    def __init__(self, hosts: list[FleetHost], settings: FleetSettings | None = None,
                 on_change: Callable[[], None] = lambda: None, poll_s: float | None = None,
                 max_backoff: float = 60.0, stream: bool = True):
        self.hosts = list(hosts)
        self.settings = settings or FleetSettings()
        self.on_change = on_change
        self.poll_s = float(poll_s if poll_s is not None else self.settings.poll_seconds)
        self.max_backoff = max_backoff
        self.stream = stream
        self.views: dict[str, HostView] = {h.name: HostView(h.name) for h in self.hosts}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = {h.name: threading.Event() for h in self.hosts}
        self._procs: dict[str, subprocess.Popen] = {}
        self._threads: list[threading.Thread] = []

    # -- life
    def start(self) -> None:
        for h in self.hosts:
            t = threading.Thread(target=self._run, args=(h,), daemon=True, name=f"fleet-{h.name}")
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for w in self._wake.values():
            w.set()
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                p.terminate()

    def poll_now(self) -> None:
        """Ask every host again at once (the view's refresh key)."""
        for w in self._wake.values():
            w.set()

    def snapshot(self) -> list[HostView]:
        with self.lock:
            return [HostView(v.name, v.reachable, v.down_since, v.error, v.version, v.rtt_ms,
                             {k: dict(p) for k, p in v.profiles.items()}, v.next_try) for v in self.views.values()]

    # -- per host
    def _run(self, host: FleetHost) -> None:
        backoff = 2.0
        streaming = False
        while not self._stop.is_set():
            poll = poll_host(host, self.settings)
            ok = poll["reachable"] and not poll["error"]
            now = time.time()
            with self.lock:
                v = self.views[host.name]
                v.reachable, v.error = bool(poll["reachable"]), poll["error"]
                if ok:
                    v.down_since, v.version, v.rtt_ms = None, poll["version"], poll["rtt_ms"]
                    fresh = {p["name"]: p for p in poll["profiles"]}
                    v.profiles = fresh
                    v.next_try = 0.0
                else:
                    if v.down_since is None:
                        v.down_since = poll["checked_at"]
                    v.next_try = now + backoff
            self.on_change()
            if ok:
                backoff = 2.0
                if self.stream and not streaming:
                    streaming = True
                    threading.Thread(target=self._stream_loop, args=(host,), daemon=True,
                                     name=f"fleet-stream-{host.name}").start()
            wait = self.poll_s if ok else backoff
            if not ok:
                backoff = min(self.max_backoff, backoff * 2)
            self._wake[host.name].wait(wait)
            self._wake[host.name].clear()

    def _stream_loop(self, host: FleetHost) -> None:
        """The host's event stream, open for as long as it lasts; reopened with backoff after it ends."""
        backoff = 2.0
        while not self._stop.is_set():
            t0 = time.monotonic()
            self._follow(host)
            if time.monotonic() - t0 > 60:
                backoff = 2.0
            self._stop.wait(backoff)
            backoff = min(self.max_backoff, backoff * 2)

    def _follow(self, host: FleetHost) -> None:
        """Apply the host's events to its rows until the stream ends (the link dies, the host reboots)."""
        try:
            proc = Ssh(host, self.settings).popen(remote.args_for_all_events())
        except FleetError:
            return
        self._procs[host.name] = proc
        try:
            for line in proc.stdout:  # type: ignore[union-attr]
                if self._stop.is_set():
                    break
                ev = parse_line(line)
                if ev is not None and self._apply(host.name, ev):
                    self.on_change()
        finally:
            with contextlib.suppress(Exception):
                proc.terminate()
                proc.wait(5)
            self._procs.pop(host.name, None)

    def _apply(self, host: str, ev: Event) -> bool:
        with self.lock:
            row = self.views[host].profiles.get(ev.profile)
            if row is None:
                return False
            if isinstance(ev, NodeState):
                row["state"] = ev.state
            elif isinstance(ev, (RoundStarted, RoundFinished)):
                row["round"] = ev.round
                if isinstance(ev, RoundFinished):
                    row["last_reward"] = ev.reward
            else:
                return False
        return True


class RemoteStream:
    """One remote profile's events (for its dashboard): `on_events(list)` from a thread; reconnects with backoff."""

    def __init__(self, host: FleetHost, profile: str, on_events: Callable[[list[Event]], None],
                 on_error: Callable[[str], None] = lambda msg: None, settings: FleetSettings | None = None,
                 history: int = 300):
        remote.check_profile(profile)
        self.host, self.profile = host, profile
        self.on_events, self.on_error = on_events, on_error
        self.settings = settings or FleetSettings()
        self.history = history
        self._stop = threading.Event()
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name=f"fleet-stream-{self.host.name}").start()

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None:
            with contextlib.suppress(Exception):
                self._proc.terminate()

    def _run(self) -> None:
        backoff, history = 2.0, self.history
        while not self._stop.is_set():
            try:
                self._proc = Ssh(self.host, self.settings).popen(remote.args_for("events", self.profile, history=history))
                for line in self._proc.stdout:  # type: ignore[union-attr]
                    ev = parse_line(line)
                    if ev is not None:
                        self.on_events([ev])  # the screen batches them into its next redraw
                    backoff = 2.0
                history = 0  # reconnects ask for what is new only
                if not self._stop.is_set():
                    err = (self._proc.stderr.read() if self._proc.stderr else "") or ""
                    self.on_error(err.strip().splitlines()[-1] if err.strip() else "the event stream ended")
            except FleetError as e:
                self.on_error(e.what)
            finally:
                if self._proc is not None:
                    with contextlib.suppress(Exception):
                        self._proc.terminate()
                        self._proc.wait(5)
            self._stop.wait(backoff)
            backoff = min(60.0, backoff * 2)
