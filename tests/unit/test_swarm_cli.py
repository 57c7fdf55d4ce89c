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
