"""Readings of the node's process group: members, RSS, VRAM (NVML), the cgroup's OOM-kill count."""

from __future__ import annotations

import contextlib
import ctypes
import os
from pathlib import Path
from typing import Iterable

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


SHM_DIR = Path("/dev/shm")


def remove_torch_shm(pids: Iterable[int], shm_dir: Path | None = None) -> list[str]:
    """Remove torch's shared-memory files (`torch_<pid>_*`) of dead processes; returns the names removed.

    hivemind switches torch to the `file_system` sharing strategy, so a node (and its DHT process) keeps
    segments in /dev/shm that only a clean exit unlinks: each kill -9 left two behind, and a
    crash-looping node fills /dev/shm over weeks. Only pids that no longer run are touched (a pid
    reused since by a live process keeps its files)."""
    d = SHM_DIR if shm_dir is None else shm_dir
    gone = {int(p) for p in pids if not pid_alive(int(p))}
    removed: list[str] = []
    if not gone:
        return removed
    try:
        names = os.listdir(d)
    except OSError:
        return removed
    for name in names:
        parts = name.split("_")
        if len(parts) >= 3 and parts[0] == "torch" and parts[1].isdigit() and int(parts[1]) in gone:
            try:
                os.unlink(d / name)
                removed.append(name)
            except OSError:
                pass  # another user's file, or already gone
    return removed
