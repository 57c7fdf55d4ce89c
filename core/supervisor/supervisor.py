"""The supervisor: one background process per running profile that keeps its node alive.

Why a separate process: an SSH hang-up or closing the TUI must never stop training, so the
node runs under a supervisor in its own session (double-fork + setsid), which
  - runs the node (`python -m core.node --profile NAME`) as a child in its own process group
    and reaps the whole group (hivemind's DHT process and p2pd included) on stop/crash/restart;
  - reads the child's typed events (JSON lines on stdout), persists them to events.jsonl and
    serves them on the control socket (core.supervisor.control) with a bounded replay;
  - writes the child's stderr to a rotating node.log, and its own notes to supervisor.log;
  - restarts a crashed or stalled child with exponential backoff + jitter, gives up after N
    quick failures (state gave_up), and steps the model down after an OOM (recorded in the
    profile's state file under "downshift" and passed to the next child in SWARMDECK_DOWNSHIFT);
  - enforces a per-profile RSS (and, with a GPU, VRAM) limit before the kernel's OOM killer acts.

Child contract: events on stdout, logs on stderr, SIGTERM = graceful stop (exit 0 within the
stop timeout), exit 42 = CUDA/torch OOM (after an `oom` event), exit 78 (EX_CONFIG) = a user
error that a restart cannot fix (the supervisor stops retrying and shows the last error event).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import fcntl
import json
import logging
import logging.handlers
import os
import random
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import psutil

from core.base import safejson
from core.supervisor import control
from core.base.errors import DaemonError
from core.events.log import EventBus, Event
from core.base.fsutil import atomic_write_json
from core.base.paths import ProfilePaths, ensure_private_dir

EXIT_OOM = 42
EXIT_CONFIG = 78
PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUANT_ORDER = ("fp32", "bf16", "8bit", "4bit")
MIN_GENERATIONS = 2
MIN_NEW_TOKENS = 128


@dataclass
class DaemonSettings:
    """Per-profile supervisor settings ([profiles.NAME.daemon] in config.toml). Seconds unless noted."""

    stop_timeout: float = 30.0          # SIGTERM → wait this long → SIGKILL the group
    group_grace: float = 3.0            # after the node exits, leftovers get SIGTERM then this long
    backoff_base: float = 2.0           # first restart delay; doubles per quick failure
    backoff_max: float = 300.0
    backoff_jitter: float = 0.25        # ± fraction of the delay, so a fleet does not restart in lockstep
    healthy_after: float = 300.0        # a child up this long resets the failure count/backoff
    max_quick_failures: int = 6         # consecutive failures before gave_up
    stall_timeout: float = 900.0        # no event at all for this long → restart (0 = off)
    round_stall_timeout: float = 3600.0  # no round.started/finished for this long → restart (0 = off)
    poll_interval: float = 1.0          # health + RSS sampling period
    rss_limit_mb: float = 0.0           # whole process group; 0 = off
    vram_limit_mb: float = 0.0          # whole process group, via NVML; 0 = off
    kernel_oom_fraction: float = 0.8    # SIGKILL we did not send + RSS ≥ this × limit → "kernel" OOM
    replay: int = control.REPLAY_MAX    # events kept in memory for subscribe replay
    subscriber_queue: int = 10000       # per-subscriber backlog before a slow one is dropped
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 5
    events_max_bytes: int = 20 * 1024 * 1024  # events.jsonl is compacted past this (core.events); 0 = never
    max_connections: int = 64

    @classmethod
    def from_mapping(cls, data: dict | None) -> "DaemonSettings":
        s = cls()
        if not data:
            return s
        known = {f.name: f for f in fields(cls)}
        for k, v in dict(data).items():
            if k not in known:
                raise DaemonError(f"unknown daemon setting {k!r}", where="[profiles.<name>.daemon]",
                                  fix=f"use one of: {', '.join(known)}")
            typ = int if known[k].type in ("int", int) else float
            try:
                setattr(s, k, typ(v))
            except (TypeError, ValueError):
                raise DaemonError(f"daemon setting {k!r} must be a number, got {v!r}",
                                  where="[profiles.<name>.daemon]") from None
        return s


# config.toml's [profiles.NAME.daemon] keys (core.config.settings.DaemonSettings) → ours
_CONFIG_KEYS = {"restart_backoff_initial": ("backoff_base", 1), "restart_backoff_max": ("backoff_max", 1),
                "log_max_mb": ("log_max_bytes", 2**20), "event_replay": ("replay", 1),
                "events_max_mb": ("events_max_bytes", 2**20)}


def load_settings(profile: str) -> DaemonSettings:
    """Profile's [daemon] table (via core.identity.profiles), then SWARMDECK_DAEMON_SETTINGS (JSON, our field names)."""
    merged: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        from core.identity.profiles import load_profile

        d = getattr(load_profile(profile).settings, "daemon", None)
        if d is not None:
            d = d if isinstance(d, dict) else asdict(d) if hasattr(d, "__dataclass_fields__") else vars(d)
            for k, v in d.items():
                name, scale = _CONFIG_KEYS.get(k, (k, 1))
                merged[name] = v * scale if scale != 1 else v
    env = os.environ.get("SWARMDECK_DAEMON_SETTINGS")
    if env:
        try:
            merged.update(json.loads(env))
        except ValueError:
            raise DaemonError("SWARMDECK_DAEMON_SETTINGS is not JSON", where="environment") from None
    known = {f.name for f in fields(DaemonSettings)}
    s = DaemonSettings.from_mapping({k: v for k, v in merged.items() if k in known})
    s.replay = max(0, min(int(s.replay), control.REPLAY_MAX))
    return s


