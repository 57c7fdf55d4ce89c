"""Process audits: a test that starts processes must leave none behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil

from tests.helpers.wait import wait_until

# Command-line words of the processes swarmdeck starts (for messages about leftovers).
MARKERS = ("anvil", "p2pd", "core.node", "core.supervisor.supervisor", "core.login", "hivemind", "core.localnet")


def our_processes(home: str) -> list[psutil.Process]:
    """Live processes that belong to this test: SWARMDECK_HOME in their environment or HOME in argv."""
    out = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        if p.pid == os.getpid():
            continue
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            mine = home in cmd
            if not mine:
                env = p.environ()
                mine = env.get("SWARMDECK_HOME", "").startswith(home) or env.get("HOME") == home
            if mine and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def kill_leftovers(home: str, grace: float = 8.0) -> list[str]:
    """Wait for our processes to end; SIGKILL and name whatever is still alive after `grace`."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and our_processes(home):
        time.sleep(0.2)
    left = []
    for p in our_processes(home):
        try:
            left.append(f"{p.pid}: {' '.join(p.cmdline())[:200]}")
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    return left


def live_group_members(pgid: int) -> list[psutil.Process]:
    """Processes of group `pgid` that still run. Zombies do not count: an orphaned member that
    exited waits for init to reap it, and some containers' init never does."""
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def leftover_processes(root: Path, pids: set[int]) -> list[str]:
    """p2pd daemons whose identity lives under `root`, or any tracked pid still running."""
    out = []
    for p in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmd = " ".join(p.info["cmdline"] or [])
            if (p.info["name"] or "").startswith("p2pd") and str(root) in cmd:
                out.append(f"p2pd pid {p.pid}: {cmd[:120]}")
            elif p.pid in pids and p.pid != os.getpid():
                out.append(f"pid {p.pid} ({p.info['name']})")
        except psutil.Error:
            continue
    return out


def shutdown_and_wait(nodes, root: Path, pids: set[int], timeout: float = 10.0) -> list[str]:
    """Shut every SwarmDHT down and wait for its processes to go; return what is still running."""
    for n in nodes:
        pids.update(n.child_pids())
        n.shutdown()
    try:
        wait_until(lambda: not leftover_processes(root, pids), timeout, "the DHT processes to exit", interval=0.2)
    except AssertionError:
        pass  # the caller asserts on (and reports) what is left
    return leftover_processes(root, pids)


def ok(r, what: str) -> str:
    """A finished CompletedProcess's stdout; else an AssertionError with its exit code and both outputs' tails."""
    assert r.returncode == 0, f"{what} failed (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout
