"""The fleet's pure parts: target and name checks, the remote command line, ssh's errors in words, the
watchtower's rules (core.fleet.watch over core.alerts.rules). The real-SSH paths are in
tests/e2e/test_fleet_netns.py."""

from __future__ import annotations

import shlex

import pytest

from core.config.settings import AlertSettings
from core.fleet import registry, remote
from core.fleet.registry import FleetError, FleetHost
from core.fleet.ssh import Ssh, remote_command_line
from core.fleet.watch import FleetRules


@pytest.mark.parametrize("text,user,host,port", [
    ("gpu1", None, "gpu1", None), ("alice@gpu1.example.org", "alice", "gpu1.example.org", None),
    ("bob@192.0.2.7:2222", "bob", "192.0.2.7", 2222), ("[2001:db8::1]:22", None, "2001:db8::1", 22)])
def test_targets_parse(text, user, host, port):
    t = registry.parse_target(text)
    assert (t.user, t.host, t.port) == (user, host, port)


@pytest.mark.parametrize("bad", ["", "-oProxyCommand=touch /tmp/x", "a b", "host;id", "x@", "h:99999", "$(id)@h",
                                 "h:0"])
def test_bad_targets_are_refused_with_the_form(bad):
    with pytest.raises(FleetError) as e:
        registry.parse_target(bad)
    assert "SSH_TARGET" in (e.value.where or "") and e.value.fix


@pytest.mark.parametrize("bad", ["a;b", "$(id)", "a b", "../x", "-p", "x" * 40, "a\nb", ""])
def test_profile_names_are_checked_before_any_command_line(bad):
    with pytest.raises(FleetError) as e:
        remote.args_for("stop", bad)
    assert "nothing was sent" in e.value.what


def test_the_command_set_is_fixed():
    assert remote.args_for("status") == ["status", "--json"]
    assert remote.args_for("stop", "a1", now=True) == ["stop", "--now", "-p", "a1"]
    assert remote.args_for("events", "a1", history=5) == ["events", "--follow", "--json", "-n", "5", "-p", "a1"]
    with pytest.raises(FleetError):
        remote.args_for("rm", "a1")


def test_remote_command_line_quotes_every_word():
    line = remote_command_line("/opt/sd bin/swarmdeck", ["stop", "-p", "a1"])
    assert shlex.split(line) == ["/opt/sd bin/swarmdeck", "stop", "-p", "a1"]
    assert remote_command_line("~/bin/swarmdeck", ["status"]).startswith('"$HOME"/')
    with pytest.raises(FleetError):
        registry.check_remote_path("swarmdeck; rm -rf ~")


def test_hosts_file_and_dir_are_private():
    registry.add_host(FleetHost("h1", "alice@192.0.2.1", None, "swarmdeck"))
    assert [h.name for h in registry.load_hosts()] == ["h1"]
    assert registry.fleet_dir().stat().st_mode & 0o777 == 0o700
    assert registry.hosts_file().stat().st_mode & 0o777 == 0o600
    assert registry.control_dir().stat().st_mode & 0o777 == 0o700
    with pytest.raises(FleetError) as e:
        registry.get_host("nope")
    assert "fleet add" in e.value.fix


def test_ssh_is_run_keys_only_with_our_known_hosts():
    ssh = Ssh(FleetHost("h1", "alice@192.0.2.1:2200", "/k/id", "swarmdeck"))
    argv = ssh.base_argv()
    opts = {argv[i + 1] for i, a in enumerate(argv) if a == "-o"}
    for o in ("BatchMode=yes", "PasswordAuthentication=no", "StrictHostKeyChecking=yes", "ForwardAgent=no",
              "GlobalKnownHostsFile=/dev/null", "IdentitiesOnly=yes", "ClearAllForwardings=yes"):
        assert o in opts
    assert f"UserKnownHostsFile={registry.known_hosts_file()}" in opts
    assert argv[argv.index("-F") + 1] == str(registry.ssh_config_file())
    assert argv[argv.index("-p") + 1] == "2200"


@pytest.mark.parametrize("stderr,words", [
    ("@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n", "HAS CHANGED"),
    ("alice@192.0.2.1: Permission denied (publickey).", "refused"),
    ("ssh: connect to host 192.0.2.1 port 22: Connection timed out", "unreachable"),
    ("ssh: connect to host 192.0.2.1 port 22: Connection refused", "nothing answers SSH"),
    ("Host key verification failed.", "not known")])
def test_ssh_failures_in_words(stderr, words):
    e = Ssh(FleetHost("h1", "alice@192.0.2.1")).explain(stderr, 255)
    assert words in e.what and e.where and e.fix


def _poll(name, reachable=True, profiles=(), error=None):
    return {"name": name, "reachable": reachable, "error": error,
            "profiles": [{"name": n, "state": s} for n, s in profiles]}


