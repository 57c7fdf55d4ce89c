"""Alerts from a real supervisor: a node killed with SIGKILL under it sends exactly one "down" message,
then one "recovered" when the supervisor's restart runs, through apprise's json:// to a real HTTP
receiver on 127.0.0.1. The URL (its path plays the bot token) never reaches the profile's logs or events."""

from __future__ import annotations

import os
import signal
import time

import core.supervisor as daemon
from core.alerts import add_url, urls_path
from core.base.paths import ProfilePaths
from core.config import settings as config
from core.config.settings import AlertSettings
from tests.helpers.receiver import Receiver
from tests.helpers.supervisor import supervise_fake_node
from tests.helpers.wait import wait_until

SECRET = "SeCrEtT0kEn4242"


def test_killed_node_sends_one_down_then_one_recovered(monkeypatch):
    supervise_fake_node(monkeypatch)
    monkeypatch.setenv("SWARMDECK_ALERT_CHECK_S", "0.5")
    cfg_path, _ = config.ensure_config()
    # only the node-state conditions: a fresh profile also has no verified backup, which is its own alert
    cfg_path.write_text(cfg_path.read_text() + '\n[alerts]\nconditions = ["down", "gave_up"]\n')
    paths = ProfilePaths("alrt")
    with Receiver() as rx:
        add_url(urls_path(AlertSettings()), rx.json_url(SECRET))
        try:
            daemon.spawn_detached("alrt")
            st = wait_until(lambda: (s := daemon.query_status(paths, timeout=2)) and s.get("state") == "running"
                            and s.get("child_pid") and s, 30, "the fake node running")
            assert rx.messages == []                          # starting is not news
            os.kill(st["child_pid"], signal.SIGKILL)
            msgs = rx.wait_for(2, timeout=30)
            assert len(msgs) == 2, msgs
            time.sleep(3)                                     # several checks later: nothing more
            msgs = list(rx.messages)
            new = daemon.query_status(paths, timeout=2)
        finally:
            daemon.stop_profile("alrt", now=True, timeout=30)
        time.sleep(1)
        after_stop = list(rx.messages)
    assert new["state"] == "running" and new["child_pid"] != st["child_pid"]
    assert [m["body"]["title"] for m in msgs] == ["swarmdeck [alrt] node down", "swarmdeck [alrt] recovered: node down"]
    assert "killed by SIGKILL" in msgs[0]["body"]["message"], msgs[0]
    assert msgs[0]["body"]["type"] == "failure" and msgs[1]["body"]["type"] == "success"
    assert msgs[0]["path"] == f"/{SECRET}"
    assert len(after_stop) == 2                               # a stop on request is not an alert
    # the secret never reaches what swarmdeck writes about the profile
    for f in [paths.events_file, *paths.log_dir.iterdir()]:
        assert SECRET not in f.read_text(errors="replace"), f
    log = (paths.log_dir / "supervisor.log").read_text()
    assert "alert sent: swarmdeck [alrt] node down" in log


def test_crash_loop_sends_down_then_gave_up_with_the_fix(monkeypatch):
    import json

    from tests.helpers.supervisor import FAST_SUPERVISOR

    # a node that dies before it says anything (never running): crash, crash, give up
    monkeypatch.setenv("SWARMDECK_NODE_CMD", "sh -c 'sleep 0.3; exit 1' {profile}")
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps({**FAST_SUPERVISOR, "max_quick_failures": 3}))
    cfg_path, _ = config.ensure_config()
    cfg_path.write_text(cfg_path.read_text() + '\n[alerts]\nconditions = ["down", "gave_up"]\n')
    paths = ProfilePaths("loop")
    with Receiver() as rx:
        add_url(urls_path(AlertSettings()), rx.json_url("hook"))
        try:
            daemon.spawn_detached("loop")
            wait_until(lambda: (daemon.query_status(paths, timeout=2) or {}).get("state") == "gave_up", 30,
                       "the supervisor giving up")
            msgs = rx.wait_for(2, timeout=30)
            time.sleep(1)
            msgs = list(rx.messages)
        finally:
            daemon.stop_profile("loop", now=True, timeout=30)
    assert [m["body"]["title"] for m in msgs] == ["swarmdeck [loop] node down", "swarmdeck [loop] node gave up"]
    assert "exited with code 1" in msgs[0]["body"]["message"]
    assert "3 failures in a row" in msgs[1]["body"]["message"]
    assert "Fix: see `swarmdeck logs -p loop`" in msgs[1]["body"]["message"]


def test_the_chain_round_for_behind_is_read_from_the_real_local_chain():
    """The 'behind' rule's fact: currentRound() of the local chain's coordinator, read without core.chain."""
    import logging

    from core.identity import profiles
    from core.supervisor.alerting import SupervisorAlerts
    from tests.helpers.chain import local_chain

    with local_chain() as chain:
        for _ in range(3):
            chain.advance()
        profiles.create_profile("behind", make_current=False, network="local", backend="web3", model="tiny")
        notes: list = []
        al = SupervisorAlerts("behind", ProfilePaths("behind"), lambda m, lvl=logging.INFO: notes.append(m))
        assert chain.current_round() >= 3
        assert al.chain_round() == chain.current_round()
        chain.advance()
        assert al.chain_round() == chain.current_round() - 1  # cached: one read per 5 min (the public RPC rate-limits)
        assert notes == []
