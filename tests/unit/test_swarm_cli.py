"""`swarmdeck swarm ...` parses as documented; the host's systemd unit runs the host process in the foreground."""

from __future__ import annotations

from core.hosting.host import unit_text
from tui.cli import build_parser


def test_swarm_commands_parse():
    p = build_parser()
    a = p.parse_args(["swarm", "host", "--name", "s1", "--public-addr", "203.0.113.7", "--round-seconds", "60",
                      "--chain-id", "685685", "--rpc", "http://x:8545", "--deployer-key", "k", "--systemd"])
    assert (a.name, a.public_addr, a.round_seconds, a.chain_id, a.rpc, a.deployer_key, a.systemd) == \
        ("s1", "203.0.113.7", 60.0, 685685, "http://x:8545", "k", True)
    j = p.parse_args(["swarm", "join", "swarmdeck-invite1.a.b", "-p", "mine", "--model", "tiny"])
    assert (j.invite, j.profile, j.model) == ("swarmdeck-invite1.a.b", "mine", "tiny")
    assert p.parse_args(["swarm", "invite", "--no-qr"]).no_qr
    t = p.parse_args(["swarm", "host", "--train", "--model", "tiny", "--faucet-key", "f.key"])
    assert (t.train, t.model, t.faucet_key, t.train_profile) == (True, "tiny", "f.key", None)
    assert p.parse_args(["swarm", "stop", "--name", "s1"]).name == "s1"


def test_host_unit_runs_the_host_process():
    text = unit_text("my swarm", "/opt/venv/bin/python", "/src/swarmdeck")
    assert "ExecStart=/opt/venv/bin/python -m core.hosting serve 'my swarm'" in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
    assert "PYTHONPATH=/src/swarmdeck" in text


def test_swarm_status_prints_why_a_part_is_down(monkeypatch, capsys):
    """A part that is not running prints its reason (it raised NameError: the reason's reader was imported
    in another function). The host's status is given here; test_swarm_host reads a real one."""
    from core.usecases import swarm_hosting as sh

    st = {"name": "s", "running": True, "keeper": {"state": "running", "restarts": 0}, "rpc_url": "http://127.0.0.1:1",
          "round": 3, "alerts": {}, "bootnode": "/ip4/192.0.2.1/tcp/38331/p2p/QmBoot", "bootnode_backup": {"state": "none"},
          "parts": {"chain": {"state": "running", "uptime": 30, "restarts": 0},
                    "bootnode": {"state": "gave_up", "uptime": None, "restarts": 5, "reason": "exited with code 78"}}}
    monkeypatch.setattr(sh, "hosted", lambda: ["s"])
    monkeypatch.setattr(sh, "host_status", lambda name: st)
    args = build_parser().parse_args(["swarm", "status"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "exited with code 78" in out and "bootnode" in out
