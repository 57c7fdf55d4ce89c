"""Background processes that outlive their starter (supervisor's node, anvil, login service,
sign-in app, local network): one runtime record format, one liveness test, one way to stop.

A runtime record is a small JSON file (0600, written atomically) naming the process and its
group plus the process's start time, so a pid the kernel has since given to an unrelated
process is never taken for ours, let alone signalled. Extra keys (url, port, ...) ride along.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from core.base.fsutil import atomic_write_json

# create_time() is derived from /proc's start tick: equal within rounding for one process
_START_SLACK = 0.05


@dataclass(frozen=True)
class Record:
    pid: int
    pgid: int
    started: float | None = None  # process start time (epoch seconds), the guard against pid reuse
    cmdline: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.extra.get(key, default)

    def to_dict(self) -> dict:
        return {**self.extra, "pid": self.pid, "pgid": self.pgid, "started": self.started,
                "cmdline": list(self.cmdline)}


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, ValueError):
        return None


def record_for(pid: int, pgid: int | None = None, **extra: Any) -> Record:
    """A record of a live process (its start time and command line read now)."""
    started, cmdline = _start_time(pid), ()
    with contextlib.suppress(psutil.Error):
        cmdline = tuple(psutil.Process(pid).cmdline())
    if pgid is None:
        try:
            pgid = os.getpgid(pid)
        except OSError:
            pgid = pid
    return Record(pid=pid, pgid=pgid, started=started, cmdline=cmdline, extra=extra)


def write_record(path: Path, rec: Record) -> None:
    atomic_write_json(Path(path), rec.to_dict())  # 0600


def read_record(path: Path) -> Record | None:
    """The record at path; None when missing or unreadable. Older files with only "pid" still read."""
    try:
        d = json.loads(Path(path).read_text())
        pid = int(d.pop("pid"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if pid <= 0:
        return None
    pgid = d.pop("pgid", pid)
    started = d.pop("started", None)
    cmdline = d.pop("cmdline", None) or ()
    return Record(pid=pid, pgid=int(pgid) if isinstance(pgid, int) else pid,
                  started=float(started) if isinstance(started, (int, float)) else None,
                  cmdline=tuple(cmdline), extra=d)


def _reap(pid: int) -> None:
    """Collect our own exited child, so a zombie does not read as alive."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _same_process(rec: Record) -> bool:
    _reap(rec.pid)
    try:
        p = psutil.Process(rec.pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        if rec.started is not None and abs(p.create_time() - rec.started) > _START_SLACK:
            return False  # the pid was reused
    except psutil.Error:
        return False
    return True


def _group_alive(pgid: int) -> bool:
    if pgid <= 0 or pgid == os.getpgrp():  # 0 or our own group would mean us
        return False
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


def alive(rec: Record | None) -> bool:
    """The recorded process runs (same start time), or, once it exited, some of its group does."""
    if rec is None:
        return False
    if _same_process(rec):
        return True
    # the leader is gone (or its pid reused): its group lives on only while a member does, and a
    # group id is never handed out while it has members
    return rec.pgid == rec.pid and _group_alive(rec.pgid) and not _pid_exists(rec.pid)


def _pid_exists(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal(rec: Record, sig: int, group: bool) -> None:
    if group and rec.pgid > 0 and rec.pgid != os.getpgrp():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(rec.pgid, sig)
    elif _same_process(rec):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(rec.pid, sig)


def _wait_gone(rec: Record, group: bool, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap(rec.pid)
        gone = not _same_process(rec) and not (group and _group_alive(rec.pgid))
        if gone or time.monotonic() >= deadline:
            # exited members may stay zombies until their parent reaps them (in some containers
            # init never does): they hold no port or file, so they do not count as running
            return gone
        time.sleep(0.05)


def stop_group(rec: Record | None, timeout: float = 10.0, group: bool = True) -> bool:
    """Stop the recorded process and (group=True) its whole process group: SIGCONT (a stopped
    process would hold SIGTERM pending forever), SIGTERM, then SIGKILL after `timeout`.
    True when something was running. Never signals a pid that now belongs to another process."""
    if not alive(rec):
        return False
    group = group and rec.pgid == rec.pid  # only a group the process leads is ours to signal
    _signal(rec, signal.SIGCONT, group)
    _signal(rec, signal.SIGTERM, group)
    if not _wait_gone(rec, group, timeout):
        _signal(rec, signal.SIGKILL, group)
        _wait_gone(rec, group, 5.0)
    return True
