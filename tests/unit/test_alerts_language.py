"""Alerts reach the user's alert URLs in the user's language (config `language`, else the locale), while
the Alert objects, to_dict() and the alert-state file stay English.

Real parts: the rule engines (node, host parts, fleet watchtower) produce the alerts, the real AlertSender
sends them through apprise's json:// plugin to a real HTTP receiver on 127.0.0.1, and the test reads what
arrived there."""

from __future__ import annotations

import re

import pytest

from core.alerts import AlertEngine, AlertSender, Facts, add_url
from core.base.i18n import M
from core.config.settings import AlertSettings, load_config
from core.events.types import ChainTotals, LoginRequired, NodeState, Oom, PeerTrust, RoundFinished
from core.fleet.watch import FAIL_POLLS, FleetRules
from core.hosting.host import host_alerts
from core.hosting.parts import HostAlerts
from tests.helpers.receiver import Receiver

T0 = 1_800_000_000.0

# Latin words a Russian alert may carry: the product and its commands, names the test gave, file names
ALLOWED = {"swarmdeck", "alpha", "QmLiar", "logs", "identity", "backup", "profile", "archive", "doctor", "swarm",
           "status", "pem", "fleet", "h1", "demo", "CUDA", "RPC", "Qwen", "tiny", "sd"}


def _alerts() -> list:
    """One of each alert text: produced by the real engines from events, facts and polls."""
    e = AlertEngine("alpha", AlertSettings(cooldown_minutes=0, no_reward_rounds=2))
    out = []
    out += e.observe(NodeState(state="crashed", reason=M("sup.reason.exit_code", code=3), source="supervisor",
                               next_restart_in=2.0, ts=T0))
    out += e.observe(NodeState(state="gave_up", reason=M("sup.reason.exit_code", code=3), source="supervisor",
                               ts=T0 + 1))
    out += e.observe(NodeState(state="running", source="supervisor", ts=T0 + 2))
    out += e.observe(RoundFinished(round=7, stage=0, reward=0.0, n_local=4, n_external=0, ts=T0 + 3))
    out += e.observe(RoundFinished(round=8, stage=0, reward=0.0, n_local=4, n_external=0, ts=T0 + 4))
    out += e.observe(RoundFinished(round=9, stage=0, reward=1.5, n_local=4, n_external=0, ts=T0 + 5))
    out += e.observe(Oom(kind="CUDA", source="supervisor", step_down="", ts=T0 + 6))
    out += e.observe(ChainTotals(total_wins=1, total_reward=1.0, ts=T0 + 7))
    out += e.observe(ChainTotals(total_wins=3, total_reward=2.0, ts=T0 + 8))
    out += e.observe(PeerTrust(round=9, ignored=({"peer_id": "QmLiar", "reason": "disagree", "until_round": 23},),
                               ts=T0 + 9))
    out += e.observe(LoginRequired(reason=M("alert.b.data_disk"), fix=M("alert.b.oom_fix"), ts=T0 + 10))
    out += e.check(Facts(now=T0 + 11, state="running", disk_free_bytes=10**9, disk_path="/sd",
                         backup_verified=False, chain_round=40, round_seconds=30.0))
    out += e.check(Facts(now=T0 + 4000, state="running", disk_free_bytes=10**12, backup_verified=True,
                         chain_round=40, round_seconds=30.0))
    h = HostAlerts("demo", grace=0)
    down = {"bootnode": {"state": "crashed", "reason": "exited with code 3",
                         "msgs": {"reason": M("sup.reason.exit_code", code=3).to_wire()}},
            "advancer": {"state": "stopped", "reason": ""}}
    out += h.update(host_alerts(down), T0)
    out += h.update({}, T0 + 1)
    f = FleetRules(AlertSettings(conditions=("unreachable",), cooldown_minutes=0))
    for i in range(FAIL_POLLS):
        out += f.observe({"name": "h1", "reachable": False, "error": {}}, T0 + i)
    out += f.observe({"name": "h1", "reachable": True, "profiles": []}, T0 + 120)
    return out


def _deliver(alerts) -> list[dict]:
    with Receiver() as rx:
        p = load_config().alerts(None)
        from core.alerts.urls import urls_path

        add_url(urls_path(p), rx.json_url("lang"))
        s = AlertSender(urls_path(p))
        for a in alerts:
            s.submit(a)
        got = rx.wait_for(len(alerts), timeout=60)
        s.close()
    return [m["body"] for m in got]


def _english_runs(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", text) if w not in ALLOWED]


@pytest.fixture
def alerts():
    out = _alerts()
    conds = {a.condition for a in out}
    # every condition the engines have a text for is in the set (so a new text is checked when it is added)
    assert {"down", "no_reward", "oom", "win", "peer_ignored", "sign_in", "disk", "backup", "behind",
            "unreachable", "bootnode down", "round advancer stalled"} <= conds, conds
    return out


def test_alerts_reach_the_urls_in_russian_and_stay_english_in_the_alert(alerts, monkeypatch):
    monkeypatch.setenv("LC_ALL", "en_US.UTF-8")  # the config's setting wins over the locale
    cfg = load_config()
    cfg.set("language", "ru")
    cfg.save()
    got = _deliver(alerts)
    assert len(got) == len(alerts)
    by_title = {m["title"]: m["message"] for m in got}
    for a in alerts:
        assert a.to_dict()["title"] == str(a.title) and re.search(r"[а-я]", a.to_dict()["title"]) is None
    for m in got:
        for part in (m["title"], m["message"]):
            assert _english_runs(part) == [], part
        assert re.search(r"[А-Яа-я]", m["title"]), m
    assert "swarmdeck [alpha] узел упал" in by_title
    assert "узел остановился: завершился с кодом 3; перезапуск через 2 с" in by_title["swarmdeck [alpha] узел упал"]
    assert any("рой demo: узел начальной загрузки не работает" == t for t in by_title)
    assert any(t.startswith("swarmdeck fleet: машина h1 недоступна") for t in by_title)


def test_in_english_the_urls_get_the_alerts_own_text(alerts, monkeypatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    load_config()  # a config with language = "auto"
    got = _deliver(alerts)
    assert sorted((m["title"], m["message"]) for m in got) == sorted((str(a.title), str(a.body)) for a in alerts)
    titles = {m["title"] for m in got}
    assert "swarmdeck [alpha] node down" in titles and "swarm demo: bootnode down" in titles
    assert "swarmdeck fleet: host h1 unreachable" in titles
    assert "swarmdeck fleet: recovered: host h1 reachable again" in titles
