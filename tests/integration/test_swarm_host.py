"""`swarm host` on one machine, without namespaces: state persists and a second host reuses it,
on the embedded chain and on an external EVM chain (a plain anvil standing in for "any EVM
chain": only standard RPC is used there, no cheat codes); the DHT-only bootnode and the host's
parts come back after kill -9 (the part, or the whole host process group); a taken DHT port
fails `swarm host` with the port and the fix and no invite. Real processes (the keeper, the host
process, anvil, the bootnode's hivemind DHT); the host is stopped at the end of every test.
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
# fast restarts for the host's parts and its keeper (the node supervisor's rules, shorter delays)
FAST = {"backoff_base": 1.0, "backoff_max": 4.0, "healthy_after": 20.0, "max_quick_failures": 5}


@pytest.fixture(autouse=True)
def _fast_restarts(monkeypatch):
    monkeypatch.setenv("SWARMDECK_DAEMON_SETTINGS", json.dumps(FAST))
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


def _bootnode_status(name: str) -> dict:
    from core.hosting import bootnode as _boot

    try:
        return json.loads(_boot.status_file(name).read_text())
    except (OSError, ValueError):
        return {}


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(0.5)


def test_embedded_host_persists_and_reuses_its_state():
    try:
        dht_port = free_port()
        a = sh.host("h1", public_addr=ADDR, round_seconds=5, rpc_port=free_port(), dht_port=dht_port)
        d = _host.host_dir("h1")
        assert (d / "keys.json").stat().st_mode & 0o777 == 0o600
        assert (d / "faucet.key").stat().st_mode & 0o777 == 0o600
        assert d.stat().st_mode & 0o777 == 0o700
        from core.hosting import bootnode as _boot

        pem = _boot.identity_file("h1")
        assert pem.stat().st_mode & 0o777 == 0o600 and pem.parent.stat().st_mode & 0o777 == 0o700
        s = a["settings"]
        assert s.bootnode_maddr.startswith(f"/ip4/{ADDR}/tcp/{dht_port}/p2p/Qm")
        # joinable means: every step said, the bootnode running as a DHT peer with that identity
        said = " | ".join(w for w, _ in a["steps"])
        for step in ("answers", "coordinator deployed", "accepts TCP", "DHT ping", "published", "faucet answers"):
            assert step in said, said
        assert _bootnode_status("h1")["peer_id"] == s.bootnode_peer_id
        # no model, no profile: the bootnode is the host's own part
        cfg = _config.load_config()
        assert not cfg.has_profile("h1-boot")
        net = cfg.network("h1")
        assert net.coordinator == a["runtime"]["coordinator"] and net.bootnodes == ()
        inv = _invite.decode(a["invite"])
        assert inv.bootnodes == (s.bootnode_maddr,) and inv.rpc_url == f"http://{ADDR}:{s.rpc_port}"
        st = sh.host_status("h1")
        assert {k: v["state"] for k, v in st["parts"].items()} == {p: "running" for p in
                                                                   ("chain", "advancer", "faucet", "guard", "bootnode")}
        assert st["alerts"] == {} and st["keeper"]["state"] == "running"
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

        # a second host: same coordinator, same keys, same bootnode identity, chain state kept (rounds go on)
        _stop("h1")
        assert _host.running("h1") is None and _bootnode_status("h1") == {}
        b = sh.host("h1")
        assert b["runtime"]["coordinator"] == rt["coordinator"]
        assert b["settings"].bootnode_peer_id == s.bootnode_peer_id
        assert json.loads((d / "keys.json").read_text()) == keys
        assert c.functions.currentRound().call() >= round1 + 1
        # a changed public address is published without a new deployment, replacing the old entry
        cfix = sh.host("h1", public_addr="192.0.2.9")
        assert cfix["runtime"]["coordinator"] == rt["coordinator"]
        assert c.functions.getBootnodes().call() == [cfix["settings"].bootnode_maddr]
        assert "192.0.2.9" in cfix["settings"].bootnode_maddr
    finally:
        _stop("h1")


def test_bootnode_and_whole_host_come_back_after_kill_9():
    """The bootnode part SIGKILLed: back within 30 s with the same peer id (and a DHT ping answers).
    The host process's whole group SIGKILLed: the keeper starts it again; chain state and coordinator kept."""
    import signal

    from core.base import procs
    from core.hosting import bootnode as _boot

    try:
        dht_port = free_port()
        a = sh.host("k1", public_addr=ADDR, round_seconds=5, rpc_port=free_port(), dht_port=dht_port)
        peer = a["settings"].bootnode_peer_id
        first = _bootnode_status("k1")
        assert first["peer_id"] == peer
        rec = procs.read_record(_host.bootnode_record_file("k1"))
        os.killpg(rec.pgid, signal.SIGKILL)
        t0 = time.monotonic()

        def back():
            st = _bootnode_status("k1")
            part = (sh.host_status("k1")["parts"].get("bootnode") or {})
            return st.get("pid") not in (None, first["pid"]) and part.get("state") == "running" and part["restarts"] >= 1

        _wait(back, 30, "the bootnode back after kill -9")
        assert time.monotonic() - t0 < 30
        assert _bootnode_status("k1")["peer_id"] == peer
        ok, why = _boot.ping(f"/ip4/127.0.0.1/tcp/{dht_port}/p2p/{peer}", timeout=30)
        assert ok, why

        # the whole host process group
        from web3 import Web3

        from core.chain.compile import load_artifact

        s = a["settings"]
        w3 = Web3(Web3.HTTPProvider(s.local_rpc_url))
        c = w3.eth.contract(address=a["runtime"]["coordinator"], abi=load_artifact()["abi"])
        round_before = c.functions.currentRound().call()
        from eth_account import Account

        member = Account.create().address
        assert sh.ask_faucet(f"{s.local_rpc_url}/faucet", member)["status"] == "funded"
        balance = w3.eth.get_balance(member)
        time.sleep(3)  # anvil writes its state every 2 s: what a SIGKILL may lose is the last interval
        host_rec = _host.running("k1")
        os.killpg(host_rec.pgid, signal.SIGKILL)

        def host_back():
            rt = _host.read_runtime("k1")
            if rt is None or rt["pid"] == host_rec.pid:
                return None
            parts = rt.get("parts") or {}
            return rt if parts and all(p["state"] == "running" for p in parts.values()) else None

        rt = _wait(host_back, 120, "the host process and its parts back after kill -9 of its group")
        assert rt["coordinator"] == a["runtime"]["coordinator"]
        assert sh.host_status("k1")["keeper"]["restarts"] >= 1
        assert c.functions.currentRound().call() >= round_before  # the chain's state came back, not a new chain
        assert w3.eth.get_balance(member) == balance > 0
        assert sh.ask_faucet(f"{s.local_rpc_url}/faucet", member)["status"] == "already"
        _wait(lambda: _bootnode_status("k1").get("peer_id") == peer, 60, "the bootnode under the new host")
        assert c.functions.getBootnodes().call() == [s.bootnode_maddr]  # one entry, not appended
        # one anvil and one bootnode: the dead host's were ended, not left beside the new ones
        import psutil

        mine = [p for p in psutil.process_iter(["cmdline"]) if str(_host.host_dir("k1")) in " ".join(p.info["cmdline"] or [])
                and "anvil" in " ".join(p.info["cmdline"] or [])]
        assert len(mine) == 1
    finally:
        _stop("k1")


