"""A node that crash-loops while starting (its bootnodes never answer) is never reported as running:
not by the supervisor, not by `swarmdeck status` (text or --json)."""

from __future__ import annotations

import time

import pytest

from core.identity import profiles
from core.usecases import profile_state
from daemon_support import rig, wait_for  # noqa: F401
from tui.commands.status_cmd import render_text

pytestmark = pytest.mark.timeout(120)


def test_crash_loop_at_start_never_reads_running(rig):
    profiles.create_profile(rig.name, make_current=False, network="local", backend="web3")
    rig.configure("--fail-start", "0.4", max_quick_failures=1000)
    rig.start()
    seen, states = set(), set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        seen.add(rig.status()["state"])
        states.add(profile_state.node_state(rig.name))
        time.sleep(0.05)
    wait_for(lambda: rig.status()["restarts"] >= 2, what="restarts")
    assert "running" not in seen and "running" not in states, (seen, states)
    assert seen & {"starting", "crashed"}
    st = profile_state.build_status()
    me = next(p for p in st["profiles"] if p["name"] == rig.name)
    assert me["node_state"] != "running" and me["running"] is False
    line = next(ln for ln in render_text(st).splitlines() if f" {rig.name} " in ln)
    assert "running" not in line, line


def test_a_node_that_starts_reads_running(rig):
    profiles.create_profile(rig.name, make_current=False, network="local", backend="web3")
    rig.start()
    rig.wait_state("running")
    st = profile_state.build_status()
    me = next(p for p in st["profiles"] if p["name"] == rig.name)
    assert me["node_state"] == "running" and me["running"] is True
    assert "running" in next(ln for ln in render_text(st).splitlines() if f" {rig.name} " in ln)
