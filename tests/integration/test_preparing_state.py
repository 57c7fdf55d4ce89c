"""A node that builds its model first reads `preparing`, not `running`, under a real supervisor (issue 20).

The fake node (tests/helpers/fake_node.py --prepare) says starting, preparing, queues a chain write
and sends model.build progress for a few seconds, then running and rounds, as the real node does on a
first demo-model build. Before `preparing` existed the supervisor took the chain write for proof of
running, so its alert rules counted the build as "no round progress"."""

from __future__ import annotations

import json
import sys

import core.supervisor as daemon
from core.base.paths import ProfilePaths
from tests.helpers.supervisor import FAKE_NODE, FAST_SUPERVISOR, read_events
from tests.helpers.wait import wait_until


def test_the_supervisor_says_preparing_during_a_model_build_then_running(monkeypatch):
    monkeypatch.setenv("SWARMDECK_NODE_CMD", f"{sys.executable} {FAKE_NODE} --profile {{profile}} --prepare 6")
    # round-stall watchdog on, shorter than the build: model.build progress must count as progress
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps({**FAST_SUPERVISOR, "round_stall_timeout": 3.0}))
    paths = ProfilePaths("prep")
    seen = []
    try:
        daemon.spawn_detached("prep")

        def state():
            s = (daemon.query_status(paths, timeout=2) or {}).get("state")
            if s and (not seen or seen[-1] != s):
                seen.append(s)
            return s

        wait_until(lambda: state() == "preparing", 30, "the supervisor saying preparing")
        builds = wait_until(lambda: read_events(paths.events_file, {"model.build"}), 30, "build progress events")
        assert state() == "preparing"  # a chain write and build progress do not make it running
        wait_until(lambda: state() == "running", 60, "running once the model is built")
        restarts = (daemon.query_status(paths, timeout=2) or {}).get("restarts")
    finally:
        daemon.stop_profile("prep", now=True, timeout=30)
    assert "preparing" in seen and seen.index("preparing") < seen.index("running"), seen
    assert restarts == 0  # the round-stall watchdog left the build alone
    b = builds[0]
    assert (b["model"], b["steps"]) == ("demo", 10) and 1 <= b["step"] <= 10 and b["eta_s"] is not None
    sup = [e["state"] for e in read_events(paths.events_file, {"node.state"}) if e.get("source") == "supervisor"]
    assert sup[:3] == ["starting", "preparing", "running"], sup
