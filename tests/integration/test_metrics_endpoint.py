"""`swarmdeck metrics serve` for two profiles at once: the real CLI process serves /metrics while two fake
nodes run under their real supervisors; a scrape over HTTP shows each profile's state, rounds, reward and
RSS with its own labels, and a second scrape shows the rounds advancing."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request

import core.supervisor as daemon
from core.base.paths import ProfilePaths
from core.config import settings as config
from tests.helpers.supervisor import supervise_fake_node
from tests.helpers.wait import wait_until


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def value(text: str, name: str, **labels) -> float | None:
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if m and all(f'{k}="{v}"' in (m[1] or "") for k, v in labels.items()):
            return float(m[2])
    return None


def test_metrics_serve_two_profiles(monkeypatch):
    supervise_fake_node(monkeypatch)
    cfg = config.load_config()
    for name in ("m1", "m2"):
        cfg.add_profile(name, {"network": "local"})
    cfg.save()
    proc = None
    try:
        for name in ("m1", "m2"):
            daemon.spawn_detached(name)
        for name in ("m1", "m2"):
            wait_until(lambda: (daemon.query_status(ProfilePaths(name), timeout=2) or {}).get("state") == "running",
                       30, f"{name} running")
        proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "metrics", "serve", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)/metrics", line)[1])
        first = wait_until(lambda: (t := scrape(port)) and value(t, "swarmdeck_last_round", profile="m2") and t,
                           30, "a round in the metrics")
        for name in ("m1", "m2"):
            assert value(first, "swarmdeck_up", profile=name) == 1.0, name
            assert value(first, "swarmdeck_node_state", profile=name, state="running") == 1.0
            assert value(first, "swarmdeck_node_state", profile=name, state="stopped") == 0.0
            assert value(first, "swarmdeck_supervisor_up", profile=name) == 1.0
            assert value(first, "swarmdeck_round_reward", profile=name, peer_id=f"QmFake{name}") == 0.5
            assert (value(first, "swarmdeck_node_rss_bytes", profile=name) or 0) > 1e6
        r1 = value(first, "swarmdeck_rounds_finished_total", profile="m1")
        wait_until(lambda: value(scrape(port), "swarmdeck_rounds_finished_total", profile="m1") > r1 + 2, 30,
                   "rounds advancing between scrapes")
        daemon.stop_profile("m2", now=True, timeout=30)
        after = scrape(port)
        assert value(after, "swarmdeck_up", profile="m2") == 0.0
        assert value(after, "swarmdeck_node_state", profile="m2", state="stopped") == 1.0
        assert value(after, "swarmdeck_up", profile="m1") == 1.0
        assert value(after, "swarmdeck_scrape_seconds") is not None
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        for name in ("m1", "m2"):
            daemon.stop_profile(name, now=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.read()