def node_command(profile: str) -> list[str]:
    """argv of the node child; SWARMDECK_NODE_CMD (shell words, {profile} substituted) overrides it."""
    env = os.environ.get("SWARMDECK_NODE_CMD")
    if env:
        return [w.replace("{profile}", profile) for w in shlex.split(env)]
    return [sys.executable, "-m", "core.node", "--profile", profile]


def _profile_training(profile: str) -> tuple[str | None, int | None, int | None]:
    """(quant, generations, max_new_tokens) from the profile, when the foundation can tell."""
    with contextlib.suppress(Exception):
        from core.identity.profiles import load_profile

        st = load_profile(profile).settings
        tr = getattr(st, "training", None)
        get = (lambda o, k: o.get(k) if isinstance(o, dict) else getattr(o, k, None))
        return (getattr(st, "quant", None), get(tr, "generations") if tr is not None else None,
                get(tr, "max_new_tokens") if tr is not None else None)
    return None, None, None


# --------------------------------------------------------------------------- state file

def _state_update(paths: ProfilePaths, key: str, fn) -> Any:
    """Read-modify-write one key of the profile's state file, leaving every other key alone."""
    path = Path(paths.state_file)
    ensure_private_dir(path.parent)
    with open(path.with_name(".state.lock"), "a") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
            if not isinstance(data, dict):
                data = {}
        except ValueError:
            data = {}
        new = fn(data.get(key))
        data[key] = new
        atomic_write_json(path, data)
        return new


def read_downshift(paths: ProfilePaths) -> dict:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        d = json.loads(Path(paths.state_file).read_text()).get("downshift")
        if isinstance(d, dict):
            return d
    return {"level": 0, "overrides": {}, "history": []}


