"""A node killed with -9 leaves no /dev/shm/torch_<pid>_* files behind: its supervisor removes them
(issue 20: two per kill, so a crash-looping node filled /dev/shm over weeks).

The node is tests/helpers/shm_node.py: real hivemind MPFutures in the node process and in a child
process (as the DHT process has), so the segments are torch's own."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import core.supervisor as daemon
from core.base.paths import ProfilePaths
from core.supervisor.probes import remove_torch_shm
from tests.helpers.supervisor import FAST_SUPERVISOR, read_events
from tests.helpers.wait import wait_until

SHM = Path("/dev/shm")


def _files(pids) -> list[str]:
    return sorted(n for n in os.listdir(SHM) for p in pids if n.startswith(f"torch_{p}_"))


def test_the_supervisor_removes_a_killed_nodes_torch_shm_files(monkeypatch):
    monkeypatch.setenv("SWARMDECK_NODE_CMD", f"{sys.executable} -m tests.helpers.shm_node {{profile}}")
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps(FAST_SUPERVISOR))
    paths = ProfilePaths("shm")

    def shm_pids():
        logs = [e for e in read_events(paths.events_file, {"log"}) if e.get("shm_pids")]
        return logs[-1]["shm_pids"] if logs else None

    try:
        daemon.spawn_detached("shm")
        first = wait_until(shm_pids, 90, "the node's shared-memory pids")
        held = wait_until(lambda: _files(first) if len(_files(first)) >= 2 else None, 30, "its torch_<pid>_* files")
        assert {f.split("_")[1] for f in held} == {str(p) for p in first}  # node and its child, one each at least
        os.kill(first[0], signal.SIGKILL)
        second = wait_until(lambda: (p := shm_pids()) and p != first and p, 90, "the restarted node")
        assert _files(first) == [], _files(first)  # the killed node's files are gone
        assert _files(second)  # the new node's own are untouched
    finally:
        daemon.stop_profile("shm", now=True, timeout=30)
    wait_until(lambda: not _files(second), 30, "the stopped node's files gone too")


def test_files_of_live_processes_are_never_touched(tmp_path):
    me = os.getpid()
    (tmp_path / f"torch_{me}_1_0").write_text("")
    (tmp_path / "torch_999999999_1_0").write_text("")  # no such pid
    (tmp_path / "other_999999999").write_text("")
    assert remove_torch_shm([me, 999999999], shm_dir=tmp_path) == ["torch_999999999_1_0"]
    assert sorted(os.listdir(tmp_path)) == ["other_999999999", f"torch_{me}_1_0"]