def test_taken_dht_port_fails_naming_it_and_prints_no_invite(monkeypatch):
    """... and the host's "bootnode down" alert reaches the user's alert URL (a real HTTP receiver, apprise's
    json://) once it has held for the grace period."""
    import socket
    import sys

    from core.alerts import add_url, urls_path
    from core.config import settings as config
    from core.config.settings import AlertSettings
    from tests.helpers.receiver import Receiver

    monkeypatch.setenv("SWARMDECK_HOST_ALERT_GRACE_S", "3")
    config.ensure_config()
    dht_port = free_port()
    with socket.socket() as sock, Receiver() as rx:
        add_url(urls_path(AlertSettings()), rx.json_url("hosthook"))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", dht_port))
        sock.listen(1)
        try:
            r = subprocess.run([sys.executable, "-m", "tui.cli", "swarm", "host", "--name", "p1", "--public-addr", ADDR,
                                "--rpc-port", str(free_port()), "--dht-port", str(dht_port), "--no-qr"],
                               capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
            msgs = rx.wait_for(1, timeout=60)
            assert "bootnode down" in json.dumps(msgs[0]["body"]), msgs
            assert "swarm p1" in json.dumps(msgs[0]["body"])
        finally:
            _stop("p1")
    assert r.returncode != 0
    assert "swarmdeck-invite1." not in r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "bootnode" in r.stderr and f"DHT port {dht_port} is already in use" in r.stderr, r.stderr
    assert f"ss -ltnp | grep :{dht_port}" in r.stderr and "--dht-port" in r.stderr  # the fix
    assert "coordinator deployed" in r.stdout  # the steps before it were said, with their times


def test_a_hosted_swarm_keeps_its_bootnode_identity_when_migrated():
    """A swarm hosted when the bootnode was a training profile (NAME-boot): the new DHT-only bootnode
    has that profile's peer id (so the published address stays), and the profile's swarm.pem is untouched."""
    from core.hosting import bootnode as _boot
    from core.identity import files as _identity

    legacy = _paths.ProfilePaths("m1-boot").swarm_pem
    peer = _identity.load_or_create_swarm_pem(legacy).peer_id
    before = legacy.read_bytes()
    dht_port = free_port()
    _host.save_settings(_host.HostSettings(name="m1", public_addr=ADDR, rpc_port=free_port(), dht_port=dht_port,
                                           round_seconds=5, bootnode_profile="m1-boot", bootnode_peer_id=peer))
    try:
        a = sh.host("m1")
        assert a["settings"].bootnode_peer_id == peer
        assert a["settings"].bootnode_maddr == f"/ip4/{ADDR}/tcp/{dht_port}/p2p/{peer}"
        assert _bootnode_status("m1")["peer_id"] == peer
        assert legacy.read_bytes() == before and _boot.identity_file("m1").read_bytes() == before
    finally:
        _stop("m1")


def test_systemd_unit_exec_start_runs_the_host():
    """The optional unit: its ExecStart line, run as systemd would (no keeper), brings the parts up."""
    import shlex
    import signal
    import sys

    from core.usecases.swarm_hosting import PROJECT_ROOT

    _host.save_settings(_host.HostSettings(name="u1", public_addr=ADDR, rpc_port=free_port(), dht_port=free_port(),
                                           round_seconds=5))
    from core.hosting import bootnode as _boot

    _boot.migrate_identity("u1", None)
    text = _host.unit_text("u1", sys.executable, str(PROJECT_ROOT))
    line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    env_line = next(ln for ln in text.splitlines() if ln.startswith("Environment="))
    env = dict(os.environ)
    env.update(dict(kv.split("=", 1) for kv in shlex.split(env_line.removeprefix("Environment="))))
    proc = subprocess.Popen(shlex.split(line.removeprefix("ExecStart=")), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rt = _wait(lambda: (r := _host.read_runtime("u1")) and r.get("parts") and
                   all(p["state"] == "running" for p in r["parts"].values()) and r, 120, "the unit's host up")
        assert set(rt["parts"]) == {"chain", "advancer", "faucet", "guard", "bootnode"}
        assert rt["pid"] == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGTERM)  # systemd's stop (KillMode=mixed: SIGTERM to the main process)
        proc.wait(90)
    assert proc.returncode == 0 and _host.read_runtime("u1") is None
    assert _bootnode_status("u1") == {}  # its parts stopped with it


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
                    dht_port=free_port())
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
        b = sh.host("ext")
        assert b["runtime"]["coordinator"] == rt["coordinator"]  # reused, not deployed again
        assert w3.eth.get_transaction_count(deployer) == nonce   # and the role keys are not paid again
        assert _invite.decode(b["invite"]).chain_id == 4242
    finally:
        _stop("ext")
        anvil.terminate()
        anvil.wait(10)


