"""core.hardware.telemetry on a real node process tree (a python parent with a python child)."""

from __future__ import annotations

import subprocess
import sys

import psutil

from core.hardware.telemetry import Telemetry
from tests.helpers.wait import wait_until


def test_node_process_tree_cpu_and_rss():
    code = "import subprocess,sys,time; c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(30)']); time.sleep(30)"
    p = subprocess.Popen([sys.executable, "-c", code])
    kids = []
    try:
        kids = wait_until(lambda: psutil.Process(p.pid).children(recursive=True), 20, "the node's child process")
        tel = Telemetry(nvml=None)
        assert tel.sample().node is None
        tel.set_node_pid(p.pid)
        s = tel.sample().node
        assert s.alive and s.rss > 10 * 1024**2  # two python processes
        assert s.cpu_pct is not None
    finally:
        for k in kids:
            k.kill()
        p.kill()
        p.wait()
    tel._tree_at = 0  # rescan now
    assert not tel.sample().node.alive
