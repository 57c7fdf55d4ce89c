"""Host a swarm other machines join, and join one: `swarmdeck swarm host | invite | join | status | stop`.

host()    brings up (or finds running) the host process (core.hosting.host: chain, round
          advancer, bootnode on chain, RPC guard + faucet), the [networks.NAME] table and the
          bootnode profile (fixed DHT port, announcing --public-addr) under its supervisor.
          Settings persist in network_dir(NAME)/host.json; a second host() reuses them (options
          given again replace the stored ones).
invite()  the signed invite string (core.hosting.invite) for the running host.
join()    checks an invite against the network (nothing written until every check passed),
          makes the member's key, asks the host's faucet, then adds the network and a profile.

The CLI (tui/commands/swarm_cmd.py) and the TUI call these; they print nothing.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Callable

from core.base import fsutil, procs
from core.base import paths as _paths
from core.base.errors import SwarmdeckError
from core.config import settings as _config
from core.config.settings import BUILTIN_NETWORKS
from core.hosting import host as _host
from core.hosting import invite as _invite
from core.hosting.host import HostError, HostSettings
from core.identity import files as _identity
from core.identity import profiles as _profiles

Progress = Callable[[str], None]
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _say(progress: Progress | None) -> Progress:
    return progress or (lambda msg: None)


def _check_name(name: str) -> None:
    if not _invite.NAME_RE.fullmatch(name or ""):
        raise HostError(f"{name!r} is not a swarm name", fix="use 1-32 letters, digits, - or _ (e.g. myswarm)")
    if name in BUILTIN_NETWORKS:
        raise HostError(f"{name!r} is a built-in network, not a swarm you can host", fix="pick another name")


def _check_addr(addr: str) -> str:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise HostError(f"--public-addr {addr!r} is not an IPv4 address", fix="give the address other machines "
                        "reach this one at, e.g. --public-addr 203.0.113.7") from None
    if ip.is_unspecified or ip.is_loopback:
        raise HostError(f"--public-addr {addr} cannot be dialled from other machines",
                        fix="give this machine's LAN or public address (`ip -4 addr` lists them)")
    return str(ip)


def detect_public_addr() -> str | None:
    """This machine's address on its default route (no packet is sent). Behind NAT it is the LAN
    address: give --public-addr (and forward the ports) for members outside that LAN."""
    from core.swarm.addrs import facing_address

    addr = facing_address("8.8.8.8")  # a UDP "connect" picks the route and sends nothing
    if addr and not ipaddress.IPv4Address(addr).is_loopback:
        return addr
    return None


def _spawn_serve(name: str) -> None:
    d = _host.host_dir(name)
    _paths.ensure_private_dir(d)
    logf = os.fdopen(os.open(_host.log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        subprocess.Popen([sys.executable, "-m", "core.hosting", "serve", name], stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=subprocess.STDOUT, env=env, close_fds=True, start_new_session=True,
                         cwd=str(PROJECT_ROOT))
    finally:
        logf.close()


def _wait_runtime(name: str, wait: float) -> dict:
    deadline = time.monotonic() + wait
    while True:
        rt = _host.read_runtime(name)
        if rt is not None:
            return rt
        if time.monotonic() > deadline or (procs.read_record(_host.record_file(name)) is None
                                           and time.monotonic() > deadline - wait + 5):
            tail = ""
            try:
                tail = _host.log_file(name).read_text(errors="replace").strip().splitlines()[-1]
            except (OSError, IndexError):
                pass
            raise HostError(f"the host of swarm {name!r} did not come up" + (f": {tail}" if tail else ""),
                            where=str(_host.log_file(name)), fix="see the log; fix what it names and run "
                                                                 "`swarmdeck swarm host` again")
        time.sleep(0.2)


def _network_table(s: HostSettings, coordinator: str, chain_id: int) -> dict:
    return {"rpc_url": s.local_rpc_url, "chain_id": chain_id, "coordinator": coordinator, "bootnodes": [],
            "backend": "web3", "round_seconds": float(s.round_seconds)}


def _write_network(name: str, table: dict, *, hosted: bool) -> None:
    with _config.config_lock():
        cfg = _config.load_config()
        nets = cfg.data.get("networks") or {}
        if name in nets:
            if not hosted:
                raise HostError(f"network {name!r} is already in the config and is not hosted here",
                                where=f"{cfg.path} [networks.{name}]", fix="host under another --name")
            for k, v in table.items():
                cfg.set_network_value(name, k, v)
        else:
            cfg.add_network(name, table)
        cfg.save()


def host(name: str, *, public_addr: str | None = None, rpc_port: int | None = None, bind: str | None = None,
         dht_port: int | None = None, round_seconds: float | None = None, chain_id: int | None = None,
         rpc_url: str | None = None, deployer_key_file: str | None = None, bootnode_profile: str | None = None,
         model: str | None = None, quant: str | None = None, start_bootnode: bool = True,
         progress: Progress | None = None, wait: float = 120.0, bootnode_wait: float = 120.0) -> dict:
    """Bring the swarm `name` up (idempotent). Returns {settings, runtime, bootnode_profile, invite}."""
    import core.supervisor as _supervisor

    say = _say(progress)
    _check_name(name)
    old = _host.load_settings(name)
    if old is None:
        cfg = _config.load_config()
        if name in (cfg.data.get("networks") or {}):
            raise HostError(f"network {name!r} is already in the config (a swarm you joined?)",
                            where=f"{cfg.path} [networks.{name}]", fix="host under another --name")
        addr = public_addr or detect_public_addr()
        if not addr:
            raise HostError("could not tell this machine's address", fix="pass --public-addr ADDR (the address "
                                                                          "other machines reach this one at)")
        if rpc_url and not deployer_key_file:
            raise HostError("--rpc needs --deployer-key FILE (a funded account's private key)",
                            fix="pass --deployer-key FILE, or leave --rpc out to use the embedded chain")
        s = HostSettings(name=name, public_addr=_check_addr(addr), bootnode_profile=bootnode_profile or f"{name}-boot")
    else:
        s = old
        if public_addr:
            s = replace(s, public_addr=_check_addr(public_addr))
        if bootnode_profile and bootnode_profile != s.bootnode_profile:
            raise HostError(f"swarm {name!r} already has the bootnode profile {s.bootnode_profile!r}",
                            where=str(_host.settings_file(name)), fix="leave --bootnode-profile out")
    for key, val in (("rpc_port", rpc_port), ("bind", bind), ("dht_port", dht_port), ("round_seconds", round_seconds),
                     ("chain_id", chain_id), ("rpc_url", rpc_url), ("deployer_key_file", deployer_key_file)):
        if val is not None and val != "":
            s = replace(s, **{key: val})
    if s.deployer_key_file:
        s = replace(s, deployer_key_file=str(Path(s.deployer_key_file).expanduser().resolve()))
    if not 1 <= s.rpc_port <= 65535 or not 1 <= s.dht_port <= 65535:
        raise HostError("ports must be 1..65535", fix="check --rpc-port and --dht-port")
    if not 5 <= s.round_seconds <= 86400:
        raise HostError(f"--round-seconds {s.round_seconds:g} is out of range", fix="use 5..86400 seconds")
    if not 0 < s.chain_id < 2**63:
        raise HostError(f"--chain-id {s.chain_id} is out of range", fix="use a positive chain id (default 31337)")

    boot = s.bootnode_profile
    pp = _paths.ProfilePaths(boot)
    if _config.load_config().has_profile(boot):
        s = replace(s, bootnode_peer_id=_identity.load_or_create_swarm_pem(pp.swarm_pem).peer_id)
    _host.save_settings(s)
    rec = _host.running(name)
    if rec is not None and old is not None and _chain_fields(old) != _chain_fields(s):
        say("chain settings changed: restarting the host process")
        procs.stop_group(rec, timeout=30)
        rec = None
    if rec is None:
        say("starting the host (chain, round advancer, RPC guard and faucet)" if s.embedded
            else f"starting the host on {s.rpc_url} (deploys the coordinator once)")
        _spawn_serve(name)
    rt = _wait_runtime(name, wait)
    _write_network(name, _network_table(s, rt["coordinator"], int(rt["chain_id"])), hosted=True)

    # The bootnode profile: listens on every interface at the fixed port, announces the public address.
    announce = [f"/ip4/{s.public_addr}/tcp/{s.dht_port}"]
    if not _config.load_config().has_profile(boot):
        say(f"creating the bootnode profile {boot}")
        _profiles.create_profile(boot, make_current=False, network=name, backend="web3", dht_port=s.dht_port,
                                 model=model or "auto", quant=quant or "auto", announce_maddrs=announce)
    else:
        with _config.config_lock():
            cfg = _config.load_config()
            cfg.set_profile_value(boot, "announce_maddrs", announce)
            cfg.set_profile_value(boot, "dht_port", s.dht_port)
            for k, v in (("model", model), ("quant", quant)):
                if v:
                    cfg.set_profile_value(boot, k, v)
            cfg.save()
    s = replace(s, bootnode_peer_id=_identity.load_or_create_swarm_pem(pp.swarm_pem).peer_id)
    _host.save_settings(s)  # the host process publishes the bootnode's address on chain within seconds
    _wait_published(name, s.bootnode_maddr, wait=30.0)

    # The bootnode's own key, funded like a member's.
    key = _ensure_key(pp)
    _fund(s, rt, key)
    up = None
    if start_bootnode:
        say(f"starting the bootnode {boot} under its supervisor")
        _supervisor.spawn_detached(boot)
        say(f"waiting for the bootnode's DHT port {s.dht_port} (members' joins try it)")
        up = _wait_port(s.dht_port, bootnode_wait)
    return {"settings": s, "runtime": rt, "bootnode_profile": boot, "bootnode_up": up, "invite": invite(name)}


def _wait_port(port: int, wait: float) -> bool:
    from core.swarm.addrs import tcp_reachable

    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if tcp_reachable(f"/ip4/127.0.0.1/tcp/{port}", timeout=1.0)[0]:
            return True
        time.sleep(0.5)
    return False


def _chain_fields(s: HostSettings) -> tuple:
    """Settings the running host process depends on (others it reads live: the bootnode address)."""
    return (s.rpc_port, s.bind, s.round_seconds, s.chain_id, s.rpc_url, s.deployer_key_file, s.faucet_wei)


def _wait_published(name: str, maddr: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        rt = _host.read_runtime(name) or {}
        if rt.get("bootnode") == maddr:
            return
        time.sleep(0.2)
    raise HostError(f"the host did not publish the bootnode {maddr} on chain", where=str(_host.log_file(name)),
                    fix="see the host's log; then run `swarmdeck swarm host` again")


def _ensure_key(pp: _paths.ProfilePaths) -> str:
    from eth_account import Account

    path = Path(pp.secrets_dir) / "eoa.key"
    _paths.ensure_private_dir(path.parent)
    try:
        fsutil.create_exclusive(path, (Account.create().key.hex() + "\n").encode())
    except FileExistsError:
        pass
    return path.read_text().strip()


def _fund(s: HostSettings, rt: dict, key: str) -> None:
    from eth_account import Account

    addr = Account.from_key(key).address
    if s.embedded:
        ask_faucet(f"{s.local_rpc_url}/faucet", addr)
        return
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(s.rpc_url, request_kwargs={"timeout": 10}))
    if w3.eth.get_balance(addr) >= _host.ROLE_FUND_WEI // 2:
        return
    chain = _host.ExternalChain(s.name, s.rpc_url, Path(s.deployer_key_file).read_text().strip())
    chain.chain_id = int(rt["chain_id"])
    chain.fund(addr)


def ask_faucet(url: str, address: str, timeout: float = 60.0) -> dict:
    body = json.dumps({"address": address}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            ans = json.loads(r.read(65536))
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read(65536)).get("error")
        except (ValueError, AttributeError):
            msg = e.reason
        raise HostError(f"the swarm's faucet refused to fund {address}: {msg}", where=url,
                        fix="ask the swarm's host to fund this address, then run again") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise HostError(f"the swarm's faucet does not answer: {e}", where=url,
                        fix="check that the host runs and this machine reaches it; then run again") from None
    if not isinstance(ans, dict) or ans.get("status") not in ("funded", "already"):
        raise HostError(f"the swarm's faucet sent an unexpected answer: {str(ans)[:200]}", where=url,
                        fix="ask the swarm's host")
    return ans


def invite(name: str) -> str:
    """The invite string for the running host of swarm `name` (signed with its bootnode-manager key)."""
    s = _host.load_settings(name)
    if s is None:
        raise HostError(f"this machine does not host a swarm named {name!r}", fix=f"run `swarmdeck swarm host --name {name}` first")
    rt = _host.read_runtime(name)
    if rt is None:
        raise HostError(f"the host of swarm {name!r} is not running", where=str(_host.log_file(name)),
                        fix=f"start it: swarmdeck swarm host --name {name}")
    keys = json.loads((_host.host_dir(name) / "keys.json").read_text())
    inv = _invite.Invite(name=name, chain_id=int(rt["chain_id"]), rpc_url=s.public_rpc_url,
                         coordinator=rt["coordinator"], bootnodes=(s.bootnode_maddr,), backend="web3",
                         faucet=rt.get("faucet") or "", round_seconds=float(s.round_seconds))
    return _invite.encode(inv, keys["bootnode_manager"])


def hosted() -> list[str]:
    root = _paths.data_dir() / "networks"
    return sorted(p.name for p in root.iterdir() if (p / "host.json").is_file()) if root.is_dir() else []


def host_status(name: str) -> dict:
    import core.supervisor as _supervisor

    s = _host.load_settings(name)
    if s is None:
        raise HostError(f"this machine does not host a swarm named {name!r}",
                        fix="`swarmdeck swarm status` lists the hosted swarms")
    rt = _host.read_runtime(name)
    out = {"name": name, "running": rt is not None, "rpc_url": s.public_rpc_url, "bootnode": s.bootnode_maddr,
           "bootnode_profile": s.bootnode_profile, "round_seconds": s.round_seconds, "embedded": s.embedded}
    if rt:
        out.update(coordinator=rt["coordinator"], chain_id=rt["chain_id"], faucet=rt.get("faucet", ""))
        try:
            from core.chain.devnet import rpc_call

            data = "0x8a19c8bc"  # currentRound()
            out["round"] = int(rpc_call(s.local_rpc_url, "eth_call", [{"to": rt["coordinator"], "data": data}, "latest"],
                                        timeout=3), 16)
        except Exception:  # noqa: BLE001 - status must not fail on a slow chain
            out["round"] = None
    st = _supervisor.query_status(_paths.ProfilePaths(s.bootnode_profile), timeout=1.0)
    out["bootnode_state"] = (st or {}).get("state", "stopped")
    return out


def stop_host(name: str, *, bootnode: bool = True) -> dict:
    import core.supervisor as _supervisor

    s = _host.load_settings(name)
    if s is None:
        raise HostError(f"this machine does not host a swarm named {name!r}", fix="see `swarmdeck swarm status`")
    out = {"bootnode_stopped": False, "host_stopped": False}
    if bootnode:
        out["bootnode_stopped"] = _supervisor.stop_profile(s.bootnode_profile, timeout=60) is not None
    rec = _host.running(name)
    if rec is not None:
        out["host_stopped"] = procs.stop_group(rec, timeout=30)
    return out


# ------------------------------------------------------------------------------- join

def _dht_ports_in_use(cfg) -> set[int]:
    """Fixed DHT ports other profiles of this machine already have (running or not)."""
    out = set()
    for n in cfg.profile_names():
        try:
            out.add(int(cfg.profile_settings(n).dht_port))
        except SwarmdeckError:
            continue
    return out


def join(text: str, profile: str | None = None, *, network: str | None = None, model: str | None = None,
         quant: str | None = None, dht_port: int | None = None, timeout: float = 5.0,
         progress: Progress | None = None) -> dict:
    """Join the swarm an invite describes. Nothing is written unless every check passes."""
    from eth_account import Account

    from core.base.net import port_free

    say = _say(progress)
    inv = _invite.decode(text)
    net_name = network or inv.name
    prof_name = profile or inv.name
    _profiles.validate_name(prof_name)
    _check_name(net_name)
    cfg = _config.load_config()
    if cfg.has_profile(prof_name):
        raise SwarmdeckError(f"profile {prof_name!r} already exists", where=f"{cfg.path} [profiles.{prof_name}]",
                             fix="join with -p ANOTHER_NAME")
    existing = (cfg.data.get("networks") or {}).get(net_name)
    if existing is not None:
        same = (str(existing.get("coordinator", "")).lower() == inv.coordinator.lower()
                and int(existing.get("chain_id", 0)) == inv.chain_id)
        if not same:
            raise SwarmdeckError(f"a different network named {net_name!r} is already in the config",
                                 where=f"{cfg.path} [networks.{net_name}]",
                                 fix="join with --network ANOTHER_NAME to keep both")
    report = _invite.check(inv, timeout=timeout, progress=say)
    port = dht_port
    if port is None:
        taken = _dht_ports_in_use(cfg)
        port = next((p for p in range(38331, 38400) if p not in taken and port_free(p, "0.0.0.0")), 0)
    key = Account.create()
    if inv.backend == "web3" and inv.faucet:
        say(f"asking the host's faucet for gas for {key.address}")
        ask_faucet(inv.faucet, key.address)
    say(f"adding network {net_name} and profile {prof_name}")
    with _config.config_lock():
        cfg = _config.load_config()
        if net_name not in (cfg.data.get("networks") or {}):
            cfg.add_network(net_name, {"rpc_url": inv.rpc_url, "chain_id": inv.chain_id,
                                       "coordinator": inv.coordinator, "bootnodes": [], "backend": inv.backend,
                                       "round_seconds": float(inv.round_seconds)})
            cfg.save()
    prof = _profiles.create_profile(prof_name, make_current=None, network=net_name, backend=inv.backend,
                                    model=model or "auto", quant=quant or "auto", dht_port=int(port))
    if inv.backend == "web3":
        path = Path(prof.paths.secrets_dir) / "eoa.key"
        _paths.ensure_private_dir(path.parent)
        fsutil.create_exclusive(path, (key.key.hex() + "\n").encode())
    return {"profile": prof_name, "network": net_name, "address": key.address, "dht_port": port,
            "funded": bool(inv.faucet), "round": report["round"], "bootnode": report["reachable"][0],
            "invite": inv.public_dict()}
