"""`swarmdeck doctor --network gensyn-testnet` through the real CLI (a subprocess, `python -m tui`).

The public testnet cannot be reached from here: anvil started with chain id 685685 plays it, with
our coordinator deployed, and config.toml's [networks.gensyn-testnet] points rpc_url/coordinator at
it. Covered: all good; an RPC on a dead port (plain "cannot reach", bounded time); an RPC with the
wrong chain id; a coordinator address without code; a hung RPC stays within the check's bound.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.base import paths
from core.doctor import network
from core.chain.devnet import free_port

from tests.helpers.chain import chain_in
from tests.helpers.http import hung_rpc

REPO = Path(__file__).resolve().parents[2]
NO_CODE = "0x" + "11" * 20
BOOT_PORT = free_port()  # test_all_good listens there: doctor tries the bootnodes it lists
BOOT = f"/ip4/127.0.0.1/tcp/{BOOT_PORT}/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"


@pytest.fixture(scope="module")
def testnet(tmp_path_factory):
    """anvil as the gensyn testnet (chain id 685685), one bootnode, round 1."""
    with chain_in(tmp_path_factory.mktemp("tnhome"), network="tn", chain_id=685685) as c:
        c.add_bootnodes([BOOT])
        c.advance()
        yield c


def write_config(rpc_url: str, coordinator: str, profile_network: str = "local") -> Path:
    text = (REPO / "config.example.toml").read_text()
    text = re.sub(r'^network = "local"$', f'network = "{profile_network}"', text, count=1, flags=re.M)
    text += f'\n[networks.gensyn-testnet]\nrpc_url = "{rpc_url}"\ncoordinator = "{coordinator}"\n'
    p = paths.config_file()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def doctor(*args: str, timeout: float = 90):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "tui", "doctor", "--no-torch", *args], cwd=REPO, env=dict(os.environ),
                       capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - t0
    assert "Traceback" not in r.stdout + r.stderr, r.stderr
    return r.returncode, r.stdout, r.stderr, took


def net_checks(out: str) -> tuple[dict, dict]:
    rep = json.loads(out)
    return rep, {c["id"]: c for c in rep["checks"] if c["id"].startswith("net_")}


def expected_rc(rep: dict) -> int:
    return 1 if any(c["status"] == "fail" for c in rep["checks"]) else 0


@pytest.fixture
def bootnode_listening():
    """Something accepting TCP connections at BOOT's address (doctor only connects, it speaks no p2p)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", BOOT_PORT))
        s.listen(8)
        yield


@pytest.mark.timeout(180)
def test_all_good(testnet, bootnode_listening):
    write_config(testnet.rpc_url, testnet.coordinator)
    rc, out, err, _ = doctor("--network", "gensyn-testnet")
    assert "[ok  ] gensyn-testnet RPC:" in out and testnet.rpc_url in out
    assert "[ok  ] gensyn-testnet chain id: 685685" in out
    assert f"[ok  ] gensyn-testnet coordinator: {testnet.coordinator} has contract code" in out
    assert "[ok  ] gensyn-testnet bootnodes: 1 from getBootnodes()" in out and BOOT in out
    assert "[info] gensyn-testnet round: round 1, stage 0" in out
    assert "asking the gensyn-testnet RPC" in err
    rc_json, jout, _, _ = doctor("--json", "--network", "gensyn-testnet")
    rep, net = net_checks(jout)
    assert rep["network"] == "gensyn-testnet"
    assert set(net) == {"net_rpc", "net_chain_id", "net_coordinator", "net_bootnodes", "net_bootnode_reach",
                        "net_round"}
    assert all(c["status"] in ("ok", "info") for c in net.values()), net
    others_fail = [c for c in rep["checks"] if c["status"] == "fail"]
    assert rc == rc_json == expected_rc(rep)  # 0 on a machine whose other checks pass (this one's do)
    assert rc == 0 or others_fail, out

    # no --network: the current profile's network is checked when it is not "local"
    write_config(testnet.rpc_url, testnet.coordinator, profile_network="gensyn-testnet")
    _, jout, _, _ = doctor("--json")
    rep, net = net_checks(jout)
    assert rep["network"] == "gensyn-testnet" and net["net_chain_id"]["detail"] == "685685"
    write_config(testnet.rpc_url, testnet.coordinator)  # profile on "local": no network checks
    _, jout, _, _ = doctor("--json")
    rep, net = net_checks(jout)
    assert rep["network"] is None and net == {}


