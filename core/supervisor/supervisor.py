"""The supervisor: one background process per running profile that keeps its node alive.

Why a separate process: an SSH hang-up or closing the TUI must never stop training, so the
node runs under a supervisor in its own session (core.supervisor.launch double-forks), which
  - runs the node (`python -m core.node --profile NAME`) as a child in its own process group
    and reaps the whole group (hivemind's DHT process and p2pd included) on stop/crash/restart;
  - reads the child's typed events (JSON lines on stdout) and persists them to events.jsonl
    (clients follow that file); answers status/start/stop/logs on the control socket
    (core.supervisor.server);
  - writes the child's stderr to a rotating node.log, and its own notes to supervisor.log;
  - restarts a crashed or stalled child with exponential backoff + jitter, gives up after N
    quick failures (state gave_up), and steps the model down after an OOM (core.supervisor.downshift);
  - enforces a per-profile RSS (and, with a GPU, VRAM) limit before the kernel's OOM killer acts.

Child contract: events on stdout, logs on stderr, SIGTERM = graceful stop (exit 0 within the
stop timeout), exit EXIT_OOM = CUDA/torch OOM (after an `oom` event), exit EXIT_CONFIG = a user
error that a restart cannot fix (the supervisor stops retrying and shows the last error event).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import logging.handlers
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from core.base import procs
from core.base.constants import EXIT_CONFIG, EXIT_OOM
from core.base.i18n import M
from core.base.paths import ProfilePaths, ensure_private_dir
from core.events.log import EventBus
from core.events.reader import last_seq, parse_line
from core.events.types import (ErrorEvent, Event, LogEvent, ModelBuild, NodeIdentity, NodeMode, NodeState, Oom,
                               RoundFinished, RoundStarted)
from core.supervisor import downshift
from core.supervisor.alerting import SupervisorAlerts
from core.supervisor.policy import RestartPolicy
from core.supervisor.probes import (alive, group_members, oom_kill_count, pid_alive, remove_torch_shm, rss_of,
                                    vram_of)
from core.supervisor.server import ControlServer
from core.supervisor.settings import PROJECT_ROOT, SupervisorSettings, load_settings, node_command, profile_training


# What a node says while it is still starting (its identity, log lines, an error before it gives
# up, e.g. "could not reach any DHT bootnode"): a node that says only these and exits is crash-looping,
# and must never read as running. Anything else (its mode, a round, node.state running) means it is up.
_STARTUP_CHATTER = (NodeIdentity, LogEvent, ErrorEvent, ModelBuild)


def _proves_running(ev: Event, preparing: bool = False) -> bool:
    """Whether a child's event shows it runs. A node that said `preparing` (its model still loads or
    builds) runs only once it says so, or a round moves: its chain writes and peers do not count."""
    if isinstance(ev, NodeState):
        return ev.state == "running"
    if preparing:
        return isinstance(ev, (RoundStarted, RoundFinished))
    return not isinstance(ev, _STARTUP_CHATTER)


@dataclass(frozen=True)
class SupervisorStatus:
    """What `status` answers (the wire and `swarmdeck status --json` carry to_dict())."""

    profile: str
    state: str
    reason: str
    since: float
    supervisor_pid: int
    supervisor_uptime: float
    child_pid: int | None
    child_uptime: float | None
    last_event_age: float | None
    round: Any
    mode: str | None
    rss_mb: float | None
    restarts: int
    quick_failures: int
    next_restart_in: float | None
    last_exit: dict | None
    downshift: dict
    subscribers: int  # `logs --follow` clients
    connections: int
    node_cmd: list[str]
    log_dir: str
    events_file: str
    settings: dict

    def to_dict(self) -> dict:
        return asdict(self)


class _Run:
    """Bookkeeping of one child process."""

    def __init__(self, proc: asyncio.subprocess.Process, started: float):
        self.proc = proc
        self.pid = proc.pid
        self.started = started
        self.last_event = started
        self.last_round = started
        self.round: Any = None
        self.kill_reason: str | None = None   # set when we decided to end it (stop/stall/limit)
        self.kill_kind: str | None = None     # oom kind when we killed for a limit
        self.sent_kill = False
        self.saw_oom: str | None = None
        self.last_error: dict | None = None
        self.mode: str | None = None
        self.rss = 0
        self.peak_rss = 0
        self.recent_rss: collections.deque = collections.deque(maxlen=20)  # last samples, for OOM forensics
        self.oom_kills_before = oom_kill_count()
        self.healthy = False
        self.members: set[int] = {proc.pid}


class Supervisor:
    def __init__(self, profile: str, settings: SupervisorSettings | None = None,
                 node_cmd: list[str] | None = None, paths: ProfilePaths | None = None,
                 echo: bool = False):
        self.profile = profile
        self.paths = paths or ProfilePaths(profile)
        self.settings = settings or load_settings(profile)
        self.node_cmd = node_cmd or node_command(profile)
        self.echo = echo
        self.state = "stopped"
        self.state_reason = ""
        self.state_since = time.time()
        self.run: _Run | None = None
        self.restarts = 0
        self.policy = RestartPolicy.from_settings(self.settings)  # shared with the swarm host's parts
        self.last_exit: dict | None = None
        self.next_restart_at: float | None = None
        self.started_at = time.time()
        self.server: ControlServer | None = None
        self._want = asyncio.Event()
        self._kick = asyncio.Event()       # wakes the manager out of a backoff sleep
        self._stopped = asyncio.Event()    # set whenever no child runs
        self._exiting = False
        self._exit_done = asyncio.Event()
        ensure_private_dir(self.paths.root)
        self._seq = last_seq(self.paths.events_file)  # seq goes on where the file left off
        self.last_round = None
        self._setup_logs()
        self.alerts = SupervisorAlerts(profile, self.paths, self.note)  # every published event goes through it
        self.bus = EventBus(profile, persist_to=self.paths.events_file,
                            max_bytes=self.settings.events_max_bytes, on_compact=self._compacted)

    # -- logs
    def _setup_logs(self) -> None:
        ensure_private_dir(self.paths.log_dir)
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")

        def handler(name: str, with_fmt: bool) -> logging.Handler:
            h = logging.handlers.RotatingFileHandler(self.paths.log_dir / name, maxBytes=self.settings.log_max_bytes,
                                                     backupCount=self.settings.log_backups, encoding="utf-8")
            if with_fmt:
                h.setFormatter(fmt)
            return h

        self.log = logging.getLogger(f"swarmdeck.supervisor.{self.profile}.{id(self)}")
        self.log.propagate = False
        self.log.setLevel(logging.INFO)
        self.log.addHandler(handler("supervisor.log", True))
        if self.echo:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(fmt)
            self.log.addHandler(sh)
        self.nodelog = logging.getLogger(f"swarmdeck.node.{self.profile}.{id(self)}")
        self.nodelog.propagate = False
        self.nodelog.setLevel(logging.INFO)
        self.nodelog.addHandler(handler("node.log", False))
        self.log_paths = {"node": self.paths.log_dir / "node.log", "supervisor": self.paths.log_dir / "supervisor.log"}

    def note(self, msg: str, level: int = logging.INFO) -> None:
        self.log.log(level, msg)
        self._log_line("supervisor", f"{time.strftime('%Y-%m-%d %H:%M:%S')} {logging.getLevelName(level)} {msg}")

    def _node_line(self, line: str) -> None:
        self.nodelog.info(line)
        if self.echo:
            print(line, file=sys.stderr)
        self._log_line("node", line)

    def _log_line(self, source: str, line: str) -> None:
        if self.server is not None:
            self.server.offer_line(source, line)

    # -- events
    def _compacted(self, info: dict) -> None:
        if info.get("error"):
            self.note(f"could not compact {self.paths.events_file}: {info['error']}", logging.WARNING)
        else:
            self.note(f"compacted {self.paths.events_file}: {info['before']} -> {info['after']} bytes "
                       f"({info['dropped']} older events dropped; the full file is {self.paths.events_file}.1)")

    def publish(self, ev: Event) -> None:
        """Stamp an event (the supervisor's own or the child's) with the next seq of this profile's one
        stream, the time when unset, and this profile, then persist and fan it out."""
        self._seq += 1
        ev = ev.stamped(seq=self._seq, ts=ev.ts or time.time(), profile=self.profile)
        self.bus.publish(ev)
        self.alerts.on_event(ev)

    def _set_state(self, state: str, reason: str = "", pid: int | None = None, exit: dict | None = None,
                   next_restart_in: float | None = None, **extra: Any) -> None:
        self.state, self.state_reason, self.state_since = state, reason, time.time()
        self.publish(NodeState(state=state, reason=reason, source="supervisor", restarts=self.restarts, pid=pid,
                               exit=exit, next_restart_in=next_restart_in, extra=extra))
        self.note(f"state {state}" + (f": {reason}" if reason else ""))

    def _child_event(self, run: _Run, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return
        ev = parse_line(text)
        if ev is None:
            self._node_line(f"[stdout] {text[:4000]}")  # not an event: keep it, as a log line
            return
        now = time.monotonic()
        run.last_event = now
        if isinstance(ev, NodeState) and ev.state == "preparing" and self.state in ("starting", "running"):
            self._set_state("preparing", reason=ev.reason or "", pid=run.pid)
        elif self.state in ("starting", "preparing") and _proves_running(ev, preparing=self.state == "preparing"):
            self._set_state("running", pid=run.pid)
        if isinstance(ev, ModelBuild):
            run.last_round = now  # a model build is progress: the round-stall watchdog leaves it alone
        if isinstance(ev, (RoundStarted, RoundFinished)):
            if ev.round != run.round or isinstance(ev, RoundFinished):
                run.last_round = now
            run.round = ev.round
            self.last_round = run.round
        elif isinstance(ev, Oom):
            run.saw_oom = str(ev.kind or "cuda")
        elif isinstance(ev, ErrorEvent):
            run.last_error = {"where": ev.where, "what": ev.what, "fix": ev.fix}
        elif isinstance(ev, NodeMode):
            run.mode = ev.mode
        # the child's own seq/ts/profile are replaced: one numbering per profile across restarts
        self.publish(ev)

    # -- status
    def status(self) -> SupervisorStatus:
        run = self.run
        now = time.time()
        ds = downshift.read_downshift(self.paths)
        return SupervisorStatus(
            profile=self.profile,
            state=self.state,
            reason=self.state_reason,
            since=self.state_since,
            supervisor_pid=os.getpid(),
            supervisor_uptime=round(now - self.started_at, 1),
            child_pid=run.pid if run else None,
            child_uptime=round(time.monotonic() - run.started, 1) if run else None,
            last_event_age=round(time.monotonic() - run.last_event, 1) if run else None,
            round=self.last_round,
            mode=run.mode if run else None,
            rss_mb=round(run.rss / 2**20, 1) if run else None,
            restarts=self.restarts,
            quick_failures=self.quick_failures,
            next_restart_in=round(max(0.0, self.next_restart_at - time.monotonic()), 2) if self.next_restart_at else None,
            last_exit=self.last_exit,
            downshift={"level": ds.get("level", 0), "overrides": ds.get("overrides", {})},
            subscribers=self.server.follower_count if self.server else 0,
            connections=self.server.connections if self.server else 0,
            node_cmd=list(self.node_cmd),
            log_dir=str(self.paths.log_dir),
            events_file=str(self.paths.events_file),
            settings=asdict(self.settings),
        )

    # -- child lifecycle
    async def _spawn(self) -> _Run:
        ds = downshift.read_downshift(self.paths)
        env = dict(os.environ)
        env.update({
            "PYTHONUNBUFFERED": "1",
            "SWARMDECK_SUPERVISED": "1",
            "SWARMDECK_PROFILE": self.profile,
            "SWARMDECK_DOWNSHIFT": json.dumps(ds.get("overrides") or {}, sort_keys=True),
            "PYTHONPATH": os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p),
        })
        proc = await asyncio.create_subprocess_exec(
            *self.node_cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=True,  # own session = own process group
            limit=1024 * 1024,
        )
        run = _Run(proc, time.monotonic())
        self.run = run
        with contextlib.suppress(OSError):  # lets a successor clean up if we are ever kill -9'd
            procs.write_record(self._node_pid_file, procs.record_for(proc.pid, pgid=proc.pid))
        self._stopped.clear()
        self._node_line(f"--- swarmdeck: node started (pid {proc.pid}, downshift {ds.get('overrides') or 'none'}) ---")
        self._set_state("starting", pid=proc.pid, downshift=ds.get("overrides") or {})
        return run

    async def _read_stdout(self, run: _Run) -> None:
        reader = run.proc.stdout
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # line over the limit: the reader drops it; go on
                self._node_line("[stdout] (dropped an oversized line)")
                continue
            if not line:
                return
            self._child_event(run, line)

    async def _read_stderr(self, run: _Run) -> None:
        reader = run.proc.stderr
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                continue
            if not line:
                return
            self._node_line(line.decode("utf-8", "replace").rstrip("\r\n"))

    def _signal_group(self, run: _Run, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, sig)
        # descendants that left the group (setsid) are still in our tree; never signal a remembered
        # pid that may since have been reused by an unrelated process
        for p in self._track_members(run):
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)

    def _track_members(self, run: _Run, full: bool = False) -> list[psutil.Process]:
        """The node's processes. We are a subreaper, so every descendant stays in our tree (orphans
        are reparented to us); `full` also scans the process table for the group (reaping time)."""
        members: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            members += psutil.Process().children(recursive=True)
        if full:
            members += group_members(run.pid)
        uniq = {p.pid: p for p in members}
        run.members |= set(uniq)
        return list(uniq.values())

    async def _terminate(self, run: _Run, reason: str, graceful: bool, kind: str | None = None) -> None:
        """End the child: SIGTERM (graceful) then SIGKILL the group after stop_timeout."""
        if run.kill_reason is None:
            run.kill_reason, run.kill_kind = reason, kind
        if run.proc.returncode is not None:
            return
        if self.state != "stopping":
            self._set_state("stopping", reason, pid=run.pid)
        if graceful:
            self.note(f"stopping node pid {run.pid} ({reason}): SIGTERM, up to {self.settings.stop_timeout:g} s")
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(_wait_exit(run), self.settings.stop_timeout)
                return
            except asyncio.TimeoutError:
                self.note(f"node pid {run.pid} ignored SIGTERM for {self.settings.stop_timeout:g} s: SIGKILL", logging.WARNING)
        run.sent_kill = True
        self._signal_group(run, signal.SIGKILL)

    async def _reap_group(self, run: _Run) -> int:
        """After the node exits, end whatever it left behind (DHT process, p2pd), then reap zombies."""
        left = [p for p in self._track_members(run, full=True) if p.pid != run.pid and alive(p)]
        if left:
            self.note(f"reaping {len(left)} leftover process(es) of node pid {run.pid}: "
                       + ", ".join(f"{p.pid}" for p in left))
            self._signal_group(run, signal.SIGTERM)
            deadline = time.monotonic() + self.settings.group_grace
            while time.monotonic() < deadline and any(alive(p) for p in left):
                await asyncio.sleep(0.05)
                self._reap_zombies(run)
            if any(alive(p) for p in left):
                self._signal_group(run, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(alive(p) for p in left):
                await asyncio.sleep(0.05)
                self._reap_zombies(run)
        self._reap_zombies(run)
        return len(left)

    @staticmethod
    def _reap_zombies(run: _Run) -> None:
        for pid in list(run.members):
            if pid == run.pid:
                continue  # asyncio's child watcher owns the node's exit status
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)

    async def _monitor(self, run: _Run) -> None:
        s = self.settings
        while run.proc.returncode is None:
            await asyncio.sleep(s.poll_interval)
            if run.proc.returncode is not None or run.kill_reason:
                return
            now = time.monotonic()
            members = self._track_members(run)
            rss = rss_of(members)
            if run.proc.returncode is not None or not pid_alive(run.pid):
                return  # died while we sampled: a zombie's RSS reads 0 and would hide a kernel OOM
            run.rss = rss
            run.peak_rss = max(run.peak_rss, rss)
            run.recent_rss.append(rss)
            if not run.healthy and now - run.started >= s.healthy_after:
                run.healthy = True
                if self.policy.healthy(now - run.started):
                    self.note(f"node healthy for {s.healthy_after:g} s: failure count reset")
            if s.rss_limit_mb and run.rss > s.rss_limit_mb * 2**20:
                msg = M("sup.reason.rss_limit", rss=f"{run.rss / 2**20:.0f}", limit=f"{s.rss_limit_mb:g}")
                asyncio.ensure_future(self._terminate(run, msg, graceful=False, kind="rss_limit"))
                return
            if s.vram_limit_mb:
                vram = vram_of({p.pid for p in members} | {run.pid})
                if vram is not None and vram > s.vram_limit_mb * 2**20:
                    msg = M("sup.reason.vram_limit", vram=f"{vram / 2**20:.0f}", limit=f"{s.vram_limit_mb:g}")
                    asyncio.ensure_future(self._terminate(run, msg, graceful=False, kind="vram_limit"))
                    return
            if s.stall_timeout and now - run.last_event > s.stall_timeout:
                asyncio.ensure_future(self._terminate(
                    run, M("sup.reason.stalled_events", seconds=f"{now - run.last_event:.0f}"), graceful=True))
                return
            if s.round_stall_timeout and now - run.last_round > s.round_stall_timeout:
                asyncio.ensure_future(self._terminate(
                    run, M("sup.reason.stalled_rounds", seconds=f"{now - run.last_round:.0f}", round=run.round), graceful=True))
                return

    def _classify(self, run: _Run) -> dict:
        rc = run.proc.returncode
        sig = -rc if rc is not None and rc < 0 else None
        info: dict[str, Any] = {"pid": run.pid, "exit_code": rc if rc is not None and rc >= 0 else None,
                                "signal": signal.Signals(sig).name if sig else None, "at": time.time(),
                                "uptime": round(time.monotonic() - run.started, 1),
                                "rss_mb": round(run.rss / 2**20, 1), "last_error": run.last_error, "oom": None}
        if run.kill_kind:
            info["oom"] = run.kill_kind
            info["reason"] = run.kill_reason
        elif run.kill_reason:
            info["reason"] = run.kill_reason
        elif rc == EXIT_OOM or run.saw_oom == "cuda":
            # the node's own oom event names the kind (cuda, or host "memory" for a MemoryError)
            info["oom"] = run.saw_oom or "cuda"
            info["reason"] = (M("sup.reason.cuda_oom", code=rc) if info["oom"] == "cuda"
                              else M("sup.reason.oom", kind=info["oom"], code=rc))
        elif sig == signal.SIGKILL and not run.sent_kill:
            before, after = run.oom_kills_before, oom_kill_count()
            ref = self.settings.rss_limit_mb * 2**20 or psutil.virtual_memory().total
            # the kernel kills at the top of a climb: judge by the highest of the last samples
            recent = max(run.recent_rss, default=run.rss)
            if (before is not None and after is not None and after > before) or \
                    recent >= self.settings.kernel_oom_fraction * ref:
                info["oom"] = "kernel"
                info["reason"] = M("sup.reason.kernel_oom", rss=f"{recent / 2**20:.0f}")
            else:
                info["reason"] = M("sup.reason.sigkill")
        elif sig:
            info["reason"] = M("sup.reason.signal", signal=info["signal"])
        elif rc == EXIT_CONFIG:
            info["reason"] = M("sup.reason.config_exit")
        else:
            info["reason"] = M("sup.reason.exit_code", code=rc)
        if run.last_error and not run.kill_reason and info["oom"] is None:
            info["reason"] = M("sup.reason.last_error", reason=info["reason"], error=str(run.last_error.get("what")))
        return info

    def _downshift(self, mode: str | None, kind: str, info: dict) -> None:
        try:
            new, desc = downshift.record_step(self.paths, mode, kind, info, profile_training(self.profile))
        except OSError as e:
            self.note(f"could not record the downshift in {self.paths.state_file}: {e}", logging.ERROR)
            new, desc = None, None
        if desc:
            self.note(f"OOM ({kind}): next start steps down: {desc}", logging.WARNING)
            self.publish(Oom(kind=kind, step_down=desc, level=new["level"], overrides=new["overrides"],
                             source="supervisor"))
        else:
            self.note(f"OOM ({kind}): no smaller setting left to step down to", logging.WARNING)
            self.publish(Oom(kind=kind, step_down=None, source="supervisor",
                             extra={"fix": "pick a smaller model for this profile (swarmdeck doctor recommends one)"}))
        info["step_down"] = desc

    async def _run_child_once(self) -> dict:
        run = await self._spawn()
        if not self._want.is_set() or self._exiting:  # a stop raced the spawn
            asyncio.ensure_future(self._terminate(run, M("sup.reason.stop"), graceful=True))
        readers = [asyncio.ensure_future(self._read_stdout(run)), asyncio.ensure_future(self._read_stderr(run))]
        mon = asyncio.ensure_future(self._monitor(run))
        await _wait_exit(run)
        mon.cancel()
        reaped = await self._reap_group(run)
        shm = remove_torch_shm(run.members | {run.pid})  # a killed node's /dev/shm segments (torch, hivemind)
        if shm:
            self.note(f"removed {len(shm)} shared-memory file(s) of node pid {run.pid} from /dev/shm")
        # grandchildren may have held the pipes; they are gone now, so the readers reach EOF
        done, pending = await asyncio.wait(readers, timeout=2.0)
        for t in pending:
            t.cancel()
        info = self._classify(run)
        info["reaped"] = reaped
        with contextlib.suppress(OSError):
            self._node_pid_file.unlink()
        info["mode"] = run.mode
        self.run = None
        self._stopped.set()
        return info

    async def _manage(self) -> None:
        while not self._exiting:
            if not self._want.is_set():
                self._stopped.set()
                await self._want.wait()
                continue
            try:
                info = await self._run_child_once()
            except OSError as e:  # the node command itself cannot start
                info = {"reason": M("sup.reason.cannot_start", cmd=self.node_cmd[0], error=str(e)), "exit_code": None, "signal": None,
                        "at": time.time(), "uptime": 0.0, "oom": None, "last_error": None}
                self.run = None
                self._stopped.set()
            self.last_exit = info
            self.note(f"node exited: {info['reason']} (exit {info.get('exit_code')}, signal {info.get('signal')}, "
                       f"up {info.get('uptime')} s, reaped {info.get('reaped', 0)})")
            if not self._want.is_set() or self._exiting:  # we were asked to stop
                self._set_state("stopped", info["reason"], exit=info)
                continue
            if info.get("oom"):
                self._downshift(info.get("mode"), info["oom"], info)
            if info.get("exit_code") == EXIT_CONFIG:
                self._want.clear()
                self._set_state("crashed", info["reason"], exit=info)
                continue
            delay = self.policy.exited(float(info.get("uptime", 0) or 0))
            if delay is None:
                self._want.clear()
                self._set_state("gave_up", M("sup.reason.gave_up", n=self.quick_failures, reason=info["reason"]),
                                exit=info, fix=f"see `swarmdeck logs -p {self.profile}`, then `swarmdeck start -p {self.profile}`")
                continue
            self.next_restart_at = time.monotonic() + delay
            self._set_state("crashed", info["reason"], exit=info, next_restart_in=round(delay, 2))
            self._kick.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._kick.wait(), delay)
            self.next_restart_at = None
            if self._want.is_set() and not self._exiting:
                self.restarts += 1

    @property
    def quick_failures(self) -> int:
        return self.policy.quick_failures

    @quick_failures.setter
    def quick_failures(self, n: int) -> None:
        self.policy.quick_failures = int(n)

    # -- commands (shared by the control socket and signals)
    async def cmd_start(self, reset_downshift: bool = False) -> dict:
        if reset_downshift:
            downshift.reset_downshift(self.paths)
            self.note("downshift reset by request")
        already = self._want.is_set()
        if self.state == "gave_up" or not already:
            self.quick_failures = 0
        self._want.set()
        self._kick.set()
        for _ in range(50):  # give the manager a moment to spawn, so the reply can name the child
            if self.run is not None or self.state not in ("stopped", "gave_up"):
                break
            await asyncio.sleep(0.02)
        return {"state": self.state, "child_pid": self.run.pid if self.run else None, "already": already}

    async def cmd_stop(self, now: bool = False) -> dict:
        self._want.clear()
        self._kick.set()
        while True:
            run = self.run
            if run is not None:
                if run.kill_reason is None or (now and not run.sent_kill):
                    run.kill_reason = None if now else run.kill_reason
                    await self._terminate(run, M("sup.reason.stop_now") if now else M("sup.reason.stop"), graceful=not now)
                await asyncio.sleep(0.02)
                continue
            if self._stopped.is_set():
                break
            await asyncio.sleep(0.02)
        if self.state not in ("stopped",):
            self._set_state("stopped", M("sup.reason.stop"))
        return {"state": "stopped", "exit": self.last_exit}

    async def cmd_restart(self, now: bool = False) -> dict:
        await self.cmd_stop(now=now)
        self.quick_failures = 0
        return await self.cmd_start()

    async def shutdown(self, now: bool = False) -> None:
        if self._exiting:
            return
        await self.cmd_stop(now=now)
        self._exiting = True
        self._want.set()  # wake the manager so it sees _exiting
        self._kick.set()
        self._exit_done.set()

    @property
    def _node_pid_file(self) -> Path:
        return Path(self.paths.run_dir) / "node.pid"

    def _reap_predecessor(self) -> None:
        """A supervisor killed with -9 leaves its node group behind (holding the identity lock and
        ports). Before starting a new node, end that group, but only processes that are provably
        this profile's (their environment says so), never a reused pid."""
        rec = procs.read_record(self._node_pid_file)
        if rec is None:
            return
        victims = []
        for p in group_members(rec.pgid):
            with contextlib.suppress(psutil.Error, OSError):
                env = p.environ()
                if env.get("SWARMDECK_SUPERVISED") == "1" and env.get("SWARMDECK_PROFILE") == self.profile:
                    victims.append(p)
        if victims:
            self.note(f"ending {len(victims)} process(es) left by a previous supervisor: "
                       + ", ".join(str(p.pid) for p in victims), logging.WARNING)
            for p in victims:
                with contextlib.suppress(psutil.Error):
                    p.terminate()
            _, left = psutil.wait_procs(victims, timeout=self.settings.stop_timeout)
            for p in left:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(left, timeout=5)
        with contextlib.suppress(OSError):
            self._node_pid_file.unlink()

    # -- main
    async def serve(self, autostart: bool = True) -> int:
        self._reap_predecessor()
        loop = asyncio.get_running_loop()
        self.server = ControlServer(self)
        await self.server.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        loop.add_signal_handler(signal.SIGHUP, lambda: self.note("SIGHUP ignored: the node keeps running"))
        self.note(f"supervisor pid {os.getpid()} for profile {self.profile}: socket {self.server.socket_path}, "
                  f"node: {shlex.join(self.node_cmd)}")
        if autostart:
            self._want.set()
        manager = asyncio.ensure_future(self._manage())
        alert_checks = self.alerts.start(lambda: self.state)
        await self._exit_done.wait()
        alert_checks.cancel()
        try:
            await asyncio.wait_for(manager, self.settings.stop_timeout + 10)
        except (asyncio.TimeoutError, Exception):
            manager.cancel()
        if self.run is not None:  # last resort: never leave a node behind
            self._signal_group(self.run, signal.SIGKILL)
        await self.server.close()
        await loop.run_in_executor(None, self.alerts.close)  # what is queued is still sent (10 s at most)
        self.note("supervisor exiting")
        self.bus.close()
        return 0


async def _wait_exit(run: _Run) -> int:
    """The node's exit status. Not proc.wait(): on 3.11 that also waits for the pipes to close,
    which never happens while a grandchild (DHT process, p2pd) still holds them."""
    while run.proc.returncode is None:
        await asyncio.sleep(0.1)
    return run.proc.returncode
