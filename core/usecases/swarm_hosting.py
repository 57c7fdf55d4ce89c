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
from core.base.i18n import M
from core.config import settings as _config
from core.config.settings import BUILTIN_NETWORKS
from core.hosting import host as _host
from core.hosting import invite as _invite
from core.hosting import keeper as _keeper
from core.hosting.host import HostError, HostSettings
from core.identity import files as _identity
from core.identity import profiles as _profiles

Progress = Callable[[str], None]
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _say(progress: Progress | None) -> Progress:
    return progress or (lambda msg: None)


def _check_name(name: str) -> None:
    if not _invite.NAME_RE.fullmatch(name or ""):
        raise HostError(M("err.host.bad_name", name=repr(name)), fix=M("err.host.bad_name_fix"))
    if name in BUILTIN_NETWORKS:
        raise HostError(M("err.host.builtin_name", name=repr(name)), fix=M("err.host.builtin_name_fix"))


def _check_addr(addr: str) -> str:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        raise HostError(M("err.host.addr_not_ipv4", addr=repr(addr)), fix=M("err.host.addr_not_ipv4_fix")) from None
    if ip.is_unspecified or ip.is_loopback:
        raise HostError(M("err.host.addr_local", addr=addr), fix=M("err.host.addr_local_fix"))
    return str(ip)


def detect_public_addr() -> str | None:
    """This machine's address on its default route (no packet is sent). Behind NAT it is the LAN
    address: give --public-addr (and forward the ports) for members outside that LAN."""
    from core.swarm.addrs import facing_address

    addr = facing_address("8.8.8.8")  # a UDP "connect" picks the route and sends nothing
    if addr and not ipaddress.IPv4Address(addr).is_loopback:
        return addr
    return None