@pytest.mark.timeout(120)
def test_a_listed_bootnode_nobody_answers_at_fails(testnet):
    write_config(testnet.rpc_url, testnet.coordinator)
    rc, out, _, took = doctor("--json", "--network", "gensyn-testnet")
    _, net = net_checks(out)
    reach = net["net_bootnode_reach"]
    assert reach["status"] == "fail" and BOOT in reach["detail"] and "refused" in reach["detail"].lower(), reach
    assert "firewall" in reach["fix"] and rc == 1 and took < 60


@pytest.mark.timeout(120)
def test_rpc_on_a_dead_port_is_reported_plainly_and_fast():
    url = f"http://127.0.0.1:{free_port()}"
    write_config(url, "0x2fC68a233EF9E9509f034DD551FF90A79a0B8F82")
    rc, out, _, took = doctor("--network", "gensyn-testnet")
    assert rc == 1
    assert f"[FAIL] gensyn-testnet RPC: cannot reach the gensyn-testnet RPC at {url}: connection refused." in out
    assert "The public testnet may be down or paused (RL Swarm is marked paused)" in out
    assert "fix:" in out and "rpc_url under [networks.gensyn-testnet]" in out
    assert "chain id" not in out.split("gensyn-testnet RPC:")[1].split("Recommended")[0]  # nothing after it
    assert took < 20, took
    _, jout, _, _ = doctor("--json", "--network", "gensyn-testnet")
    rep, net = net_checks(jout)
    assert list(net) == ["net_rpc"] and net["net_rpc"]["status"] == "fail" and net["net_rpc"]["fix"]
    assert not rep["ok"]


@pytest.mark.timeout(180)
def test_wrong_chain_id_names_both_numbers_and_the_key(tmp_path):
    with chain_in(tmp_path / "devhome", network="dev") as dev:  # anvil's default chain id 31337
        write_config(dev.rpc_url, dev.coordinator)
        rc, out, _, _ = doctor("--network", "gensyn-testnet")
    assert rc == 1
    line = next(ln for ln in out.splitlines() if "gensyn-testnet chain id" in ln)
    assert line.startswith("[FAIL]") and "31337" in line and "685685" in line
    assert "chain_id in [networks.gensyn-testnet]" in line
    assert "set chain_id = 31337" in out  # the fix names the key too


@pytest.mark.timeout(120)
def test_coordinator_without_code_is_reported(testnet):
    write_config(testnet.rpc_url, NO_CODE)
    rc, out, _, _ = doctor("--network", "gensyn-testnet")
    assert rc == 1
    assert "[ok  ] gensyn-testnet chain id: 685685" in out
    line = next(ln for ln in out.splitlines() if "gensyn-testnet coordinator" in ln)
    assert line.startswith("[FAIL]") and "no contract at" in line and "wrong, or an old deployment" in line
    assert "coordinator = " in out and "[networks.gensyn-testnet]" in out
    assert "0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0" in out  # the known addresses are listed
    assert "gensyn-testnet bootnodes" not in out  # nothing is read from a contract that is not there


