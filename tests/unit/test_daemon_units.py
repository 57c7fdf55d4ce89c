"""Pure parts of the supervisor: request parsing, the downshift ladder, settings, state file, log tail."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings, strategies as st

from core import supervisor
from core.base import constants
from core.base.errors import SupervisorError
from core.base.paths import ProfilePaths
from core.config.settings import SupervisorConfig
from core.supervisor import downshift, server
from core.supervisor.settings import SupervisorSettings, from_config


def test_parse_request_accepts_valid_and_fills_defaults():
    assert server.parse_request(b'{"v":1,"id":"a","cmd":"status"}') == {"id": "a", "cmd": "status"}
    r = server.parse_request('{"v":1,"id":7,"cmd":"logs","follow":true}')
    assert r == {"id": 7, "cmd": "logs", "follow": True, "n": 100, "source": "node"}


@pytest.mark.parametrize("line,code", [
    (b"", "bad_json"), (b"null", "bad_request"), (b'"x"', "bad_request"),
    (b'{"v":1,"cmd":"status","id":true}', "bad_request"),
    (b'{"v":1,"cmd":"status","id":1.5}', "bad_request"),
    (b'{"v":"1","cmd":"status"}', "bad_version"),
    (b'{"v":1,"cmd":"logs","n":true}', "bad_request"),
    (b'{"v":1,"cmd":"logs","source":"../../etc/passwd"}', "bad_request"),
    (b'{"v":1,"cmd":"logs","n":10001}', "bad_request"),
    (b'{"v":1,"cmd":"subscribe"}', "unknown_cmd"),  # removed: clients follow events.jsonl
    (b"x" * (server.MAX_LINE + 1), "too_large"),
])
def test_parse_request_rejects(line, code):
    with pytest.raises(server.ProtocolError) as e:
        server.parse_request(line)
    assert e.value.code == code


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                 st.dictionaries(st.sampled_from(["v", "id", "cmd", "n", "replay", "now", "types", "source", "zz"]),
                                 st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
                                           st.lists(st.integers(), max_size=3)), max_size=6)
                 .map(lambda d: json.dumps(d).encode())))
def test_parse_request_never_raises_anything_else(line):
    try:
        r = server.parse_request(line)
    except server.ProtocolError as e:
        assert e.code in {"bad_json", "bad_request", "bad_version", "unknown_cmd", "too_large"}
    else:
        assert r["cmd"] in server.COMMANDS


def test_downshift_ladder():
    steps, ov, mode = [], {}, "bf16"
    while (nxt := downshift.next_downshift(ov, mode, None, 8, 512)) is not None:
        ov, desc = nxt
        steps.append(desc)
    assert steps == ["quant bf16 -> 8bit", "quant 8bit -> 4bit", "generations 8 -> 4", "generations 4 -> 2",
                     "max_new_tokens 512 -> 256", "max_new_tokens 256 -> 128"]
    assert ov == {"quant": "4bit", "generations": 2, "max_new_tokens": 128}
    # unknown mode (auto, node never said): straight to 4-bit
    assert downshift.next_downshift({}, None, "auto", None, None) == ({"quant": "4bit"}, "quant auto -> 4bit")
    assert downshift.next_downshift({}, None, "8bit", None, None)[0] == {"quant": "4bit"}


def test_state_update_keeps_other_keys():
    paths = ProfilePaths("unit")
    paths.root.mkdir(parents=True)
    paths.state_file.write_text(json.dumps({"backup": {"verified": True}}))
    downshift.state_update(paths, "downshift", lambda cur: {"level": 1, "overrides": {"quant": "4bit"}, "history": []})
    data = json.loads(paths.state_file.read_text())
    assert data["backup"] == {"verified": True} and data["downshift"]["level"] == 1
    assert downshift.read_downshift(paths)["overrides"] == {"quant": "4bit"}
    paths.state_file.write_text("{torn")
    assert downshift.read_downshift(paths)["level"] == 0


def test_settings_from_config_names_and_env(monkeypatch):
    try:
        from core.identity.profiles import create_profile
    except ImportError:
        pytest.skip("core.identity.profiles not there yet")
    create_profile("cfg", identity=False, daemon={"restart_backoff_initial": 5.0, "log_max_mb": 2,
                                                  "event_replay": 100, "stop_timeout": 7.0})
    s = supervisor.load_settings("cfg")
    assert (s.backoff_base, s.log_max_bytes, s.replay, s.stop_timeout) == (5.0, 2 * 2**20, 100, 7.0)
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", '{"stop_timeout": 1.5}')
    assert supervisor.load_settings("cfg").stop_timeout == 1.5
    with pytest.raises(SupervisorError):
        supervisor.SupervisorSettings.from_mapping({"stop_timeout": "soon"})


def test_node_command_override(monkeypatch):
    assert supervisor.node_command("p")[-3:] == ["core.node", "--profile", "p"]
    monkeypatch.setenv("SWARMDECK_NODE_CMD", "python fake.py --profile {profile} --x 'a b'")
    assert supervisor.node_command("p") == ["python", "fake.py", "--profile", "p", "--x", "a b"]


def test_tail_file_spans_rotation(tmp_path):
    p = tmp_path / "node.log"
    (tmp_path / "node.log.1").write_text("".join(f"old{i}\n" for i in range(10)))
    p.write_text("new0\nnew1\n")
    assert supervisor.tail_file(p, 4) == ["old8", "old9", "new0", "new1"]
    assert supervisor.tail_file(p, 0) == []
    assert supervisor.tail_file(tmp_path / "missing.log", 3) == []


def test_query_status_none_when_not_running():
    assert supervisor.query_status(ProfilePaths("nobody")) is None
    with pytest.raises(supervisor.NotRunning):
        supervisor.ControlClient(ProfilePaths("nobody")).status()


def test_supervisor_defaults_are_the_config_declarations():
    """One declaration per setting: the user's keys' defaults come from SupervisorConfig."""
    assert from_config(SupervisorConfig()) == SupervisorSettings()
    s, cfg = SupervisorSettings(), SupervisorConfig()
    assert (s.stop_timeout, s.max_quick_failures, s.stall_timeout, s.log_max_bytes, s.events_max_bytes) == \
        (cfg.stop_timeout, cfg.max_quick_failures, cfg.stall_timeout, cfg.log_max_mb * 2**20, cfg.events_max_mb * 2**20)
    # fast test timings are overrides on top of the user's table
    fast = from_config(SupervisorConfig(stop_timeout=9.0), {"poll_interval": 0.1})
    assert (fast.stop_timeout, fast.poll_interval, fast.backoff_base) == (9.0, 0.1, cfg.restart_backoff_initial)


def test_status_is_typed_and_its_wire_form_unchanged(tmp_path):
    sup = supervisor.Supervisor("typed", settings=SupervisorSettings(), node_cmd=["true"])
    try:
        st = sup.status()
        assert isinstance(st, supervisor.SupervisorStatus)
        with pytest.raises(Exception):
            st.state = "running"  # frozen
        d = st.to_dict()
        assert list(d) == ["profile", "state", "reason", "since", "supervisor_pid", "supervisor_uptime", "child_pid",
                           "child_uptime", "last_event_age", "round", "mode", "rss_mb", "restarts", "quick_failures",
                           "next_restart_in", "last_exit", "downshift", "subscribers", "connections", "node_cmd",
                           "log_dir", "events_file", "settings"]
        assert d["state"] == "stopped" and d["child_pid"] is None and d["settings"]["stop_timeout"] == 60.0
        assert d["downshift"] == {"level": 0, "overrides": {}}
    finally:
        sup.bus.close()
        for h in sup.log.handlers + sup.nodelog.handlers:
            h.close()


def test_exit_codes_are_shared_with_the_node():
    from core.node import runner
    from core.supervisor import supervisor as sup_module

    assert runner.EXIT_OOM is sup_module.EXIT_OOM is constants.EXIT_OOM
    assert runner.EXIT_CONFIG is sup_module.EXIT_CONFIG is constants.EXIT_CONFIG
