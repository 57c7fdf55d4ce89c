"""tui.backend.CoreBackend, the TUI's typed door to core: wizard results into config, states, event tailing."""

from __future__ import annotations

import os
import shutil
import time

from core.config.settings import load_config
from core.events.types import NodeState, RoundStarted
from core.base.paths import ProfilePaths
from tui.model.wizard import Hardware, Wizard
from tui.backend import CoreBackend

data = CoreBackend()

HW = Hardware(cpu_mode_reason="no driver", recommended_model="Qwen/Qwen2.5-0.5B-Instruct", recommended_quant="fp32")


def _custom_wizard(name=None, existing=()):
    w = Wizard(HW, name=name, existing_profiles=existing, ask_name=name is None)
    if name is None:
        w.answer({"name": "lab1"})
    w.answer({"network": "custom"})
    w.answer({"custom_name": "lab", "rpc_url": "http://10.0.0.5:8545", "chain_id": "31337",
              "coordinator": "0x" + "cd" * 20, "bootnodes": "/ip4/10.0.0.5/tcp/38331/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"})
    for _ in range(4):
        w.answer({})
    return w.result()


def test_first_run_sets_up_the_example_profile_with_a_custom_network():
    assert data.needs_setup("default")
    data.create_profile(_custom_wizard(name="default"), configure_existing=True)
    cfg = load_config()
    assert cfg.profile_settings("default").network == "lab"
    net = cfg.network("lab")
    assert (net.rpc_url, net.chain_id, net.coordinator, net.backend) == ("http://10.0.0.5:8545", 31337,
                                                                         "0x" + "cd" * 20, "web3")
    assert not data.needs_setup("default") and ProfilePaths("default").swarm_pem.exists()


def test_new_profile_from_the_wizard_and_states():
    data.create_profile(_custom_wizard(existing=["default"]))
    assert "lab1" in data.list_profiles()
    assert data.profile_state("lab1") == "needs_login"
    assert data.node_state("lab1") == "stopped"
    pp = ProfilePaths("lab1")
    with open(pp.events_file, "a") as f:
        f.write(NodeState(state="crashed", reason="exit 1", seq=1, ts=time.time()).to_json() + "\n")
    assert data.profile_state("lab1") == "crashed"


def test_event_source_reads_new_lines_only_and_waits_for_torn_ones():
    data.create_profile(_custom_wizard(existing=["default"]))
    src = data.event_source("lab1")
    assert src.poll() == []
    path = ProfilePaths("lab1").events_file
    line = RoundStarted(round=1, stage=0, seq=1, ts=time.time()).to_json()
    with open(path, "a") as f:
        f.write(line + "\n" + line[:20])  # the second one is still being written
    assert [e.round for e in src.poll()] == [1]
    with open(path, "a") as f:
        f.write(line[20:] + "\n")
    assert [e.type for e in src.poll()] == ["round.started"]
    assert src.poll() == []
    os.truncate(path, 0)  # rotated: start over without crashing
    assert src.poll() == []


def test_duplicates_cache_follows_file_changes():
    from core.identity import profiles

    profiles.create_profile("a")
    profiles.create_profile("b")
    assert data.duplicates() == []
    pa, pb = ProfilePaths("a"), ProfilePaths("b")
    pb.swarm_pem.unlink()
    shutil.copy2(pa.swarm_pem, pb.swarm_pem)
    dups = data.duplicates()
    assert len(dups) == 1 and set(dups[0].profiles) == {"a", "b"} and "a, b" in dups[0].what


def test_ssh_line_and_login_url():
    assert data.ssh_tunnel_line(3000, {}) is None
    env = {"SSH_CONNECTION": "198.51.100.7 50123 192.0.2.10 22", "USER": "bob"}
    assert data.ssh_tunnel_line(3001, env) == "ssh -L 3001:localhost:3001 bob@192.0.2.10"
    assert data.login_url("default").startswith("http://localhost:3000")