def _spawn_keeper(name: str) -> None:
    """The host's keeper (core.hosting.keeper), detached: it runs the host process and restarts it."""
    d = _host.host_dir(name)
    _paths.ensure_private_dir(d)
    logf = os.fdopen(os.open(_host.log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        subprocess.Popen([sys.executable, "-m", "core.hosting", "keep", name], stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=subprocess.STDOUT, env=env, close_fds=True, start_new_session=True,
                         cwd=str(PROJECT_ROOT))
    finally:
        logf.close()


def _network_table(s: HostSettings, coordinator: str, chain_id: int) -> dict:
    return {"rpc_url": s.local_rpc_url, "chain_id": chain_id, "coordinator": coordinator, "bootnodes": [],
            "backend": "web3", "round_seconds": float(s.round_seconds)}


def _write_network(name: str, table: dict, *, hosted: bool) -> None:
    with _config.config_lock():
        cfg = _config.load_config()
        nets = cfg.data.get("networks") or {}
        if name in nets:
            if not hosted:
                raise HostError(M("err.host.net_not_hosted", name=repr(name)),
                                where=f"{cfg.path} [networks.{name}]", fix=M("err.host.other_name_fix"))
            for k, v in table.items():
                cfg.set_network_value(name, k, v)
        else:
            cfg.add_network(name, table)
        cfg.save()


def _migrate_bootnode(s: HostSettings, say: Progress, new_identity: bool = False) -> HostSettings:
    """The bootnode's identity (core.hosting.bootnode). A swarm hosted when the bootnode was a training
    profile (NAME-boot) keeps that profile's swarm.pem, so its peer id and published address stay; the
    old profile's node is stopped (its files are kept) since the DHT-only bootnode takes its port."""
    import core.supervisor as _supervisor
    from core.hosting import bootnode as _boot

    legacy = None
    if s.bootnode_profile:
        legacy = _paths.ProfilePaths(s.bootnode_profile).swarm_pem
        if not _boot.identity_file(s.name).exists() and legacy.is_file():
            say(M("host.migrating", profile=s.bootnode_profile))
        if _supervisor.query_status(_paths.ProfilePaths(s.bootnode_profile), timeout=1.0) is not None:
            say(M("host.stopping_legacy", profile=s.bootnode_profile))
            _supervisor.stop_profile(s.bootnode_profile, timeout=60)
    if not new_identity and (legacy is None or not legacy.is_file()):
        lost = _boot.lost_identity_error(s.name, s.bootnode_peer_id)
        if lost is not None:
            raise HostError(lost.msgs["what"], where=lost.where, fix=lost.msgs["fix"])
    return replace(s, bootnode_peer_id=_boot.migrate_identity(s.name, legacy))


def host(name: str, *, public_addr: str | None = None, rpc_port: int | None = None, bind: str | None = None,
         dht_port: int | None = None, round_seconds: float | None = None, chain_id: int | None = None,
         rpc_url: str | None = None, deployer_key_file: str | None = None, faucet_key_file: str | None = None,
         train: bool = False, train_profile: str | None = None, model: str | None = None, quant: str | None = None,
         progress: Progress | None = None, wait: float = 240.0, new_bootnode_identity: bool = False) -> dict:
    """Bring the swarm `name` up (idempotent) and return once members can join:
    {settings, runtime, steps: [(what, seconds)], train_profile, invite}. Raises HostError naming the part
    that did not come up, with its last log lines and the fix; then no invite is made."""
    say = _say(progress)
    _check_name(name)
    if (model or quant or train_profile) and not train:
        raise HostError(M("err.host.model_without_train"), fix=M("err.host.model_without_train_fix"))
    old = _host.load_settings(name)
    if old is None:
        cfg = _config.load_config()
        if name in (cfg.data.get("networks") or {}):
            raise HostError(M("err.host.net_exists", name=repr(name)),
                            where=f"{cfg.path} [networks.{name}]", fix=M("err.host.other_name_fix"))
        addr = public_addr or detect_public_addr()
        if not addr:
            raise HostError(M("err.host.no_addr"), fix=M("err.host.no_addr_fix"))
        if rpc_url and not deployer_key_file:
            raise HostError(M("err.host.rpc_needs_deployer"), fix=M("err.host.rpc_needs_deployer_fix"))
        s = HostSettings(name=name, public_addr=_check_addr(addr))
    else:
        s = old
        if public_addr:
            s = replace(s, public_addr=_check_addr(public_addr))
    for key, val in (("rpc_port", rpc_port), ("bind", bind), ("dht_port", dht_port), ("round_seconds", round_seconds),
                     ("chain_id", chain_id), ("rpc_url", rpc_url), ("deployer_key_file", deployer_key_file),
                     ("faucet_key_file", faucet_key_file)):
        if val is not None and val != "":
            s = replace(s, **{key: val})
    for key in ("deployer_key_file", "faucet_key_file"):
        if getattr(s, key):
            s = replace(s, **{key: str(Path(getattr(s, key)).expanduser().resolve())})
    if s.faucet_key_file and s.embedded:
        raise HostError(M("err.host.faucet_key_embedded"), fix=M("err.host.faucet_key_embedded_fix"))
    if s.faucet_key_file and not Path(s.faucet_key_file).is_file():
        raise HostError(M("err.host.faucet_key_missing", path=s.faucet_key_file), where=s.faucet_key_file,
                        fix=M("err.host.faucet_key_missing_fix"))
    if not 1 <= s.rpc_port <= 65535 or not 1 <= s.dht_port <= 65535:
        raise HostError(M("err.host.ports"), fix=M("err.host.ports_fix"))
    if not 5 <= s.round_seconds <= 86400:
        raise HostError(M("err.host.round_seconds", value=f"{s.round_seconds:g}"), fix=M("err.host.round_seconds_fix"))
    if not 0 < s.chain_id < 2**63:
        raise HostError(M("err.host.chain_id", value=s.chain_id), fix=M("err.host.chain_id_fix"))

    s = _migrate_bootnode(s, say, new_identity=new_bootnode_identity)
    _host.save_settings(s)
    keeper = _keeper.keeper_running(name)
    if keeper is not None and old is not None and _chain_fields(old) != _chain_fields(s):
        say(M("host.restarting"))
        procs.stop_group(keeper, timeout=_keeper.STOP_TIMEOUT + 10)
        keeper = None
    if keeper is None:
        rec = _host.running(name)  # a host process without its keeper (started by systemd, or an older one)
        if rec is not None:
            procs.stop_group(rec, timeout=60)
        say(M("host.starting") if s.embedded else M("host.starting_external", url=s.rpc_url))
        _spawn_keeper(name)
    else:
        _paths.ensure_private_dir(_host.host_dir(name))
        (_host.host_dir(name) / "retry").touch()  # parts that gave up get another go
    steps, rt = wait_joinable(name, s, wait=wait, progress=say)
    _write_network(name, _network_table(s, rt["coordinator"], int(rt["chain_id"])), hosted=True)
    tp = None
    if train:
        tp = _train_profile(s, rt, train_profile or s.train_profile or f"{name}-node", model, quant, say)
        s = replace(s, train_profile=tp)
        _host.save_settings(s)
    return {"settings": s, "runtime": rt, "steps": steps, "train_profile": tp, "invite": invite(name)}


# ------------------------------------------------------------------ readiness

_FIXES = ("chain", "advancer", "faucet", "guard", "bootnode", "port")  # err.host.fix_<part>


def _part_failure(name: str, s: HostSettings, part: str, what: str, rt: dict | None) -> HostError:
    """`what`: a Msg (err.host.*) saying what the part did not do."""
    from core.hosting import bootnode as _boot

    info = ((rt or {}).get("parts") or {}).get(part) or {}
    logp = Path(info.get("log") or (_boot.log_file(name) if part == "bootnode" else _host.log_file(name)))
    tail = _host._tail(logp, 8) if logp.exists() else []
    state = f" ({info.get('state')}: {info.get('reason')})" if info.get("state") else ""
    lines = "\n".join(f"  | {ln}" for ln in tail)
    body = M("err.host.not_joinable", name=name, part=part, what=what, state=state) if not tail else \
        M("err.host.not_joinable_log", name=name, part=part, what=what, state=state,
          last=M("err.host.last_lines", path=str(logp)), lines=lines)
    key = "port" if part == "bootnode" and "already in use" in f"{info.get('reason')} {tail}" else part
    fix = M(f"err.host.fix_{key}", dht_port=s.dht_port, rpc_port=s.rpc_port) if key in _FIXES \
        else M("err.host.fix_bootnode")
    return HostError(body, where=str(logp), fix=fix)


def _local_addr(addr: str) -> bool:
    """Whether `addr` is an address of this machine (then the bootnode is dialled there; behind NAT it is not)."""
    import socket

    try:
        with socket.socket() as sock:
            sock.bind((addr, 0))
        return True
    except OSError:
        return False


def wait_joinable(name: str, s: HostSettings, *, wait: float = 240.0, progress: Progress | None = None,
                  ping_timeout: float = 60.0) -> tuple[list[tuple[str, float]], dict]:
    """Wait, step by step, until members can join: the chain answers, the coordinator is deployed, the
    bootnode accepts TCP on its announced address and answers a DHT ping, its address is on chain, and
    the faucet answers. Each step is said with the seconds since the start. A part that gives up (or
    the whole wait running out) raises HostError naming it, with its last log lines and the fix."""
    from core.chain.devnet import rpc_call
    from core.hosting import bootnode as _boot
    from core.swarm.addrs import tcp_reachable

    say = _say(progress)
    t0 = time.monotonic()
    deadline = t0 + wait
    steps: list[tuple[str, float]] = []

    def done(what) -> None:
        dt = time.monotonic() - t0
        steps.append((what, round(dt, 1)))
        say(M("host.timed", seconds=dt, step=what))

    def until(part: str, action, cond, every: float = 0.3):
        while True:
            rt = _host.read_runtime(name)
            kst = _keeper.read_state(name)
            if kst.get("state") == "gave_up" and _keeper.keeper_running(name) is None:
                raise _part_failure(name, s, "chain", M("err.host.host_gave_up", reason=kst.get("reason")), rt)
            info = ((rt or {}).get("parts") or {}).get(part) or {}
            if info.get("state") == "gave_up":
                raise _part_failure(name, s, part, M("err.host.gave_up"), rt)
            got = cond(rt) if rt is not None else None
            if got:
                return got
            if time.monotonic() > deadline:
                raise _part_failure(name, s, part, M("err.host.timeout", action=action, seconds=wait), rt)
            time.sleep(every)

    def chain_answers(rt):
        if (rt.get("parts", {}).get("chain") or {}).get("state") != "running" or not rt.get("coordinator"):
            return None
        try:
            return int(rpc_call(s.local_rpc_url if s.embedded else s.rpc_url, "eth_chainId", timeout=3), 16)
        except Exception:  # noqa: BLE001 - not yet
            return None

    cid = until("chain", M("err.host.action_answer"), chain_answers)
    done(M("host.step_chain", chain_id=cid, url=s.public_rpc_url))

    def deployed(rt):
        try:
            code = rpc_call(rt.get("local_rpc_url") or s.local_rpc_url, "eth_getCode", [rt["coordinator"], "latest"],
                            timeout=5)
        except Exception:  # noqa: BLE001
            return None
        return rt if code not in (None, "0x", "0x0") else None

    rt = until("chain", M("err.host.action_deploy"), deployed)
    done(M("host.step_coordinator", address=rt["coordinator"]))

    dial = s.public_addr if _local_addr(s.public_addr) else "127.0.0.1"
    tcp_maddr = f"/ip4/{dial}/tcp/{s.dht_port}"

    def listening(rt):
        if (rt.get("parts", {}).get("bootnode") or {}).get("state") != "running":
            return None
        # the bootnode's own DHT is up (it writes its status only then): not another program on the port
        rec = procs.read_record(_host.bootnode_record_file(name))
        try:
            st = json.loads(_boot.status_file(name).read_text())
        except (OSError, ValueError):
            return None
        if rec is None or st.get("pid") != rec.pid or st.get("peer_id") != s.bootnode_peer_id:
            return None
        return tcp_reachable(tcp_maddr, timeout=1.0)[0] or None

    until("bootnode", M("err.host.action_tcp", addr=dial, port=s.dht_port), listening, every=0.5)
    done(M("host.step_tcp", addr=dial, port=s.dht_port) if dial == s.public_addr
         else M("host.step_tcp_nat", addr=dial, port=s.dht_port, public=s.public_addr))
    maddr = f"{tcp_maddr}/p2p/{s.bootnode_peer_id}"
    ok, why = _boot.ping(maddr, timeout=min(ping_timeout, max(5.0, deadline - time.monotonic())))
    if not ok:
        raise _part_failure(name, s, "bootnode", M("err.host.no_ping", maddr=maddr, why=why),
                            _host.read_runtime(name))
    done(M("host.step_ping", peer=s.bootnode_peer_id))
    until("bootnode", M("err.host.action_publish"), lambda rt: rt.get("bootnode") == s.bootnode_maddr)
    done(M("host.step_published", maddr=s.bootnode_maddr))
    if "faucet" in ((_host.read_runtime(name) or {}).get("parts") or {}):
        import urllib.request

        def faucet_answers(rt):
            if (rt.get("parts", {}).get("faucet") or {}).get("state") != "running":
                return None
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{s.rpc_port}/health", timeout=3) as r:
                    return json.loads(r.read(4096)).get("faucet") or None
            except Exception:  # noqa: BLE001 - not yet
                return None

        until("faucet", M("err.host.action_answer"), faucet_answers)
        done(M("host.step_faucet", url=(_host.read_runtime(name) or {}).get("faucet")))
    rt = _host.read_runtime(name)
    if rt is None:
        raise _part_failure(name, s, "chain", M("err.host.host_gone"), None)
    return steps, rt


def _train_profile(s: HostSettings, rt: dict, prof: str, model: str | None, quant: str | None, say: Progress) -> str:
    """`swarm host --train`: an ordinary member profile on this machine (its own key, gas, DHT port), started."""
    import core.supervisor as _supervisor
    from core.base.net import port_free

    cfg = _config.load_config()
    if not cfg.has_profile(prof):
        taken = _dht_ports_in_use(cfg) | {s.dht_port}
        port = next((p for p in range(s.dht_port + 1, s.dht_port + 100) if p not in taken and port_free(p, "0.0.0.0")), 0)
        say(M("host.creating_member", profile=prof, model=model or "auto", port=port))
        _profiles.create_profile(prof, make_current=None, network=s.name, backend="web3", model=model or "auto",
                                 quant=quant or "auto", dht_port=int(port))
    else:
        with _config.config_lock():
            cfg = _config.load_config()
            for k, v in (("model", model), ("quant", quant)):
                if v:
                    cfg.set_profile_value(prof, k, v)
            cfg.save()
    key = _ensure_key(_paths.ProfilePaths(prof))
    _fund(s, rt, key)
    say(M("host.starting_member", profile=prof))
    _supervisor.spawn_detached(prof)
    return prof


def _chain_fields(s: HostSettings) -> tuple:
    """Settings the running host process depends on."""
    return (s.rpc_port, s.bind, s.round_seconds, s.chain_id, s.rpc_url, s.deployer_key_file, s.faucet_wei,
            s.faucet_key_file, s.public_addr, s.dht_port)


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
        raise HostError(M("err.host.faucet_refused", address=address, reason=str(msg)), where=url,
                        fix=M("err.host.faucet_refused_fix")) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise HostError(M("err.host.faucet_silent", error=str(e)), where=url,
                        fix=M("err.host.faucet_silent_fix")) from None
    if not isinstance(ans, dict) or ans.get("status") not in ("funded", "already"):
        raise HostError(M("err.host.faucet_odd", answer=str(ans)[:200]), where=url, fix=M("err.host.ask_host_fix"))
    return ans


def invite(name: str) -> str:
    """The invite string for the running host of swarm `name` (signed with its bootnode-manager key)."""
    s = _host.load_settings(name)
    if s is None:
        raise HostError(M("err.host.not_hosted", name=repr(name)), fix=M("err.host.not_hosted_fix_host", name=name))
    rt = _host.read_runtime(name)
    if rt is None:
        raise HostError(M("err.host.not_running", name=repr(name)), where=str(_host.log_file(name)),
                        fix=M("err.host.not_running_fix", name=name))
    keys = json.loads((_host.host_dir(name) / "keys.json").read_text())
    inv = _invite.Invite(name=name, chain_id=int(rt["chain_id"]), rpc_url=s.public_rpc_url,
                         coordinator=rt["coordinator"], bootnodes=(s.bootnode_maddr,), backend="web3",
                         faucet=rt.get("faucet") or "", round_seconds=float(s.round_seconds))
    return _invite.encode(inv, keys["bootnode_manager"])


def hosted() -> list[str]:
    root = _paths.data_dir() / "networks"
    return sorted(p.name for p in root.iterdir() if (p / "host.json").is_file()) if root.is_dir() else []


def host_status(name: str) -> dict:
    """The host and each of its parts: state word, uptime, restarts, last exit; the alerts that hold."""
    s = _host.load_settings(name)
    if s is None:
        raise HostError(M("err.host.not_hosted", name=repr(name)), fix=M("err.host.not_hosted_fix_status"))
    rt = _host.read_runtime(name)
    kst = _keeper.read_state(name)
    keeper = _keeper.keeper_running(name)
    out = {"name": name, "running": rt is not None, "rpc_url": s.public_rpc_url, "bootnode": s.bootnode_maddr,
           "round_seconds": s.round_seconds, "embedded": s.embedded, "train_profile": s.train_profile or None,
           "keeper": {"state": kst.get("state", "stopped") if keeper else ("gave_up" if kst.get("state") == "gave_up"
                                                                          else "stopped"),
                      "restarts": kst.get("restarts", 0), "last_exit": kst.get("last_exit")},
           "parts": {}, "alerts": {}, "bootnode_backup": bootnode_backup_state(name)}
    if rt:
        out.update(coordinator=rt.get("coordinator"), chain_id=rt.get("chain_id"), faucet=rt.get("faucet", ""),
                   parts=rt.get("parts") or {}, alerts=rt.get("alerts") or {})
        try:
            from core.chain.devnet import rpc_call

            data = "0x8a19c8bc"  # currentRound()
            out["round"] = int(rpc_call(s.local_rpc_url, "eth_call", [{"to": rt["coordinator"], "data": data}, "latest"],
                                        timeout=3), 16)
        except Exception:  # noqa: BLE001 - status must not fail on a slow chain
            out["round"] = None
    elif keeper is None:
        out["alerts"] = {"host down": M("host.alert_down", name=name)}
    return out


def host_runs(name: str) -> bool:
    """Whether anything of swarm `name`'s host runs here (its keeper or its host process)."""
    return _keeper.keeper_running(name) is not None or _host.running(name) is not None


def backup_bootnode(name: str, dest, passphrase: str, *, progress: Progress | None = None, **kw):
    """`swarm backup`: an encrypted, verified backup of the swarm's bootnode identity."""
    from core.hosting import bootnode_backup as _bb

    if _host.load_settings(name) is None and not _boot_pem(name).exists():
        raise HostError(M("err.host.not_hosted", name=repr(name)), fix=M("err.host.not_hosted_fix_status"))
    return _bb.create(name, dest, passphrase, progress=progress, **kw)


def restore_bootnode(archive, passphrase: str, name: str | None = None, *, replace: bool = False,
                     progress: Progress | None = None):
    """`swarm restore`: the bootnode's key back from a backup (see core.hosting.bootnode_backup).
    Also on a new machine: the next `swarm host --name NAME` then uses the restored key."""
    from core.hosting import bootnode_backup as _bb

    res = _bb.restore(archive, passphrase, name, replace=replace, host_running=host_runs, progress=progress)
    s = _host.load_settings(res.swarm)
    return {"backup": res, "host_runs": host_runs(res.swarm),
            "published_differs": bool(s and s.bootnode_peer_id and s.bootnode_peer_id != res.peer_id)}


def _boot_pem(name: str) -> Path:
    from core.hosting import bootnode as _boot

    return _boot.identity_file(name)


def bootnode_backup_state(name: str) -> dict:
    from core.hosting import bootnode_backup as _bb

    return _bb.backup_state(name)


def stop_host(name: str) -> dict:
    """Stop the keeper (it stops the host process, which stops its parts). State and keys are kept."""
    s = _host.load_settings(name)
    if s is None:
        raise HostError(M("err.host.not_hosted", name=repr(name)), fix=M("err.host.not_hosted_fix_see"))
    out = {"host_stopped": False}
    keeper = _keeper.keeper_running(name)
    if keeper is not None:
        out["host_stopped"] = procs.stop_group(keeper, timeout=_keeper.STOP_TIMEOUT + 10)
    rec = _host.running(name)  # a host without a keeper (systemd runs serve directly)
    if rec is not None:
        out["host_stopped"] = procs.stop_group(rec, timeout=60) or out["host_stopped"]
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
        raise SwarmdeckError(M("err.host.profile_exists", name=repr(prof_name)), where=f"{cfg.path} [profiles.{prof_name}]",
                             fix=M("err.host.profile_exists_fix"))
    existing = (cfg.data.get("networks") or {}).get(net_name)
    if existing is not None:
        same = (str(existing.get("coordinator", "")).lower() == inv.coordinator.lower()
                and int(existing.get("chain_id", 0)) == inv.chain_id)
        if not same:
            raise SwarmdeckError(M("err.host.other_network", name=repr(net_name)),
                                 where=f"{cfg.path} [networks.{net_name}]",
                                 fix=M("err.host.other_network_fix"))
    report = _invite.check(inv, timeout=timeout, progress=say)
    port = dht_port
    if port is None:
        taken = _dht_ports_in_use(cfg)
        port = next((p for p in range(38331, 38400) if p not in taken and port_free(p, "0.0.0.0")), 0)
    key = Account.create()
    if inv.backend == "web3" and inv.faucet:
        say(M("host.asking_faucet", address=key.address))
        ask_faucet(inv.faucet, key.address)
    say(M("host.adding", network=net_name, profile=prof_name))
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