def test_join_writes_key_network_and_profile_only_after_the_checks(monkeypatch, tmp_path):
    """Host and member in one process on this machine's own LAN address (switching HOME between them)."""
    from core.swarm.addrs import facing_address

    addr = sh.detect_public_addr() or facing_address("192.0.2.1")
    if not addr or addr.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to host on")
    dht_port = free_port()
    host_home = os.environ["SWARMDECK_HOME"]
    try:
        res = sh.host("j1", public_addr=addr, round_seconds=5, dht_port=dht_port, rpc_port=free_port())
        if True:  # the host's own DHT-only bootnode answers on dht_port
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


def test_external_chain_faucet_pays_members_from_the_operators_key(monkeypatch, tmp_path):
    """--rpc + --deployer-key + --faucet-key: a separate anvil acts as the external chain; the operator's
    faucet key (funded there by the operator) pays a joining member through the host's faucet, with the
    embedded faucet's limits (once per address); rounds advance."""
    from eth_account import Account
    from web3 import Web3

    addr = sh.detect_public_addr()
    if not addr or addr.startswith("127."):
        pytest.skip("this machine has no non-loopback IPv4 address to host on")
    port = free_port()
    anvil = subprocess.Popen([str(anvil_binary()), "--port", str(port), "--accounts", "1", "--chain-id", "4343"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    host_home = os.environ["SWARMDECK_HOME"]
    try:
        _wait(lambda: _answers(url), 20, "the external anvil")
        key_file = tmp_path / "deployer.key"
        key_file.write_text(DEV_KEY + "\n")
        faucet = Account.create()
        faucet_file = tmp_path / "faucet.key"
        faucet_file.write_text(faucet.key.hex() + "\n")
        os.chmod(faucet_file, 0o600)
        w3 = Web3(Web3.HTTPProvider(url))
        dev = Account.from_key(DEV_KEY)
        tx = {"to": faucet.address, "value": 5 * 10**18, "gas": 21000, "gasPrice": w3.eth.gas_price,
              "nonce": w3.eth.get_transaction_count(dev.address), "chainId": 4343}
        w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(dev.sign_transaction(tx).raw_transaction))
        res = sh.host("x1", public_addr=addr, rpc_url=url, deployer_key_file=str(key_file),
                      faucet_key_file=str(faucet_file), round_seconds=5, rpc_port=free_port(), dht_port=free_port())
        assert res["runtime"]["faucet"] == f"http://{addr}:{res['settings'].rpc_port}/faucet"
        assert any("faucet answers" in w for w, _ in res["steps"])
        assert faucet.key.hex().removeprefix("0x") not in (_host.host_dir("x1") / "host.json").read_text()
        c_round = _invite.decode(res["invite"])
        assert c_round.faucet == res["runtime"]["faucet"] and c_round.rpc_url == url

        monkeypatch.setenv("SWARMDECK_HOME", str(tmp_path / "member" / "sd"))
        _config.load_config()
        out = sh.join(res["invite"], "xm", model="tiny")
        assert out["funded"] is True
        assert w3.eth.get_balance(out["address"]) == 10**18  # paid from the operator's faucet key
        assert w3.eth.get_balance(faucet.address) < 4 * 10**18
        ans = sh.ask_faucet(res["runtime"]["faucet"], out["address"])
        assert ans["status"] == "already"  # the same limits as the embedded faucet: once per address
        from core.chain.compile import load_artifact

        c = w3.eth.contract(address=res["runtime"]["coordinator"], abi=load_artifact()["abi"])
        r = c.functions.currentRound().call()
        _wait(lambda: c.functions.currentRound().call() > r, 30, "a round on the external chain")
    finally:
        monkeypatch.setenv("SWARMDECK_HOME", host_home)
        _stop("x1")
        anvil.terminate()
        anvil.wait(10)


def _answers(url: str) -> bool:
    try:
        rpc_call(url, "eth_chainId", timeout=1)
        return True
    except Exception:
        return False


def test_host_train_adds_an_ordinary_member_profile_beside_the_bootnode():
    """`swarm host --train --model tiny`: a member profile (own key, faucet gas, another DHT port) started
    under its supervisor; --model without --train is refused (the bootnode runs no model)."""
    import core.supervisor as _supervisor

    with pytest.raises(_host.HostError, match="--train"):
        sh.host("t1", public_addr=ADDR, model="tiny")
    assert _host.load_settings("t1") is None
    dht_port = free_port()
    try:
        res = sh.host("t1", public_addr=ADDR, round_seconds=5, rpc_port=free_port(), dht_port=dht_port,
                      train=True, model="tiny")
        assert res["train_profile"] == "t1-node" and res["settings"].train_profile == "t1-node"
        prof = _config.load_config().profile_settings("t1-node")
        assert prof.network == "t1" and prof.model == "tiny" and prof.dht_port not in (0, dht_port)
        from eth_account import Account
        from web3 import Web3

        key = (_paths.ProfilePaths("t1-node").secrets_dir / "eoa.key").read_text().strip()
        w3 = Web3(Web3.HTTPProvider(res["settings"].local_rpc_url))
        assert w3.eth.get_balance(Account.from_key(key).address) == 10**18  # gas from the host's faucet
        st = _supervisor.query_status(_paths.ProfilePaths("t1-node"), timeout=5)
        assert st is not None and st["state"] in ("starting", "running")
        assert sh.host_status("t1")["train_profile"] == "t1-node"
    finally:
        _supervisor.stop_profile("t1-node", now=True, timeout=60)
        _stop("t1")
