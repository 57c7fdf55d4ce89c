"""The one systemd user-unit template (core.base.systemd) behind the node, host, metrics and watchtower units."""

import configparser

from core.base.systemd import user_unit
from core.hosting.host import unit_text as host_unit
from tui.commands import fleet_cmd, metrics_cmd, node_cmd


def _parse(text: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(interpolation=None, strict=True)  # strict: a doubled key is an error
    cp.optionxform = str
    cp.read_string(text)
    return cp


def test_every_unit_parses_and_restarts_on_failure():
    units = {"node": node_cmd.unit_text("alpha"), "metrics": metrics_cmd.unit_text("127.0.0.1", 9100),
             "watch": fleet_cmd.unit_text(15), "host": host_unit("s1", "/opt/py", "/src")}
    for name, text in units.items():
        cp = _parse(text)
        assert cp.sections() == ["Unit", "Service", "Install"], name
        assert cp["Service"]["Restart"] == "on-failure", name
        assert cp["Install"]["WantedBy"] == "default.target", name
    assert _parse(units["node"])["Service"]["ExecStop"].endswith(" stop -p alpha")
    assert _parse(units["host"])["Service"]["Environment"] == "PYTHONUNBUFFERED=1 PYTHONPATH=/src"
    assert _parse(units["watch"])["Service"]["ExecStart"].endswith("fleet_cmd watch --interval 15")


def test_options_appear_only_when_asked():
    plain = _parse(user_unit("d", "/bin/x", "/w", wants_network=False))
    assert "Wants" not in plain["Unit"] and "KillMode" not in plain["Service"] and "ExecStop" not in plain["Service"]
    full = _parse(user_unit("d", "/bin/x", "/w", exec_stop="/bin/y", kill_mode="mixed", stop_timeout_s=7, restart_s=3))
    s = full["Service"]
    assert (s["ExecStop"], s["KillMode"], s["TimeoutStopSec"], s["RestartSec"]) == ("/bin/y", "mixed", "7", "3")
