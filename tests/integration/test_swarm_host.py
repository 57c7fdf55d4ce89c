"""`swarm host` on one machine, without namespaces: state persists and a second host reuses it,
on the embedded chain and on an external EVM chain (a plain anvil standing in for "any EVM
chain": only standard RPC is used there, no cheat codes). Real processes; the host process is
stopped at the end of every test.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from core.base import paths as _paths
from core.chain.devnet import anvil_binary, free_port, rpc_call
from core.config import settings as _config
from core.hosting import host as _host
from core.hosting import invite as _invite
from core.usecases import swarm_hosting as sh

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ADDR = "192.0.2.1"  # published only; nothing dials it in these tests
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # anvil's published dev key 0


def _stop(name: str) -> None:
    try:
        sh.stop_host(name)
    except Exception:
        rec = _host.running(name)
        if rec is not None:
            from core.base import procs

            procs.stop_group(rec, timeout=10)


def test_embedded_host_persists_and_reuses_its_state():
    try:
        a = sh.host("h1", public_addr=ADDR, round_seconds=5, rpc_port=free_port(), start_bootnode=False)
        d = _host.host_dir("h1")
        assert (d / "keys.json").stat().st_mode & 0o777 == 0o600
        assert (d / "faucet.key").stat().st_mode & 0o777 == 0o600
        assert d.stat().st_mode & 0o777 == 0o700
        s = a["settings"]
        assert s.bootnode_maddr.startswith(f"/ip4/{ADDR}/tcp/38331/p2p/Qm")
        net = _config.load_config().network("h1")
        assert net.coordinator == a["runtime"]["coordinator"] and net.bootnodes == ()
        prof = _config.load_config().profile_settings("h1-boot")
        assert prof.announce_maddrs == (f"/ip4/{ADDR}/tcp/38331",) and prof.dht_port == 38331
        inv = _invite.decode(a["invite"])
        assert inv.bootnodes == (s.bootnode_maddr,) and inv.rpc_url == f"http://{ADDR}:{s.rpc_port}"
        # on chain: the bootnode, the signer as bootnode manager, rounds advancing
        rt = a["runtime"]
        r0 = int(rpc_call(s.local_rpc_url, "eth_blockNumber"), 16)
        from web3 import Web3

        from core.chain.compile import load_artifact

        w3 = Web3(Web3.HTTPProvider(s.local_rpc_url))
        c = w3.eth.contract(address=rt["coordinator"], abi=load_artifact()["abi"])
        assert c.functions.getBootnodes().call() == [s.bootnode_maddr]
        assert _invite.signer_is_bootnode_manager(c, inv.signer) is True
        round1 = c.functions.currentRound().call()
        time.sleep(11)
        assert c.functions.currentRound().call() > round1
        assert int(rpc_call(s.local_rpc_url, "eth_blockNumber"), 16) > r0
        text = "\n".join(p.read_text() for p in _paths.data_dir().rglob("*.log"))
        keys = json.loads((d / "keys.json").read_text())
        assert not any(k.removeprefix("0x") in text for k in keys.values())  # no key in any log

        # a second host: same coordinator, same keys, chain state kept (rounds go on)
        _stop("h1")
        assert _host.running("h1") is None
        b = sh.host("h1", start_bootnode=False)
        assert b["runtime"]["coordinator"] == rt["coordinator"]
        assert json.loads((d / "keys.json").read_text()) == keys
        assert c.functions.currentRound().call() >= round1 + 1
        # a changed public address is published without a new deployment
        cfix = sh.host("h1", public_addr="192.0.2.9", start_bootnode=False)
        assert cfix["runtime"]["coordinator"] == rt["coordinator"]
        assert c.functions.getBootnodes().call() == [cfix["settings"].bootnode_maddr]
        assert "192.0.2.9" in cfix["settings"].bootnode_maddr
    finally:
        _stop("h1")


def test_host_refuses_bad_input_without_writing():
    _config.load_config()  # the config exists (created on first run), as on any machine
    cfg_before = _config.config_path().read_text()
    for kw, says in (({"public_addr": "127.0.0.1"}, "cannot be dialled"), ({"public_addr": "nope"}, "not an IPv4"),
                     ({"public_addr": ADDR, "rpc_url": "http://127.0.0.1:1"}, "--deployer-key"),
                     ({"public_addr": ADDR, "round_seconds": 1}, "out of range")):
        with pytest.raises(_host.HostError) as e:
            sh.host("h2", **kw)
        assert says in e.value.what + (e.value.fix or "")
    with pytest.raises(_host.HostError):
        sh.host("local", public_addr=ADDR)
    assert _host.load_settings("h2") is None
    assert _config.config_path().read_text() == cfg_before


def test_external_chain_deploys_once_with_the_deployer_key(tmp_path):
    port = free_port()
    anvil = subprocess.Popen([str(anvil_binary()), "--port", str(port), "--accounts", "1", "--chain-id", "4242"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                rpc_call(url, "eth_chainId", timeout=1)
                break
            except Exception:
                assert time.monotonic() < deadline, "anvil did not start"
                time.sleep(0.1)
        key_file = tmp_path / "deployer.key"
        key_file.write_text(DEV_KEY + "\n")
        os.chmod(key_file, 0o600)
        a = sh.host("ext", public_addr=ADDR, rpc_url=url, deployer_key_file=str(key_file), round_seconds=5,
                    start_bootnode=False)
        rt = a["runtime"]
        assert rt["chain_id"] == 4242 and rt["faucet"] == "" and a["settings"].public_rpc_url == url
        keys = json.loads((_host.host_dir("ext") / "keys.json").read_text())
        assert set(keys) == {"stage_manager", "bootnode_manager"}  # the deployer's key is not copied
        assert DEV_KEY.removeprefix("0x") not in (_host.host_dir("ext") / "host.json").read_text()
        from web3 import Web3

        from core.chain.compile import load_artifact

        w3 = Web3(Web3.HTTPProvider(url))
        c = w3.eth.contract(address=rt["coordinator"], abi=load_artifact()["abi"])
        assert c.functions.getBootnodes().call() == [a["settings"].bootnode_maddr]
        r = c.functions.currentRound().call()
        time.sleep(11)
        assert c.functions.currentRound().call() > r  # the stage manager (funded by transfer) advances rounds
        _stop("ext")
        deployer = w3.eth.account.from_key(DEV_KEY).address
        nonce = w3.eth.get_transaction_count(deployer)
        b = sh.host("ext", start_bootnode=False)
        assert b["runtime"]["coordinator"] == rt["coordinator"]  # reused, not deployed again
        assert w3.eth.get_transaction_count(deployer) == nonce   # and the role keys are not paid again
        assert _invite.decode(b["invite"]).chain_id == 4242
    finally:
        _stop("ext")
        anvil.terminate()
        anvil.wait(10)


def test_join_writes_key_network_and_profile_only_after_the_checks(monkeypatch, tmp_path):
    """Host and member in one process on this machine's own LAN address (switching HOME between them);
    a plain TCP listener stands in for the bootnode's DHT port (join only connects to it)."""
    import socket

    from core.swarm.addrs import facing_address

    addr = sh.detect_public_addr() or facing_address("192.0.2.1")
    if not addr or addr.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to host on")
    dht_port = free_port()
    host_home = os.environ["SWARMDECK_HOME"]
    try:
        res = sh.host("j1", public_addr=addr, round_seconds=5, dht_port=dht_port, rpc_port=free_port(),
                      start_bootnode=False)
        with socket.socket() as boot:
            boot.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            boot.bind(("0.0.0.0", dht_port))
            boot.listen(8)
            member = tmp_path / "member"
            monkeypatch.setenv("SWARMDECK_HOME", str(member / "sd"))
            _config.load_config()
            # a tampered invite first: refused, nothing written
            body, sig = res["invite"][len(_invite.PREFIX):].split(".")
            before = _config.config_path().read_text()
            with pytest.raises(_invite.InviteError):
                sh.join(f"{_invite.PREFIX}{body}.{sig[:-4]}AAAA", "m1")
            assert _config.config_path().read_text() == before
            out = sh.join(res["invite"], "m1", model="tiny")
            cfg = _config.load_config()
            net = cfg.network("j1")
            assert net.rpc_url == res["settings"].public_rpc_url and net.bootnodes == () and net.backend == "web3"
            prof = cfg.profile_settings("m1")
            assert prof.network == "j1" and prof.model == "tiny" and prof.dht_port == out["dht_port"] != 0
            key = _paths.ProfilePaths("m1").secrets_dir / "eoa.key"
            assert key.stat().st_mode & 0o777 == 0o600
            from eth_account import Account
            from web3 import Web3

            assert Account.from_key(key.read_text().strip()).address == out["address"]
            w3 = Web3(Web3.HTTPProvider(net.rpc_url))
            assert w3.eth.get_balance(out["address"]) == 10**18  # the faucet's gas
            # a second profile on the same swarm: another DHT port; the same profile name: refused
            out2 = sh.join(res["invite"], "m2")
            assert out2["dht_port"] != out["dht_port"]
            with pytest.raises(Exception, match="already exists"):
                sh.join(res["invite"], "m1")
    finally:
        monkeypatch.setenv("SWARMDECK_HOME", host_home)
        _stop("j1")