@pytest.mark.timeout(60)
def test_a_hung_rpc_is_bounded():
    with hung_rpc() as url:  # in process for speed
        write_config(url, NO_CODE)
        t0 = time.monotonic()
        checks = network.check_network("gensyn-testnet", timeout=1.0)
        took = time.monotonic() - t0
    assert [c.id for c in checks] == ["net_rpc"] and checks[0].status == "fail"
    assert "no answer after 1 s (timeout)" in checks[0].detail
    assert took < 3 * 1.0 + 1.5 + 2, took  # attempts * timeout + backoff, with slack


def test_example_lists_the_known_coordinators_and_its_override_block_is_valid():
    from core.config import settings as config

    text = (REPO / "config.example.toml").read_text()
    for addr in network.KNOWN_TESTNET_COORDINATORS:
        assert addr in text, addr
    # the commented [networks.gensyn-testnet] override, uncommented, is a valid config that takes effect
    block = text.split("# [networks.gensyn-testnet]\n", 1)[1].split("\n\n", 1)[0]
    lines = ["[networks.gensyn-testnet]"] + [ln.removeprefix("# ") for ln in block.splitlines()]
    override = text + "\n" + "\n".join(lines) + "\n"
    _, problems = config.validate_text(override, "config.toml")
    assert problems == []
    p = paths.config_file()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(override)
    net = config.load_config().network("gensyn-testnet")
    assert net.coordinator == "0x7745a8FE4b8D2D2c3BB103F8dCae822746F35Da0" and net.chain_id == 685685


def test_unknown_network_and_stopped_local_chain_are_fails_with_fixes():
    write_config("http://127.0.0.1:1", NO_CODE)
    [c] = network.check_network("nope")
    assert c.status == "fail" and "not defined" in c.detail and c.fix
    [c] = network.check_network("local")  # no local chain runs in this test's home
    assert c.id == "net_rpc" and c.status == "fail" and "not running" in c.detail and "network up" in c.fix


@pytest.mark.timeout(120)
def test_local_network_is_read_from_the_running_chain():
    with chain_in(Path(os.environ["SWARMDECK_HOME"]), network="local") as chain:
        checks = {c.id: c for c in network.check_network("local")}
    assert checks["net_rpc"].status == "ok" and chain.rpc_url in checks["net_rpc"].detail
    assert checks["net_chain_id"].detail == "31337"
    assert checks["net_coordinator"].status == "ok" and chain.coordinator in checks["net_coordinator"].detail
    assert checks["net_bootnodes"].status == "info" and "first local node" in checks["net_bootnodes"].detail


def test_a_dead_bootnode_is_named_and_the_chain_says_whether_the_host_runs(chain):
    """doctor --network's bootnode check, against a real anvil + coordinator: every unreachable bootnode is
    named, and the coordinator's last StageAdvanced log tells a dead bootnode part on a live host (the chain
    still advances) from a host that is down altogether (no stage change)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # closed once the block ends: nobody listens there
    dead = f"/ip4/127.0.0.1/tcp/{dead_port}/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
    moving, words = network.chain_advancing(chain.rpc_url, chain.coordinator, 10.0, timeout=5)
    assert moving is False and "no stage change" in words  # a fresh coordinator: nothing advanced rounds yet
    check = network._bootnode_reach("sw", [dead], "[networks.sw]", timeout=2,
                                    advancing=lambda: network.chain_advancing(chain.rpc_url, chain.coordinator,
                                                                              10.0, timeout=5))
    assert check.status == "fail" and dead in check.detail and "whole host may be down" in check.fix
    chain.advance()  # what the host's round advancer does
    moving, words = network.chain_advancing(chain.rpc_url, chain.coordinator, 10.0, timeout=5)
    assert moving is True and "still advances" in words
    check = network._bootnode_reach("sw", [dead], "[networks.sw]", timeout=2,
                                    advancing=lambda: network.chain_advancing(chain.rpc_url, chain.coordinator,
                                                                              10.0, timeout=5))
    assert check.status == "fail" and dead in check.detail and "still advances" in check.detail
    assert "bootnode part is down" in check.fix and "swarm status" in check.fix