def next_downshift(overrides: dict, observed_mode: str | None, profile_quant: str | None,
                   generations: int | None, max_new_tokens: int | None) -> tuple[dict, str] | None:
    """One step down the ladder: quant 8bit → 4bit, then fewer generations, then shorter completions."""
    ov = dict(overrides)
    mode = ov.get("quant") or observed_mode or (profile_quant if profile_quant in QUANT_ORDER else None)
    if mode in ("fp32", "bf16"):
        ov["quant"] = "8bit"
        return ov, f"quant {mode} -> 8bit"
    if mode != "4bit":  # 8bit, or unknown (auto and the node never said): 4-bit saves the most
        ov["quant"] = "4bit"
        return ov, f"quant {mode or 'auto'} -> 4bit"
    g = int(ov.get("generations") or generations or 8)
    if g > MIN_GENERATIONS:
        ov["generations"] = max(MIN_GENERATIONS, g // 2)
        return ov, f"generations {g} -> {ov['generations']}"
    t = int(ov.get("max_new_tokens") or max_new_tokens or 512)
    if t > MIN_NEW_TOKENS:
        ov["max_new_tokens"] = max(MIN_NEW_TOKENS, t // 2)
        return ov, f"max_new_tokens {t} -> {ov['max_new_tokens']}"
    return None


# --------------------------------------------------------------------------- process helpers

def _set_subreaper() -> None:
    """Orphaned grandchildren (DHT process, p2pd) get reparented to us, not init, so we can find them."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pgid:
                out.append(p)
    return out


def _rss_of(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def _oom_kill_count() -> int | None:
    """Kernel OOM kills seen by our cgroup (v2 memory.events or v1 memory.oom_control)."""
    with contextlib.suppress(OSError, ValueError):
        for line in open("/proc/self/cgroup"):
            hier, ctrl, rel = line.rstrip("\n").split(":", 2)
            if hier == "0" or "memory" in ctrl.split(","):
                for fname in ("memory.events", "memory.oom_control"):
                    base = Path("/sys/fs/cgroup") / ("" if hier == "0" else "memory")
                    for p in (base / rel.lstrip("/") / fname, base / fname):
                        if p.exists():
                            for ln in p.read_text().splitlines():
                                if ln.startswith("oom_kill "):
                                    return int(ln.split()[1])
    return None


def _vram_of(pids: set[int]) -> int | None:
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    total = 0
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            for pr in pynvml.nvmlDeviceGetComputeRunningProcesses(h):
                if pr.pid in pids and pr.usedGpuMemory:
                    total += pr.usedGpuMemory
    except Exception:
        return None
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return total


def tail_file(path: Path, n: int) -> list[str]:
    """Last n lines of a log file, reaching into the previous rotation when needed."""
    lines: list[str] = []
    for p in (Path(path), Path(f"{path}.1")):
        if len(lines) >= n or not p.exists():
            break
        need = n - len(lines)
        with open(p, "rb") as f:
            f.seek(0, os.SEEK_END)
            end = f.tell()
            block, data = 65536, b""
            while end > 0 and data.count(b"\n") <= need:
                step = min(block, end)
                end -= step
                f.seek(end)
                data = f.read(step) + data
        got = data.decode("utf-8", "replace").splitlines()[-need:] if need else []
        lines = got + lines
    return lines[-n:] if n else []


def _load_history(path: Path, keep: int) -> tuple[collections.deque, int]:
    """Recent events from events.jsonl (read from the end, so a year of history stays cheap)."""
    ring: collections.deque = collections.deque(maxlen=keep)
    last_seq = 0
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max(1, keep) * 4096))
            data = f.read()
    except OSError:
        size, data = 0, b""
    lines = data.splitlines()
    if size > len(data) and lines:
        lines = lines[1:]  # first line may be cut
    for ln in lines:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            d = json.loads(ln)
            if isinstance(d, dict) and "type" in d:
                ring.append(d)
                last_seq = max(last_seq, int(d.get("seq", 0)))
    if not last_seq and path.with_name(path.name + ".1").exists():
        # events.jsonl lost or emptied by hand: seq goes on from the compaction backup, never back to 1
        last_seq = _load_history(path.with_name(path.name + ".1"), min(keep, 16))[1]
    return ring, last_seq


# --------------------------------------------------------------------------- supervisor

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
        self.oom_kills_before = _oom_kill_count()
        self.healthy = False
        self.members: set[int] = {proc.pid}


class Supervisor:
    def __init__(self, profile: str, settings: DaemonSettings | None = None,
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
        self.quick_failures = 0
        self.last_exit: dict | None = None
        self.next_restart_at: float | None = None
        self.started_at = time.time()
        self._want = asyncio.Event()
        self._kick = asyncio.Event()       # wakes the manager out of a backoff sleep
        self._stopped = asyncio.Event()    # set whenever no child runs
        self._exiting = False
        self._exit_done = asyncio.Event()
        self._subs: set[_Subscriber] = set()
        self._log_subs: dict[str, set[_Subscriber]] = {s: set() for s in control.SOURCES}
        self._conns = 0
        ensure_private_dir(self.paths.root)
        self.ring, self._seq = _load_history(self.paths.events_file, self.settings.replay)
        self.last_round = None
        self._setup_logs()
        self.bus = EventBus(profile, persist_to=self.paths.events_file,
                            max_bytes=self.settings.events_max_bytes, on_compact=self._compacted)
        self.bus.subscribe(self._fanout)

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
        self._log_paths = {"node": self.paths.log_dir / "node.log", "supervisor": self.paths.log_dir / "supervisor.log"}

    def _note(self, msg: str, level: int = logging.INFO) -> None:
        self.log.log(level, msg)
        self._log_line("supervisor", f"{time.strftime('%Y-%m-%d %H:%M:%S')} {logging.getLevelName(level)} {msg}")

    def _node_line(self, line: str) -> None:
        self.nodelog.info(line)
        if self.echo:
            print(line, file=sys.stderr)
        self._log_line("node", line)

    def _log_line(self, source: str, line: str) -> None:
        for sub in list(self._log_subs[source]):
            sub.offer({"v": 1, "id": sub.req_id, "line": line, "source": source})

    # -- events
    def _compacted(self, info: dict) -> None:
        if info.get("error"):
            self._note(f"could not compact {self.paths.events_file}: {info['error']}", logging.WARNING)
        else:
            self._note(f"compacted {self.paths.events_file}: {info['before']} -> {info['after']} bytes "
                       f"({info['dropped']} older events dropped; the full file is {self.paths.events_file}.1)")

    def _fanout(self, ev: Event) -> None:
        d = ev.to_dict()
        self.ring.append(d)
        for sub in list(self._subs):
            if sub.types is None or d["type"] in sub.types:
                sub.offer({"v": 1, "id": sub.req_id, "event": d})

    def emit(self, type: str, **data: Any) -> None:
        self._seq += 1
        self.bus.publish(Event(type=type, data=data, profile=self.profile, seq=self._seq))

    def _set_state(self, state: str, reason: str = "", **extra: Any) -> None:
        self.state, self.state_reason, self.state_since = state, reason, time.time()
        self.emit("node.state", state=state, reason=reason, source="supervisor", restarts=self.restarts, **extra)
        self._note(f"state {state}" + (f": {reason}" if reason else ""))

    def _child_event(self, run: _Run, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not text.strip():
            return
        try:
            d = safejson.loads(text)
            if not isinstance(d, dict) or "type" not in d:
                raise ValueError
            ev = Event.from_dict(d)
        except (ValueError, TypeError, KeyError):
            self._node_line(f"[stdout] {text[:4000]}")  # not an event: keep it, as a log line
            return
        now = time.monotonic()
        run.last_event = now
        if self.state == "starting":
            self._set_state("running", pid=run.pid)
        if ev.type in ("round.started", "round.finished"):
            if ev.get("round") != run.round or ev.type == "round.finished":
                run.last_round = now
            run.round = ev.get("round")
            self.last_round = run.round
        elif ev.type == "oom":
            run.saw_oom = str(ev.get("kind") or "cuda")
        elif ev.type == "error":
            run.last_error = {"where": ev.get("where"), "what": ev.get("what"), "fix": ev.get("fix")}
        elif ev.type == "node.mode":
            run.mode = ev.get("mode")
        self._seq += 1
        ev.seq, ev.profile = self._seq, self.profile
        self.bus.publish(ev)

    # -- status
    def status_dict(self) -> dict:
        run = self.run
        now = time.time()
        ds = read_downshift(self.paths)
        return {
            "profile": self.profile,
            "state": self.state,
            "reason": self.state_reason,
            "since": self.state_since,
            "supervisor_pid": os.getpid(),
            "supervisor_uptime": round(now - self.started_at, 1),
            "child_pid": run.pid if run else None,
            "child_uptime": round(time.monotonic() - run.started, 1) if run else None,
            "last_event_age": round(time.monotonic() - run.last_event, 1) if run else None,
            "round": self.last_round,
            "mode": run.mode if run else None,
            "rss_mb": round(run.rss / 2**20, 1) if run else None,
            "restarts": self.restarts,
            "quick_failures": self.quick_failures,
            "next_restart_in": round(max(0.0, self.next_restart_at - time.monotonic()), 2) if self.next_restart_at else None,
            "last_exit": self.last_exit,
            "downshift": {"level": ds.get("level", 0), "overrides": ds.get("overrides", {})},
            "subscribers": len(self._subs),
            "connections": self._conns,
            "node_cmd": self.node_cmd,
            "log_dir": str(self.paths.log_dir),
            "events_file": str(self.paths.events_file),
            "settings": asdict(self.settings),
        }

    # -- child lifecycle
    async def _spawn(self) -> _Run:
        ds = read_downshift(self.paths)
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
            atomic_write_json(self._node_pid_file, {"pid": proc.pid, "pgid": proc.pid, "started": time.time()})
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
        procs: list[psutil.Process] = []
        with contextlib.suppress(psutil.Error):
            procs += psutil.Process().children(recursive=True)
        if full:
            procs += _group_members(run.pid)
        uniq = {p.pid: p for p in procs}
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
            self._note(f"stopping node pid {run.pid} ({reason}): SIGTERM, up to {self.settings.stop_timeout:g} s")
            with contextlib.suppress(ProcessLookupError):
                os.kill(run.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(_wait_exit(run), self.settings.stop_timeout)
                return
            except asyncio.TimeoutError:
                self._note(f"node pid {run.pid} ignored SIGTERM for {self.settings.stop_timeout:g} s: SIGKILL", logging.WARNING)
        run.sent_kill = True
        self._signal_group(run, signal.SIGKILL)

    async def _reap_group(self, run: _Run) -> int:
        """After the node exits, end whatever it left behind (DHT process, p2pd), then reap zombies."""
        left = [p for p in self._track_members(run, full=True) if p.pid != run.pid and _alive(p)]
        if left:
            self._note(f"reaping {len(left)} leftover process(es) of node pid {run.pid}: "
                       + ", ".join(f"{p.pid}" for p in left))
            self._signal_group(run, signal.SIGTERM)
            deadline = time.monotonic() + self.settings.group_grace
            while time.monotonic() < deadline and any(_alive(p) for p in left):
                await asyncio.sleep(0.05)
                self._reap_zombies(run)
            if any(_alive(p) for p in left):
                self._signal_group(run, signal.SIGKILL)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and any(_alive(p) for p in left):
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
            procs = self._track_members(run)
            rss = _rss_of(procs)
            if run.proc.returncode is not None or not _pid_alive(run.pid):
                return  # died while we sampled: a zombie's RSS reads 0 and would hide a kernel OOM
            run.rss = rss
            run.peak_rss = max(run.peak_rss, rss)
            run.recent_rss.append(rss)
            if not run.healthy and now - run.started >= s.healthy_after:
                run.healthy = True
                if self.quick_failures:
                    self._note(f"node healthy for {s.healthy_after:g} s: failure count reset")
                self.quick_failures = 0
            if s.rss_limit_mb and run.rss > s.rss_limit_mb * 2**20:
                msg = f"RSS {run.rss / 2**20:.0f} MiB over the profile's limit {s.rss_limit_mb:g} MiB"
                asyncio.ensure_future(self._terminate(run, msg, graceful=False, kind="rss_limit"))
                return
            if s.vram_limit_mb:
                vram = _vram_of({p.pid for p in procs} | {run.pid})
                if vram is not None and vram > s.vram_limit_mb * 2**20:
                    msg = f"VRAM {vram / 2**20:.0f} MiB over the profile's limit {s.vram_limit_mb:g} MiB"
                    asyncio.ensure_future(self._terminate(run, msg, graceful=False, kind="vram_limit"))
                    return
            if s.stall_timeout and now - run.last_event > s.stall_timeout:
                asyncio.ensure_future(self._terminate(
                    run, f"stalled: no event for {now - run.last_event:.0f} s", graceful=True))
                return
            if s.round_stall_timeout and now - run.last_round > s.round_stall_timeout:
                asyncio.ensure_future(self._terminate(
                    run, f"stalled: no round progress for {now - run.last_round:.0f} s (round {run.round})", graceful=True))
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
            info["reason"] = ("CUDA out of memory" if info["oom"] == "cuda" else f"out of memory ({info['oom']})") \
                + f" (exit {rc})"
        elif sig == signal.SIGKILL and not run.sent_kill:
            before, after = run.oom_kills_before, _oom_kill_count()
            ref = self.settings.rss_limit_mb * 2**20 or psutil.virtual_memory().total
            # the kernel kills at the top of a climb: judge by the highest of the last samples
            recent = max(run.recent_rss, default=run.rss)
            if (before is not None and after is not None and after > before) or \
                    recent >= self.settings.kernel_oom_fraction * ref:
                info["oom"] = "kernel"
                info["reason"] = f"killed by the kernel's OOM killer (SIGKILL at RSS {recent / 2**20:.0f} MiB)"
            else:
                info["reason"] = "killed by SIGKILL (not sent by swarmdeck)"
        elif sig:
            info["reason"] = f"killed by {info['signal']}"
        elif rc == EXIT_CONFIG:
            info["reason"] = "node stopped on an error a restart cannot fix"
        else:
            info["reason"] = f"exited with code {rc}"
        if run.last_error and not run.kill_reason and info["oom"] is None:
            info["reason"] += f"; last error: {run.last_error.get('what')}"
        return info

    def _downshift(self, mode: str | None, kind: str, info: dict) -> None:
        quant, gens, toks = _profile_training(self.profile)
        step: dict[str, Any] = {}

        def apply(cur: dict | None) -> dict:
            cur = cur if isinstance(cur, dict) else {"level": 0, "overrides": {}, "history": []}
            nxt = next_downshift(cur.get("overrides") or {}, mode, quant, gens, toks)
            if nxt is None:
                step["desc"] = None
                return cur
            ov, desc = nxt
            step["desc"] = desc
            hist = list(cur.get("history") or [])[-49:]
            hist.append({"at": time.time(), "kind": kind, "step": desc, "from": cur.get("overrides") or {},
                         "to": ov, "exit_code": info.get("exit_code"), "signal": info.get("signal")})
            return {"level": int(cur.get("level", 0)) + 1, "overrides": ov, "history": hist}

        try:
            new = _state_update(self.paths, "downshift", apply)
        except OSError as e:
            self._note(f"could not record the downshift in {self.paths.state_file}: {e}", logging.ERROR)
            new, step["desc"] = None, None
        if step.get("desc"):
            self._note(f"OOM ({kind}): next start steps down: {step['desc']}", logging.WARNING)
            self.emit("oom", kind=kind, step_down=step["desc"], level=new["level"], overrides=new["overrides"],
                      source="supervisor")
        else:
            self._note(f"OOM ({kind}): no smaller setting left to step down to", logging.WARNING)
            self.emit("oom", kind=kind, step_down=None, source="supervisor",
                      fix="pick a smaller model for this profile (swarmdeck doctor recommends one)")
        info["step_down"] = step.get("desc")

    async def _run_child_once(self) -> dict:
        run = await self._spawn()
        if not self._want.is_set() or self._exiting:  # a stop raced the spawn
            asyncio.ensure_future(self._terminate(run, "stop requested", graceful=True))
        readers = [asyncio.ensure_future(self._read_stdout(run)), asyncio.ensure_future(self._read_stderr(run))]
        mon = asyncio.ensure_future(self._monitor(run))
        await _wait_exit(run)
        mon.cancel()
        reaped = await self._reap_group(run)
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
        s = self.settings
        while not self._exiting:
            if not self._want.is_set():
                self._stopped.set()
                await self._want.wait()
                continue
            try:
                info = await self._run_child_once()
            except OSError as e:  # the node command itself cannot start
                info = {"reason": f"cannot start {self.node_cmd[0]}: {e}", "exit_code": None, "signal": None,
                        "at": time.time(), "uptime": 0.0, "oom": None, "last_error": None}
                self.run = None
                self._stopped.set()
            self.last_exit = info
            self._note(f"node exited: {info['reason']} (exit {info.get('exit_code')}, signal {info.get('signal')}, "
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
            if info.get("uptime", 0) < s.healthy_after:
                self.quick_failures += 1
            else:
                self.quick_failures = 1
            if self.quick_failures >= s.max_quick_failures:
                self._want.clear()
                self._set_state("gave_up", f"{self.quick_failures} failures in a row; last: {info['reason']}",
                                exit=info, fix=f"see `swarmdeck logs -p {self.profile}`, then `swarmdeck start -p {self.profile}`")
                continue
            delay = min(s.backoff_max, s.backoff_base * 2 ** (self.quick_failures - 1))
            delay *= 1 + random.uniform(-s.backoff_jitter, s.backoff_jitter)
            self.next_restart_at = time.monotonic() + delay
            self._set_state("crashed", info["reason"], exit=info, next_restart_in=round(delay, 2))
            self._kick.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._kick.wait(), delay)
            self.next_restart_at = None
            if self._want.is_set() and not self._exiting:
                self.restarts += 1

    # -- commands (shared by the control socket and signals)
    async def cmd_start(self, reset_downshift: bool = False) -> dict:
        if reset_downshift:
            _state_update(self.paths, "downshift", lambda cur: {"level": 0, "overrides": {}, "history":
                                                                 (cur or {}).get("history", []) if isinstance(cur, dict) else []})
            self._note("downshift reset by request")
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
                    await self._terminate(run, "stop requested" + (" (now)" if now else ""), graceful=not now)
                await asyncio.sleep(0.02)
                continue
            if self._stopped.is_set():
                break
            await asyncio.sleep(0.02)
        if self.state not in ("stopped",):
            self._set_state("stopped", "stop requested")
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

    # -- control socket
    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._conns >= self.settings.max_connections:
            writer.write(control.encode(control.reply_error(None, "busy", "too many control connections")))
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        self._conns += 1
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(control.encode(control.reply_error(
                        None, "too_large", f"request longer than {control.MAX_LINE} bytes; closing")))
                    await writer.drain()
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    req = control.parse_request(line)
                except control.ProtocolError as e:
                    writer.write(control.encode(control.reply_error(e.req_id, e.code, e.message)))
                    await writer.drain()
                    continue
                stream = await self._dispatch(req, writer)
                if stream:
                    return  # a streaming request owns the connection until it ends
        except (ConnectionError, OSError):
            return
        finally:
            self._conns -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(self, req: dict, writer: asyncio.StreamWriter) -> bool:
        rid, cmd = req["id"], req["cmd"]

        async def send(obj: dict) -> None:
            writer.write(control.encode(obj))
            await writer.drain()

        try:
            if cmd == "ping":
                await send(control.reply_ok(rid, {"pong": True, "pid": os.getpid(), "profile": self.profile}))
            elif cmd == "status":
                await send(control.reply_ok(rid, self.status_dict()))
            elif cmd == "start":
                await send(control.reply_ok(rid, await self.cmd_start(bool(req.get("reset_downshift")))))
            elif cmd == "restart":
                await send(control.reply_ok(rid, await self.cmd_restart(bool(req.get("now")))))
            elif cmd == "stop":
                exit_after = req.get("exit", True)
                res = await self.cmd_stop(bool(req.get("now")))
                res["exiting"] = bool(exit_after)
                with contextlib.suppress(ConnectionError, OSError):
                    await send(control.reply_ok(rid, res))
                if exit_after:
                    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.shutdown()))
            elif cmd == "subscribe":
                await self._stream_events(req, writer)
                return True
            elif cmd == "logs":
                return await self._stream_logs(req, writer)
        except (ConnectionError, OSError):
            raise
        except Exception as e:  # a bug in a handler must not take the supervisor down
            self._note(f"control {cmd} failed: {type(e).__name__}: {e}", logging.ERROR)
            with contextlib.suppress(Exception):
                await send(control.reply_error(rid, "internal", f"{type(e).__name__}: {e}"))
        return False

    async def _pump(self, sub: "_Subscriber", writer: asyncio.StreamWriter) -> None:
        async def drain() -> bool:
            # A reader that stopped reading must not pin us: once it has been cut off it gets
            # a few seconds to take its backlog and the end marker, then the connection is dropped.
            while True:
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                    return True
                except asyncio.TimeoutError:
                    if sub.closed_at is not None and time.monotonic() - sub.closed_at > 5.0:
                        writer.transport.abort()
                        return False

        try:
            while True:
                item = await sub.queue.get()
                if item is None:
                    reason = sub.end_reason or "supervisor ended the stream"
                    writer.write(control.encode({"v": 1, "id": sub.req_id, "end": True, "reason": reason}))
                    await drain()
                    return
                writer.write(item)
                if not await drain():
                    return
        except (ConnectionError, OSError):
            return

    async def _stream_events(self, req: dict, writer: asyncio.StreamWriter) -> None:
        types = set(req["types"]) if req.get("types") is not None else None
        since = req.get("since_seq")
        hist = [d for d in self.ring if (types is None or d["type"] in types) and (since is None or d.get("seq", 0) > since)]
        hist = hist[-req["replay"]:] if req["replay"] else []
        sub = _Subscriber(req["id"], types, max(self.settings.subscriber_queue, len(hist) + 1))
        with contextlib.suppress(Exception):  # back-pressure shows up in our queue soon, not after MiBs
            writer.transport.set_write_buffer_limits(high=16 * 1024)
        writer.write(control.encode(control.reply_ok(req["id"], {"replayed": len(hist), "last_seq": self._seq})))
        for d in hist:
            sub.offer({"v": 1, "id": req["id"], "event": d})
        self._subs.add(sub)
        sub.on_close = lambda: self._subs.discard(sub)
        try:
            await self._pump_until_closed(sub, writer)
        finally:
            self._subs.discard(sub)

    async def _stream_logs(self, req: dict, writer: asyncio.StreamWriter) -> bool:
        src = req["source"]
        lines = await asyncio.get_running_loop().run_in_executor(None, tail_file, self._log_paths[src], req["n"])
        writer.write(control.encode(control.reply_ok(req["id"], {"lines": lines, "source": src})))
        await writer.drain()
        if not req.get("follow"):
            return False
        sub = _Subscriber(req["id"], None, self.settings.subscriber_queue)
        with contextlib.suppress(Exception):
            writer.transport.set_write_buffer_limits(high=16 * 1024)
        self._log_subs[src].add(sub)
        sub.on_close = lambda: self._log_subs[src].discard(sub)
        try:
            await self._pump_until_closed(sub, writer)
        finally:
            self._log_subs[src].discard(sub)
        return True

    async def _pump_until_closed(self, sub: "_Subscriber", writer: asyncio.StreamWriter) -> None:
        self._all_subs.add(sub)
        try:
            await self._pump(sub, writer)
        finally:
            self._all_subs.discard(sub)

    @property
    def _node_pid_file(self) -> Path:
        return Path(self.paths.run_dir) / "node.pid"

    def _reap_predecessor(self) -> None:
        """A supervisor killed with -9 leaves its node group behind (holding the identity lock and
        ports). Before starting a new node, end that group, but only processes that are provably
        this profile's (their environment says so), never a reused pid."""
        try:
            pgid = int(json.loads(self._node_pid_file.read_text())["pgid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        victims = []
        for p in _group_members(pgid):
            with contextlib.suppress(psutil.Error, OSError):
                env = p.environ()
                if env.get("SWARMDECK_SUPERVISED") == "1" and env.get("SWARMDECK_PROFILE") == self.profile:
                    victims.append(p)
        if victims:
            self._note(f"ending {len(victims)} process(es) left by a previous supervisor: "
                       + ", ".join(str(p.pid) for p in victims), logging.WARNING)
            for p in victims:
                with contextlib.suppress(psutil.Error):
                    p.terminate()
            _, alive = psutil.wait_procs(victims, timeout=self.settings.stop_timeout)
            for p in alive:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(alive, timeout=5)
        with contextlib.suppress(OSError):
            self._node_pid_file.unlink()

    # -- main
    async def serve(self, autostart: bool = True) -> int:
        self._reap_predecessor()
        self._all_subs: set[_Subscriber] = set()
        loop = asyncio.get_running_loop()
        sock = Path(self.paths.control_socket)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()  # stale: we hold the lock, so nobody else serves it
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            server = await asyncio.start_unix_server(self._serve_conn, path=str(sock), limit=control.MAX_LINE + 1)
        finally:
            os.umask(old)
        os.chmod(sock, 0o600)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: asyncio.ensure_future(self.shutdown()))
        loop.add_signal_handler(signal.SIGHUP, lambda: self._note("SIGHUP ignored: the node keeps running"))
        self._note(f"supervisor pid {os.getpid()} for profile {self.profile}: socket {sock}, node: {shlex.join(self.node_cmd)}")
        if autostart:
            self._want.set()
        manager = asyncio.ensure_future(self._manage())
        await self._exit_done.wait()
        try:
            await asyncio.wait_for(manager, self.settings.stop_timeout + 10)
        except (asyncio.TimeoutError, Exception):
            manager.cancel()
        if self.run is not None:  # last resort: never leave a node behind
            self._signal_group(self.run, signal.SIGKILL)
        for sub in list(self._all_subs):
            sub.close("supervisor exiting")
        await asyncio.sleep(0.1)
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        self._note("supervisor exiting")
        self.bus.close()
        return 0


class _Subscriber:
    """A bounded outbox per client: a slow reader is cut off instead of slowing the supervisor."""

    def __init__(self, req_id: Any, types: set | None, maxsize: int):
        self.req_id = req_id
        self.types = types
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        self.end_reason: str | None = None
        self.closed = False
        self.closed_at: float | None = None
        self.on_close = lambda: None

    def offer(self, obj: dict) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(control.encode(obj))
        except asyncio.QueueFull:
            self.close(f"client too slow: more than {self.queue.maxsize} items behind")

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_at = time.monotonic()
        self.end_reason = reason
        self.on_close()  # stop offering it events right away
        while True:  # make room for the end marker
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


async def _wait_exit(run: _Run) -> int:
    """The node's exit status. Not proc.wait(): on 3.11 that also waits for the pipes to close,
    which never happens while a grandchild (DHT process, p2pd) still holds them."""
    while run.proc.returncode is None:
        await asyncio.sleep(0.1)
    return run.proc.returncode


def _pid_alive(pid: int) -> bool:
    try:
        return _alive(psutil.Process(pid))
    except psutil.Error:
        return False


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# --------------------------------------------------------------------------- lifecycle

class SupervisorLock:
    """flock on run_dir/supervisor.lock: exactly one supervisor per profile, released by the kernel on death."""

    def __init__(self, paths: ProfilePaths):
        self.paths = paths
        self.path = Path(paths.run_dir) / "supervisor.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        ensure_private_dir(Path(self.paths.run_dir).parent)
        ensure_private_dir(Path(self.paths.run_dir))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        atomic_write_json(Path(self.paths.pid_file), {"pid": os.getpid(), "started": time.time(),
                                                      "profile": self.paths.name})
        return True

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.pid_file)
            os.close(self.fd)
            self.fd = None


def supervisor_pid(paths: ProfilePaths) -> int | None:
    """pid of the live supervisor holding the profile's lock, else None (stale pid files are ignored)."""
    lock = Path(paths.run_dir) / "supervisor.lock"
    if not lock.exists():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it
        except BlockingIOError:
            pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError, ValueError):
        return int(json.loads(Path(paths.pid_file).read_text())["pid"])
    return None


def run_foreground(profile: str, settings: DaemonSettings | None = None, node_cmd: list[str] | None = None,
                   echo: bool = True, autostart: bool = True) -> int:
    """Run the supervisor in this process until stopped (systemd, tmux, `start --foreground`)."""
    paths = ProfilePaths(profile)
    lock = SupervisorLock(paths)
    if not lock.acquire():
        pid = supervisor_pid(paths)
        raise DaemonError(f"profile {profile} already has a running supervisor (pid {pid})",
                          where=str(paths.run_dir),
                          fix=f"attach with `swarmdeck status -p {profile}` / `swarmdeck logs -f -p {profile}`, "
                              f"or stop it first with `swarmdeck stop -p {profile}`")
    _set_subreaper()
    try:
        sup = Supervisor(profile, settings=settings, node_cmd=node_cmd, paths=paths, echo=echo)
        return asyncio.run(sup.serve(autostart=autostart))
    finally:
        lock.release()


def _daemonize_and_run(profile: str) -> None:
    """Second half of the double fork: setsid, fork again, detach stdio, run. Never returns."""
    with contextlib.suppress(OSError):  # already a session leader when spawned with start_new_session
        os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the intermediate exits at once; the supervisor is now an orphan of init/subreaper
    paths = ProfilePaths(profile)
    ensure_private_dir(paths.log_dir)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    boot = os.open(paths.log_dir / "supervisor.boot.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(boot, 2)  # tracebacks at startup (bugs) land here, not on a terminal that may be gone
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = 1
    try:
        code = run_foreground(profile, echo=False)
    except DaemonError as e:
        print(f"swarmdeck supervisor: {e}", file=sys.stderr)
        code = 3
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def spawn_detached(profile: str, wait: float = 15.0) -> dict:
    """Start a detached supervisor for the profile (or find the running one); return its status.

    The new process survives the caller's exit, SSH hang-up and terminal close.
    """
    paths = ProfilePaths(profile)
    st = control.query_status(paths, timeout=2.0)
    if st is not None:
        st["already_running"] = True
        return st
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    import subprocess

    inter = subprocess.Popen([sys.executable, "-m", "core.supervisor", "--profile", profile, "--detach"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env, close_fds=True, start_new_session=True)
    inter.wait(timeout=30)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        st = control.query_status(paths, timeout=1.0)
        if st is not None and (st.get("child_pid") or st.get("state") != "stopped"
                               or time.monotonic() > deadline - wait + 3):
            st["already_running"] = False  # a racing start may have won; either way one supervisor runs
            return st
        time.sleep(0.05)
    boot = tail_file(Path(paths.log_dir) / "supervisor.boot.log", 20)
    raise DaemonError(f"the supervisor for profile {profile} did not come up within {wait:g} s",
                      where=str(Path(paths.log_dir) / "supervisor.boot.log"),
                      fix="see the log: " + (" | ".join(boot[-3:]) if boot else "(empty)"))


def stop_profile(profile: str, now: bool = False, timeout: float = 120.0) -> dict | None:
    """Stop a profile's node and its supervisor. None when nothing was running."""
    paths = ProfilePaths(profile)
    pid = supervisor_pid(paths)
    try:
        res = control.ControlClient(paths, timeout=5.0).stop(now=now, exit=True, timeout=timeout)
    except control.NotRunning:
        if pid is None:
            return None
        # alive but not answering (wedged): its SIGTERM handler stops the node gracefully
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        res = {"state": "stopped", "signalled": pid}
    except DaemonError:
        if pid is None:
            raise
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        res = {"state": "stopped", "signalled": pid}
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline and supervisor_pid(paths) is not None:
        time.sleep(0.05)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.supervisor.supervisor", description="swarmdeck supervisor for one profile")
    ap.add_argument("--profile", "-p", required=True)
    ap.add_argument("--detach", action="store_true", help="double-fork into the background")
    args = ap.parse_args(argv)
    if args.detach:
        _daemonize_and_run(args.profile)
    try:
        return run_foreground(args.profile, echo=True)
    except DaemonError as e:
        print(f"swarmdeck: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
