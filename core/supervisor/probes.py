"""Readings of the node's process group: members, RSS, VRAM (NVML), the cgroup's OOM-kill count."""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path

import psutil

PR_SET_CHILD_SUBREAPER = 36


def set_subreaper() -> None:
    """Orphaned grandchildren (DHT process, p2pd) get reparented to us, not init, so we can find them."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def group_members(pgid: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pgid:
                out.append(p)
    return out


def rss_of(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def oom_kill_count() -> int | None:
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


def vram_of(pids: set[int]) -> int | None:
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


def alive(p: psutil.Process) -> bool:
    """Running and not a zombie (a zombie has exited; only its exit status is left to reap)."""
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def pid_alive(pid: int) -> bool:
    try:
        return alive(psutil.Process(pid))
    except psutil.Error:
        return False