def test_unreachable_after_two_failed_polls_once_then_recovered_once():
    r = FleetRules(AlertSettings(cooldown_minutes=0))
    down = _poll("x", False, error={"what": "fleet host x is unreachable"})
    assert r.observe(_poll("x", profiles=[("p", "running")]), 0) == []
    assert r.observe(down, 10) == []
    fired = r.observe(down, 20)
    assert [(a.condition, a.kind) for a in fired] == [("unreachable", "fired")] and "host x" in fired[0].title
    assert r.observe(down, 30) == [] and r.observe(down, 40) == []
    back = r.observe(_poll("x", profiles=[("p", "running")]), 50)
    assert [(a.condition, a.kind) for a in back] == [("unreachable", "recovered")]
    assert r.observe(_poll("x", profiles=[("p", "running")]), 60) == []
    # one failed poll alone is not an outage
    assert r.observe(down, 70) == [] and r.observe(_poll("x", profiles=[("p", "running")]), 80) == []


def test_remote_node_down_gave_up_and_recovered_through_the_alert_engine():
    r = FleetRules(AlertSettings(cooldown_minutes=0))
    assert r.observe(_poll("x", profiles=[("p", "running"), ("q", "stopped")]), 0) == []
    a = r.observe(_poll("x", profiles=[("p", "crashed"), ("q", "stopped")]), 10)
    assert [(x.condition, x.kind) for x in a] == [("down", "fired")] and "p on x" in a[0].title
    a = r.observe(_poll("x", profiles=[("p", "gave_up"), ("q", "stopped")]), 20)
    assert [x.kind for x in a] == ["update"] and "gave up" in a[0].title
    r.observe(_poll("x", profiles=[("p", "running"), ("q", "stopped")]), 30)
    a = r.observe(_poll("x", profiles=[("p", "running"), ("q", "stopped")]), 30 + 61)
    assert [(x.condition, x.kind) for x in a] == [("down", "recovered")]


def test_unreachable_can_be_switched_off():
    r = FleetRules(AlertSettings(conditions=("down",)))
    down = _poll("x", False)
    assert r.observe(down, 0) == [] and r.observe(down, 10) == [] and r.observe(_poll("x"), 20) == []


def test_watch_service_unit_runs_the_watch_module(tmp_path, monkeypatch):
    from tui.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert main(["fleet", "service", "install", "--interval", "30"]) == 0
    unit = (tmp_path / "systemd" / "user" / "swarmdeck-fleet-watch.service").read_text()
    line = next(ln for ln in unit.splitlines() if ln.startswith("ExecStart="))
    assert line.endswith("-m tui.commands.fleet_cmd watch --interval 30")


def test_a_remote_profile_shows_the_load_of_its_own_gpus():
    """status --json's gpus_now (read through a stand-in NVML: no GPU exists here) reaches the fleet row of
    the profile that uses that GPU: by its configured index, else by its node's cuda:N device; CPU profiles
    and a host without a driver show none."""
    from core.fleet.status import gpu_text, profile_row
    from core.usecases.profile_state import gpus_now
    from tests.unit.test_telemetry import FakeNVML, NVMLError

    host = gpus_now(nvml=FakeNVML())
    assert [(g["index"], g["util_pct"], g["mem_used_mib"], g["mem_total_mib"]) for g in host] == \
        [(0, 55.0, 2048, 24576), (1, None, 2048, 24576)]
    assert gpus_now(nvml=FakeNVML(init_error=NVMLError("Driver Not Loaded"))) == []

    by_config = profile_row({"name": "a", "gpus": [0], "live": {"device": "cuda", "mode": "4bit"}}, host)
    assert (by_config["gpu"]["util_pct"], by_config["gpu"]["mem_used_mib"]) == (55.0, 2048)
    assert gpu_text(by_config["gpu"]) == "cuda/4bit 55% 2.0/24.0G"
    by_device = profile_row({"name": "b", "gpus": [], "live": {"device": "cuda:1", "mode": "bf16"}}, host)
    assert by_device["gpu"]["util_pct"] is None and by_device["gpu"]["mem_total_mib"] == 24576
    both = profile_row({"name": "c", "gpus": [0, 1], "live": {}}, host)
    assert (both["gpu"]["util_pct"], both["gpu"]["mem_used_mib"]) == (55.0, 4096)
    cpu = profile_row({"name": "d", "gpus": [], "live": {"device": "cpu", "mode": "fp32"}}, host)
    assert cpu["gpu"]["util_pct"] is None and gpu_text(cpu["gpu"]) == "cpu/fp32"
    assert gpu_text(profile_row({"name": "e"}, None)["gpu"]) == "-"
