"""Shared helpers for the supervisor tests: run a profile on the fake node, find and clean up processes."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from core import supervisor
from core.base.paths import ProfilePaths

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "helpers" / "fake_node.py"
# Run the fake-independent tests against another node command (e.g. the real node, once a local
# network is up under the test's SWARMDECK_HOME): shell words, {profile} substituted.
REAL_NODE_CMD = os.environ.get("SWARMDECK_TEST_NODE_CMD")
TIME_SCALE = float(os.environ.get("SWARMDECK_TEST_TIME_SCALE", "20" if REAL_NODE_CMD else "1"))
FAST = {"backoff_base": 0.1, "backoff_max": 1.0, "backoff_jitter": 0.2, "poll_interval": 0.1,
        "stop_timeout": 3.0, "group_grace": 1.0, "healthy_after": 30.0, "stall_timeout": 0,
        "round_stall_timeout": 0}


def needs_fake() -> None:
    if REAL_NODE_CMD:
        pytest.skip("scripts a failure through the fake node's flags")


def wait_for(pred, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    timeout *= TIME_SCALE
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (supervisor.NotRunning, OSError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def ours(home: str) -> list[psutil.Process]:
    """Every live process started under this test's SWARMDECK_HOME (env is inherited by all descendants)."""
    out = []
    for p in psutil.process_iter(["pid"]):
        if p.pid == os.getpid():
            continue
        try:
            if p.environ().get("SWARMDECK_HOME") == home and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def node_procs(home: str) -> list[psutil.Process]:
    """Node children: group leaders the supervisor started (grandchildren are not leaders)."""
    out = []
    for p in ours(home):
        try:
            if p.environ().get("SWARMDECK_SUPERVISED") == "1" and os.getpgid(p.pid) == p.pid:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


class Rig:
    """One profile on the fake node, configured through the environment the supervisor inherits."""

    def __init__(self, monkeypatch, name: str = "alpha"):
        self.name = name
        self.paths = ProfilePaths(name)
        self.home = os.environ["SWARMDECK_HOME"]
        self.monkeypatch = monkeypatch
        self.configure()

    def configure(self, *fake_args: str, **settings) -> None:
        cmd = [sys.executable, str(FAKE), "--profile", "{profile}", *fake_args]
        if fake_args:
            needs_fake()
        line = REAL_NODE_CMD or shlex.join(cmd)
        if REAL_NODE_CMD:
            settings.setdefault("stop_timeout", 60.0)
        self.monkeypatch.setenv("SWARMDECK_NODE_CMD", line)
        self.monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps({**FAST, **settings}))

    @property
    def client(self) -> supervisor.ControlClient:
        return supervisor.ControlClient(self.paths, timeout=10.0)

    def start(self) -> dict:
        return supervisor.spawn_detached(self.name)

    def status(self) -> dict:
        return self.client.status()

    def wait_state(self, state: str, timeout: float = 15.0, **match) -> dict:
        def ok():
            st = self.status()
            return st if st["state"] == state and all(st.get(k) == v for k, v in match.items()) else None
        return wait_for(ok, timeout, what=f"state {state} {match}")

    def events(self, types=None) -> list[dict]:
        out = []
        try:
            for line in open(self.paths.events_file, encoding="utf-8"):
                d = json.loads(line)
                if types is None or d["type"] in types:
                    out.append(d)
        except FileNotFoundError:
            pass
        return out

    def cleanup(self) -> list[str]:
        """Stop everything; return descriptions of processes that had to be killed (should be none)."""
        with_pid = supervisor.supervisor_pid(self.paths)
        if with_pid:
            try:
                supervisor.stop_profile(self.name, now=True, timeout=20)
            except Exception:
                pass
        leftovers = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and ours(self.home):
            time.sleep(0.1)
        for p in ours(self.home):
            try:
                leftovers.append(" ".join(p.cmdline()))
                p.send_signal(signal.SIGKILL)
            except psutil.Error:
                pass
        return leftovers


@pytest.fixture
def rig(monkeypatch):
    r = Rig(monkeypatch)
    yield r
    leftovers = r.cleanup()
    assert not leftovers, f"processes survived the test: {leftovers}"
