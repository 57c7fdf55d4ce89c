"""core.alerts: the pure rule engine (events + facts -> transitions), the 0600 URL file and its redaction,
and the sender through apprise's json:// to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import os
import stat
import time

import pytest

from core.alerts import AlertEngine, AlertSender, Facts, add_url, load_urls, redact, remove_url, send_once, urls_path
from core.alerts.rules import Alert, in_quiet_hours
from core.alerts.urls import redact_text
from core.base.errors import ConfigError
from core.config import settings as config
from core.config.settings import AlertSettings
from core.events.types import ChainTotals, LoginOk, LoginRequired, NodeState, Oom, RoundFinished
from tests.helpers.receiver import Receiver

T0 = 1_800_000_000.0


def noon(now):  # a localtime that says 12:00 + (now - T0) seconds, whatever the machine's zone
    return time.gmtime(12 * 3600 + (now - T0))


def engine(**kw) -> AlertEngine:
    return AlertEngine("alpha", AlertSettings(**kw), localtime=noon)


def crashed(t, reason="killed by SIGKILL (not sent by swarmdeck)"):
    return NodeState(state="crashed", reason=reason, source="supervisor", next_restart_in=2.0, ts=t)


def running(t):
    return NodeState(state="running", source="supervisor", ts=t)


def kinds(alerts):
    return [(a.condition, a.kind) for a in alerts]


def test_down_fires_once_while_it_holds_then_recovers():
    e = engine()
    out = e.observe(crashed(T0))
    assert kinds(out) == [("down", "fired")]
    assert "killed by SIGKILL" in out[0].body and "alpha" in out[0].title
    assert e.observe(crashed(T0 + 1)) == []                      # no repeat while it holds
    assert e.observe(NodeState(state="starting", source="supervisor", ts=T0 + 2)) == []
    assert e.observe(running(T0 + 3)) == []                   # running for a moment proves nothing yet
    assert e.check(Facts(now=T0 + 30, state="running")) == []
    out = e.check(Facts(now=T0 + 64, state="running"))       # a minute of running does
    assert kinds(out) == [("down", "recovered")]
    assert e.check(Facts(now=T0 + 120, state="running")) == []
    # or a finished round
    e.observe(crashed(T0 + 4000))
    e.observe(running(T0 + 4001))
    out = e.observe(RoundFinished(round=3, stage=0, reward=0.5, n_local=4, n_external=0, ts=T0 + 4002))
    assert kinds(out) == [("down", "recovered")] and "round 3 finished" in out[0].body


def rf(r, t):
    return RoundFinished(round=r, stage=0, reward=0.5, n_local=4, n_external=0, ts=t)


def test_gave_up_is_an_update_with_the_fix_and_one_recovery():
    e = engine()
    e.observe(crashed(T0))
    out = e.observe(NodeState(state="gave_up", reason="5 failures in a row", source="supervisor", ts=T0 + 1,
                              extra={"fix": "see `swarmdeck logs -p alpha`"}))
    assert kinds(out) == [("down", "update")]
    assert "gave up" in out[0].title and "swarmdeck logs -p alpha" in out[0].body
    e.observe(running(T0 + 9))
    assert kinds(e.observe(rf(1, T0 + 10))) == [("down", "recovered")]


def test_gave_up_is_sent_even_when_the_crash_before_it_was_in_cooldown():
    e = engine(cooldown_minutes=10)
    e.observe(crashed(T0))
    e.observe(running(T0 + 1))
    e.observe(rf(1, T0 + 2))                       # down, recovered
    assert e.observe(crashed(T0 + 60)) == []       # flapping: in cooldown
    out = e.observe(NodeState(state="gave_up", reason="5 failures", source="supervisor", ts=T0 + 70))
    assert kinds(out) == [("down", "update")]
    e.observe(running(T0 + 80))
    assert kinds(e.observe(rf(2, T0 + 81))) == [("down", "recovered")]


def test_cooldown_silences_a_flapping_node_and_its_recovery():
    e = engine(cooldown_minutes=10)
    assert kinds(e.observe(crashed(T0))) == [("down", "fired")]
    e.observe(running(T0 + 5))
    assert kinds(e.observe(rf(1, T0 + 6))) == [("down", "recovered")]
    assert e.observe(crashed(T0 + 60)) == []     # back within 10 min: not sent
    e.observe(running(T0 + 65))
    assert e.observe(rf(2, T0 + 66)) == []       # nor its recovery
    assert kinds(e.observe(crashed(T0 + 700))) == [("down", "fired")]  # after the cooldown it is news again


def test_stop_on_request_clears_without_a_message():
    e = engine()
    e.observe(crashed(T0))
    assert e.observe(NodeState(state="stopped", reason="stop requested", source="supervisor", ts=T0 + 1)) == []
    assert e.active() == []


def test_disabled_condition_and_disabled_alerts_send_nothing():
    assert engine(conditions=("backup",)).observe(crashed(T0)) == []
    assert engine(enabled=False).observe(crashed(T0)) == []


def test_quiet_hours_hold_messages_until_they_end():
    # 12:00 at T0; quiet 12:00-13:00
    e = engine(quiet_hours="12:00-13:00")
    assert e.observe(crashed(T0)) == []
    assert e.check(Facts(now=T0 + 1800)) == []
    out = e.check(Facts(now=T0 + 3601))          # 13:00: quiet hours over, still down -> sent now
    assert kinds(out) == [("down", "fired")]
    # a condition that clears during quiet hours is never sent
    e = engine(quiet_hours="12:00-13:00")
    e.observe(crashed(T0))
    e.observe(running(T0 + 60))
    assert e.observe(rf(1, T0 + 61)) == []
    assert e.check(Facts(now=T0 + 3700)) == []


def test_quiet_hours_wrap_past_midnight():
    at = lambda h, m: time.struct_time((2026, 1, 1, h, m, 0, 0, 1, 0))  # noqa: E731
    assert in_quiet_hours("23:00-07:00", 0, lambda _: at(23, 30))
    assert in_quiet_hours("23:00-07:00", 0, lambda _: at(6, 59))
    assert not in_quiet_hours("23:00-07:00", 0, lambda _: at(7, 0))
    assert not in_quiet_hours("", 0, lambda _: at(23, 30))


def test_oom_and_win_are_one_shot():
    e = engine()
    out = e.observe(Oom(kind="cuda", step_down="8bit -> 4bit", source="supervisor", ts=T0))
    assert kinds(out) == [("oom", "event")] and "8bit -> 4bit" in out[0].body
    assert e.observe(Oom(kind="cuda", ts=T0)) == []   # the node's own oom event: the supervisor's says it
    assert e.observe(ChainTotals(total_reward=1.0, total_wins=3, ts=T0)) == []   # baseline, not news
    out = e.observe(ChainTotals(total_reward=2.0, total_wins=4, ts=T0 + 10))
    assert kinds(out) == [("win", "event")] and "4 win" in out[0].body
    assert e.observe(ChainTotals(total_reward=2.0, total_wins=4, ts=T0 + 20)) == []


def test_no_reward_after_n_rounds_and_recovery():
    e = engine(no_reward_rounds=3)
    rf = lambda r, rew: RoundFinished(round=r, stage=0, reward=rew, n_local=4, n_external=0, ts=T0 + r)  # noqa: E731
    assert e.observe(rf(1, 0.0)) == [] and e.observe(rf(2, 0.0)) == []
    assert kinds(e.observe(rf(3, 0.0))) == [("no_reward", "fired")]
    assert e.observe(rf(4, 0.0)) == []
    assert kinds(e.observe(rf(5, 0.7))) == [("no_reward", "recovered")]


def test_no_progress_and_behind_while_running():
    e = engine(no_progress_rounds=2, behind_rounds=3)
    e.observe(running(T0))
    e.observe(RoundFinished(round=10, stage=0, reward=1.0, n_local=4, n_external=0, ts=T0 + 10))
    assert e.check(Facts(now=T0 + 200, state="running", round_seconds=100, chain_round=12)) == []
    out = e.check(Facts(now=T0 + 211, state="running", round_seconds=100, chain_round=13))
    assert sorted(kinds(out)) == [("behind", "fired"), ("no_progress", "fired")]
    out = e.observe(RoundFinished(round=13, stage=0, reward=1.0, n_local=4, n_external=0, ts=T0 + 220))
    assert kinds(out) == [("no_progress", "recovered")]
    assert kinds(e.check(Facts(now=T0 + 230, state="running", round_seconds=100, chain_round=13))) == \
        [("behind", "recovered")]


def test_facts_disk_backup_sign_in():
    e = engine(disk_free_gb=5)
    out = e.check(Facts(now=T0, disk_free_bytes=2 * 10**9, disk_path="/data", backup_verified=False,
                        signin_required={"reason": "session key refused", "fix": "swarmdeck login -p alpha"}))
    assert sorted(kinds(out)) == [("backup", "fired"), ("disk", "fired"), ("sign_in", "fired")]
    assert "2.0 GB free on /data" in [a for a in out if a.condition == "disk"][0].body
    assert e.check(Facts(now=T0 + 5, disk_free_bytes=2 * 10**9, backup_verified=False,
                         signin_required={"reason": "x", "fix": "y"})) == []
    out = e.check(Facts(now=T0 + 10, disk_free_bytes=50 * 10**9, backup_verified=True, signin_required=None))
    assert sorted(kinds(out)) == [("backup", "recovered"), ("disk", "recovered"), ("sign_in", "recovered")]
    # the login events drive the same condition
    e = engine()
    assert kinds(e.observe(LoginRequired(reason="refused", fix="swarmdeck login", ts=T0))) == [("sign_in", "fired")]
    assert kinds(e.observe(LoginOk(kind="session", ts=T0 + 1))) == [("sign_in", "recovered")]


def test_config_alerts_with_profile_override_and_validation(tmp_path):
    text = config.example_text().replace("cooldown_minutes = 30.0", "cooldown_minutes = 5", 1) \
        .replace('quiet_hours = ""', 'quiet_hours = "23:00-07:00"', 1) \
        + '\n[profiles.default.alerts]\nconditions = ["down", "win"]\nquiet_hours = ""\n'
    doc, problems = config.validate_text(text)
    assert problems == []
    cfg = config.Config(tmp_path / "c.toml", doc)
    a = cfg.alerts("default")
    assert a.cooldown_minutes == 5 and a.quiet_hours == "" and a.conditions == ("down", "win")
    assert cfg.alerts().quiet_hours == "23:00-07:00" and "backup" in cfg.alerts().conditions
    _, problems = config.validate_text('[alerts]\nquiet_hours = "25:00-07:00"\nconditions = ["dwn"]\n'
                                       'url = "tgram://x"\n')
    keys = sorted(p.key for p in problems)
    assert keys == ["alerts.conditions", "alerts.quiet_hours", "alerts.url"], problems


def test_url_file_is_0600_refused_when_readable_and_redacted(tmp_path):
    p = urls_path(AlertSettings())
    assert p.name == "alert-urls"
    url = "tgram://123456789:AAFsecretTOKENxyz/987654"
    assert add_url(p, url) == 1
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert load_urls(p) == [url]
    assert redact(url) == "tgram://…" and "secret" not in redact(url)
    assert "AAFsecret" not in redact_text(f"failed to send to {url}: 401", [url])
    os.chmod(p, 0o644)
    with pytest.raises(ConfigError) as ei:
        load_urls(p)
    assert "chmod 600" in ei.value.fix and "AAFsecret" not in str(ei.value)
    os.chmod(p, 0o600)
    with pytest.raises(ConfigError) as ei:
        add_url(p, "nosuchscheme://AAFsecret")
    assert "AAFsecret" not in str(ei.value)
    assert remove_url(p, 1) == "tgram://…" and load_urls(p) == []


def test_sender_posts_through_apprise_json_to_a_real_receiver(tmp_path):
    notes: list[str] = []
    with Receiver() as rx, Receiver(status=500) as bad:
        p = tmp_path / "urls"
        add_url(p, rx.json_url("alerts"))
        add_url(p, bad.json_url("secretpath123"))
        s = AlertSender(p, on_note=notes.append)
        s.submit(Alert("alpha", "down", "fired", "swarmdeck [alpha] node down", "the node stopped", T0))
        msgs = rx.wait_for(1)
        bad.wait_for(1)
        s.close()
    assert len(msgs) == 1 and msgs[0]["path"] == "/alerts"
    assert msgs[0]["body"]["title"] == "swarmdeck [alpha] node down"
    assert msgs[0]["body"]["message"] == "the node stopped" and msgs[0]["body"]["type"] == "failure"
    assert any("not delivered to json://…" in n for n in notes), notes
    assert not any("secretpath123" in n or str(bad.port) in n for n in notes), notes


def test_send_once_reports_each_url():
    with Receiver() as rx:
        res = send_once([rx.json_url()], "t", "b", "test")
        assert res == [("json://…", True)] and len(rx.wait_for(1)) == 1


def test_example_documents_the_alert_defaults():
    import tomlkit

    data = tomlkit.parse(config.example_text()).unwrap()
    assert set(data["alerts"]) == set(config.ALERT_FIELDS)
    for k, f in config.ALERT_FIELDS.items():
        assert data["alerts"][k] == f.default, k
        v = getattr(AlertSettings(), k)
        assert (list(v) if isinstance(v, tuple) else v) == f.default, k


def test_snapshot_restore_keeps_a_restarted_engine_change_only():
    e = engine()
    e.check(Facts(now=T0, backup_verified=False))
    e.observe(crashed(T0))
    e.observe(ChainTotals(total_reward=1.0, total_wins=2, ts=T0))
    assert e.dirty
    snap = e.snapshot()
    assert not e.dirty
    e2 = engine()
    e2.restore(snap)
    assert e2.check(Facts(now=T0 + 60, backup_verified=False)) == []          # not sent again
    e2.observe(running(T0 + 61))
    assert kinds(e2.observe(rf(1, T0 + 62))) == [("down", "recovered")]      # its recovery still is
    assert kinds(e2.observe(ChainTotals(total_reward=1.0, total_wins=3, ts=T0 + 63))) == [("win", "event")]
    e3 = engine()
    e3.restore({"v": 1, "conds": {"down": "garbage", "disk": {"active": True, "since": "x"}}})
    assert kinds(e3.observe(crashed(T0))) == [("down", "fired")]


def test_round_progress_counts_only_once_the_node_runs_not_while_it_prepares():
    """Issue 20: a first demo-model build took minutes and raised "no round progress" at minute 3."""
    e = engine(no_progress_rounds=2, behind_rounds=3)
    e.observe(NodeState(state="starting", source="supervisor", ts=T0))
    e.observe(running(T0 + 1))  # a running said early (say, before the node's `preparing`) ...
    e.observe(NodeState(state="preparing", source="supervisor", ts=T0 + 2))  # ... is taken back
    for t in (100, 300, 600):
        assert e.check(Facts(now=T0 + t, state="preparing", round_seconds=30, chain_round=40)) == []
    e.observe(running(T0 + 601))
    assert e.check(Facts(now=T0 + 650, state="running", round_seconds=30, chain_round=40)) == []
    out = e.check(Facts(now=T0 + 662, state="running", round_seconds=30, chain_round=40))
    assert kinds(out) == [("no_progress", "fired")]  # counted from running, not from the start


def test_preparing_after_running_restarts_the_count_without_a_state_fact():
    e = engine(no_progress_rounds=2)
    e.observe(running(T0))
    e.observe(NodeState(state="preparing", source="supervisor", ts=T0 + 1))
    e.observe(running(T0 + 500))
    # the periodic check's state fact says running (it never saw preparing): the count starts at T0+500
    assert e.check(Facts(now=T0 + 540, state="running", round_seconds=30)) == []


def test_peer_ignored_fires_names_the_peer_updates_and_recovers():
    from core.events.types import PeerTrust

    e = engine()
    liar = {"peer_id": "QmLiar", "reason": "disagree", "since_round": 3, "until_round": 23}
    assert e.observe(PeerTrust(round=2, refused={"disagree": 1}, ts=T0)) == []      # a strike, nobody ignored
    out = e.observe(PeerTrust(round=3, refused={"disagree": 2}, ignored=(liar,), ts=T0 + 1))
    assert kinds(out) == [("peer_ignored", "fired")]
    assert "peer QmLiar ignored: claimed rewards disagree with local scores" in out[0].body
    assert e.observe(PeerTrust(round=4, ignored=(liar,), ts=T0 + 2)) == []         # no repeat while it holds
    old = {"peer_id": "QmOld", "reason": "unverifiable", "until_round": 25}
    out = e.observe(PeerTrust(round=5, ignored=(liar, old), ts=T0 + 3))
    assert kinds(out) == [("peer_ignored", "update")] and "QmOld" in out[0].body and "provenance" in out[0].body
    out = e.observe(PeerTrust(round=30, ignored=(), ts=T0 + 4))
    assert kinds(out) == [("peer_ignored", "recovered")]
    off = engine(conditions=("down",))
    assert off.observe(PeerTrust(round=3, ignored=(liar,), ts=T0)) == []
