"""A swarm host: the chain side of a swarm other machines join, in one detached process.

`python -m core.hosting serve NAME` (started by `swarmdeck swarm host`, or by its systemd
unit) runs until SIGTERM and survives logout (own session, SIGHUP ignored):

  chain      embedded: anvil on 127.0.0.1 (a free port; state in network_dir(NAME)/anvil-state.json,
             coordinator deployed once, role keys in keys.json 0600: core.chain.devnet.LocalChain),
             restarted with its state if it dies; anvil's well-known dev account is emptied.
             external: any EVM chain at settings.rpc_url; the coordinator is deployed there once
             with the deployer key (its file stays where the user keeps it; only its path is
             stored), the stage / bootnode manager keys are made here and funded from it.
  advancer   updateStageAndRound() every round_seconds, signed by the stage manager
  bootnode   the bootnode profile's multiaddr (/ip4/PUBLIC/tcp/DHT_PORT/p2p/PEER) on the
             coordinator, signed by the bootnode manager, replacing other entries
  guard      (embedded) the members' RPC on bind:rpc_port (core.hosting.guard) with the faucet
             (core.hosting.faucet) at /faucet

Files in network_dir(NAME) (0700): host.json (settings, no secrets), host.pid (runtime record),
host-runtime.json (what the running host serves: public rpc url, coordinator, ...), host.log,
faucet.key (0600), funded.json, plus LocalChain's files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.base import fsutil, procs
from core.base import paths as _paths
from core.base.errors import ChainError, SwarmdeckError, dict_part
from core.base.i18n import M
from core.base.systemd import user_unit
from core.chain.devnet import WEI_PER_ETH, LocalChain, rpc_call

log = logging.getLogger("swarmdeck.host")

DEFAULT_RPC_PORT = 8545
DEFAULT_DHT_PORT = 38331
FAUCET_BALANCE_ETH = 1_000_000
ROLE_FUND_WEI = WEI_PER_ETH // 20     # external chain: what each role key gets from the deployer (0.05)
MONITOR_S = 2.0


class HostError(SwarmdeckError):
    pass


@dataclass(frozen=True)
class HostSettings:
    name: str
    public_addr: str
    rpc_port: int = DEFAULT_RPC_PORT        # the guard's port (members' RPC), embedded chain only
    bind: str = "0.0.0.0"                   # the guard's listen address
    dht_port: int = DEFAULT_DHT_PORT        # the bootnode profile's fixed DHT port
    round_seconds: float = 120.0
    chain_id: int = 31337
    rpc_url: str = ""                       # external chain ("" = the embedded one)
    deployer_key_file: str = ""             # external chain: file holding the deployer's private key
    bootnode_profile: str = ""              # before the DHT-only bootnode: its profile (identity migrated)
    bootnode_peer_id: str = ""
    faucet_wei: int = WEI_PER_ETH
    faucet_key_file: str = ""               # external chain: a funded key the faucet pays from ("" = no faucet)
    train_profile: str = ""                 # `swarm host --train`: the host's own member profile

    @property
    def embedded(self) -> bool:
        return not self.rpc_url

    @property
    def public_rpc_url(self) -> str:
        return f"http://{self.public_addr}:{self.rpc_port}" if self.embedded else self.rpc_url

    @property
    def local_rpc_url(self) -> str:
        """What processes on the host use (the guard on loopback; loopback is not rate-limited)."""
        return f"http://127.0.0.1:{self.rpc_port}" if self.embedded else self.rpc_url

    @property
    def public_faucet_base(self) -> str:
        """Where members reach the host's own HTTP endpoint (the guard): the faucet lives at /faucet."""
        return f"http://{self.public_addr}:{self.rpc_port}"

    @property
    def bootnode_maddr(self) -> str:
        return f"/ip4/{self.public_addr}/tcp/{self.dht_port}/p2p/{self.bootnode_peer_id}"


def host_dir(name: str) -> Path:
    return _paths.network_dir(name)


def settings_file(name: str) -> Path:
    return host_dir(name) / "host.json"


def record_file(name: str) -> Path:
    return host_dir(name) / "host.pid"


def runtime_file(name: str) -> Path:
    return host_dir(name) / "host-runtime.json"


def log_file(name: str) -> Path:
    return host_dir(name) / "host.log"


def load_settings(name: str) -> HostSettings | None:
    try:
        d = json.loads(settings_file(name).read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise HostError(M("err.host.settings_damaged", name=repr(name), error=str(e)), where=str(settings_file(name)),
                        fix=M("err.host.settings_damaged_fix")) from None
    known = {f.name for f in dataclasses.fields(HostSettings)}
    return HostSettings(**{k: v for k, v in d.items() if k in known})


def save_settings(s: HostSettings) -> None:
    _paths.ensure_private_dir(host_dir(s.name))
    fsutil.atomic_write_json(settings_file(s.name), dataclasses.asdict(s))


def running(name: str) -> procs.Record | None:
    rec = procs.read_record(record_file(name))
    return rec if procs.alive(rec) else None


def read_runtime(name: str) -> dict | None:
    if running(name) is None:
        return None
    try:
        return json.loads(runtime_file(name).read_text())
    except (FileNotFoundError, ValueError):
        return None


# ---------------------------------------------------------------------------- chains

class ExternalChain(LocalChain):
    """The coordinator on a chain swarmdeck does not run: deploy once with the user's key, fund roles by transfer."""

    def __init__(self, name: str, rpc_url: str, deployer_key: str, **kw):
        super().__init__(name, **kw)
        self.rpc_url = rpc_url
        self._deployer_key = deployer_key

    def _load_or_create_keys(self) -> None:
        from eth_account import Account

        if self.keys_file.exists():
            keys = json.loads(self.keys_file.read_text())
        else:
            keys = {role: Account.create().key.hex() for role in ("stage_manager", "bootnode_manager")}
            fsutil.atomic_write_json(self.keys_file, keys)
        keys.pop("owner", None)
        self._keys = {"owner": self._deployer_key, **keys}  # the deployer's key is never written here

    def start(self) -> "ExternalChain":
        _paths.ensure_private_dir(self.dir)
        self._load_or_create_keys()
        try:
            got = int(rpc_call(self.rpc_url, "eth_chainId", timeout=10), 16)
        except Exception as e:  # noqa: BLE001
            raise HostError(M("err.host.chain_silent", url=self.rpc_url, error=str(e)), where=self.rpc_url,
                            fix=M("err.host.chain_silent_fix")) from None
        self.chain_id = got
        self._ensure_deployed()
        return self

    def fund(self, address: str, eth: int = 0) -> None:
        """A transfer of ROLE_FUND_WEI from the deployer (a real chain has no cheat RPC), only to another
        account whose balance fell below half of that: a restarted host does not pay its role keys again."""
        from eth_account import Account
        from web3 import Web3

        acct = Account.from_key(self._deployer_key)
        if address.lower() == acct.address.lower() or self.w3.eth.get_balance(address) >= ROLE_FUND_WEI // 2:
            return
        with self._lock:
            tx = {"to": Web3.to_checksum_address(address), "value": ROLE_FUND_WEI, "gas": 21000,
                  "chainId": self.chain_id, "gasPrice": self.w3.eth.gas_price,
                  "nonce": self.w3.eth.get_transaction_count(acct.address, "pending")}
            h = self.w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
        rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.2)
        if rcpt["status"] != 1:
            raise ChainError(M("err.host.fund_failed", address=address), where=self.rpc_url,
                             fix=M("err.host.fund_failed_fix"))

    def _ensure_deployed(self) -> None:
        bal = self.w3.eth.get_balance(self._account("owner").address)
        if bal == 0 and not self.deployment_file.exists():
            raise HostError(M("err.host.deployer_empty", address=self._account("owner").address, chain=self.chain_id),
                            where=self.rpc_url, fix=M("err.host.deployer_empty_fix"))
        super()._ensure_deployed()

    def dump_state(self) -> None:
        pass

    def stop(self) -> None:
        for adv in list(self._advancers):
            adv.stop()


def _send_value(chain: LocalChain, key: str, to: str, wei: int) -> str:
    from eth_account import Account
    from web3 import Web3

    acct = Account.from_key(key)
    with chain._lock:
        tx = {"to": Web3.to_checksum_address(to), "value": int(wei), "gas": 21000, "chainId": chain.chain_id,
              "gasPrice": chain.w3.eth.gas_price, "nonce": chain.w3.eth.get_transaction_count(acct.address, "pending")}
        h = chain.w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    rcpt = chain.w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.05)
    if rcpt["status"] != 1:
        raise ChainError(M("err.host.transfer_reverted", to=to), where=chain.rpc_url)
    return "0x" + bytes(rcpt["transactionHash"]).hex().removeprefix("0x")


def faucet_key(name: str) -> str:
    from eth_account import Account

    path = host_dir(name) / "faucet.key"
    with contextlib.suppress(FileExistsError):
        fsutil.create_exclusive(path, (Account.create().key.hex() + "\n").encode())
    return path.read_text().strip()


def _prepare_embedded(chain: LocalChain, name: str) -> str:
    """Empty anvil's well-known dev account(s) (anyone can sign with their published keys) and fill the faucet."""
    from eth_account import Account

    for dev in rpc_call(chain.rpc_url, "eth_accounts") or []:
        rpc_call(chain.rpc_url, "anvil_setBalance", [dev, "0x0"])
    key = faucet_key(name)
    addr = Account.from_key(key).address
    if chain.w3.eth.get_balance(addr) < 1000 * WEI_PER_ETH:
        chain.fund(addr, FAUCET_BALANCE_ETH)
    return key


def publish_bootnode(chain: LocalChain, maddr: str) -> bool:
    """Make `maddr` the coordinator's only bootnode (no transaction when it already is): the host owns this
    coordinator, so an old address (another port or public address) is replaced, never kept beside it."""
    current = list(chain.contract.functions.getBootnodes().call())
    if current == [maddr]:
        return False
    if current:
        chain.clear_bootnodes()
    chain.add_bootnodes([maddr])
    return True


def open_chain(s: HostSettings) -> LocalChain:
    if s.embedded:
        return LocalChain(s.name, host="127.0.0.1", port=0, chain_id=s.chain_id).start()
    try:
        key = Path(s.deployer_key_file).expanduser().read_text().strip()
    except OSError as e:
        raise HostError(M("err.host.deployer_key_unreadable", error=str(e.strerror)), where=s.deployer_key_file,
                        fix=M("err.host.deployer_key_unreadable_fix")) from None
    return ExternalChain(s.name, s.rpc_url, key).start()


def host_policy():
    """The node supervisor's restart rules for the host's parts (core.supervisor.policy): the defaults of
    [profiles.*.daemon], and SWARMDECK_DAEMON_SETTINGS overrides as for nodes (tests pass fast timings)."""
    from core.supervisor.policy import RestartPolicy
    from core.supervisor.settings import load_settings as _sup_settings

    return RestartPolicy.from_settings(_sup_settings(""))  # "" is no profile: the defaults


def bootnode_record_file(name: str) -> Path:
    return host_dir(name) / "bootnode.pid"


def _reap_orphans(name: str) -> None:
    """A host process killed with -9 leaves its anvil (own session) and bootnode (own session) behind:
    end them by their runtime records (start time checked: never a reused pid). anvil gets SIGTERM,
    so it writes its state first; the new host starts it again from that state."""
    from core.hosting import bootnode as _boot

    for rec_file in (bootnode_record_file(name), host_dir(name) / "runtime.json"):
        rec = procs.read_record(rec_file)
        if procs.alive(rec):
            log.warning("ending %s (pid %s) left by a previous host process", rec_file.name, rec.pid)
            procs.stop_group(rec, timeout=20)
        with contextlib.suppress(FileNotFoundError):
            rec_file.unlink()
    with contextlib.suppress(FileNotFoundError):
        _boot.status_file(name).unlink()


def _tail(path: Path, n: int = 5) -> list[str]:
    try:
        return path.read_text(errors="replace").strip().splitlines()[-n:]
    except OSError:
        return []


def _make_parts(s: HostSettings, name: str) -> dict:
    """The host's parts, in start order. Each is a core.hosting.parts.Part."""
    import subprocess
    import sys

    from core.base.constants import EXIT_CONFIG
    from core.hosting import bootnode as _boot
    from core.hosting.faucet import Faucet
    from core.hosting.guard import RpcGuard
    from core.hosting.parts import Broken, Part

    parts: dict[str, Part] = {}

    # -- chain
    def chain_start():
        return open_chain(s)

    def chain_check(chain):
        if s.embedded:
            if chain.proc is not None and chain.proc.poll() is not None:
                raise Broken(M("host.part.anvil_exited", code=chain.proc.returncode))
            return
        try:
            rpc_call(s.rpc_url, "eth_chainId", timeout=10)
        except Exception as e:  # noqa: BLE001
            raise Broken(M("host.part.chain_silent", url=s.rpc_url, error=type(e).__name__)) from None

    parts["chain"] = Part("chain", chain_start, chain_check, lambda c: c.stop(), policy=host_policy(),
                          log_file=str(host_dir(name) / "anvil.log") if s.embedded else str(log_file(name)))

    def chain() -> LocalChain:
        c = parts["chain"].handle
        if c is None:
            raise Broken(M("host.part.chain_not_running"))
        return c

    # -- round advancer (a thread signing updateStageAndRound with the stage manager's key)
    stall_after = max(3 * s.round_seconds, 60.0)

    def adv_check(adv):
        if not adv._thread.is_alive():
            raise Broken(M("host.part.advancer_ended"))
        if time.monotonic() - adv.last_ok > stall_after:
            raise Broken(M("host.part.stalled_error", seconds=time.monotonic() - adv.last_ok, error=str(adv.last_error))
                         if adv.last_error else M("host.part.stalled", seconds=time.monotonic() - adv.last_ok))

    parts["advancer"] = Part("advancer", lambda: chain().start_advancer(s.round_seconds), adv_check,
                             lambda a: a.stop(), policy=host_policy(), log_file=str(log_file(name)))

    # -- faucet (gas for members): embedded chain from the faucet key, external from the operator's key
    fkey_file = Path(s.faucet_key_file).expanduser() if s.faucet_key_file else None
    has_faucet = s.embedded or fkey_file is not None

    def faucet_start():
        if s.embedded:
            key = _prepare_embedded(chain(), name)
        else:
            try:
                key = fkey_file.read_text().strip()
            except OSError as e:
                raise Broken(M("host.part.faucet_key", path=str(fkey_file), error=str(e.strerror)), fatal=True) from None
        return Faucet(lambda addr, wei: _send_value(chain(), key, addr, wei), host_dir(name) / "funded.json",
                      amount=s.faucet_wei), key

    def faucet_check(h):
        from eth_account import Account

        _, key = h
        try:
            bal = chain().w3.eth.get_balance(Account.from_key(key).address)
        except Broken:
            raise
        except Exception:  # noqa: BLE001 - a slow chain is the chain part's business
            return
        if bal < s.faucet_wei:
            raise Broken(M("host.part.faucet_low", address=Account.from_key(key).address, eth=f"{bal / WEI_PER_ETH:g}",
                           grant=f"{s.faucet_wei / WEI_PER_ETH:g}"))

    if has_faucet:
        parts["faucet"] = Part("faucet", faucet_start, faucet_check, policy=host_policy(),
                               log_file=str(log_file(name)))

    # -- guard: the members' RPC (embedded) and the faucet's HTTP endpoint
    def guard_start():
        upstream = chain().rpc_url
        f = parts["faucet"].handle[0] if has_faucet and parts["faucet"].handle else None
        try:
            return RpcGuard(upstream, bind=s.bind, port=s.rpc_port, faucet=f).start()
        except OSError as e:
            raise Broken(M("host.part.cannot_listen", addr=f"{s.bind}:{s.rpc_port}", error=str(e.strerror)), fatal=True) from None

    def guard_check(g):
        import urllib.request

        if g._thread is None or not g._thread.is_alive():
            raise Broken(M("host.part.guard_ended"))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{g.port}/health", timeout=5) as r:
                json.loads(r.read(4096))
        except Exception as e:  # noqa: BLE001
            raise Broken(M("host.part.guard_silent", port=g.port, error=type(e).__name__)) from None
        g.upstream = chain().rpc_url  # anvil restarted on another port: follow it
        if has_faucet and parts["faucet"].handle is not None:
            g.faucet = parts["faucet"].handle[0]

    if s.embedded or has_faucet:
        parts["guard"] = Part("guard", guard_start, guard_check, lambda g: g.stop(), policy=host_policy(),
                              log_file=str(log_file(name)))

    # -- bootnode: a DHT-only peer in its own process (core.hosting.bootnode)
    def boot_start():
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        env["SWARMDECK_BOOTNODE_OF"] = name
        logf = os.fdopen(os.open(_boot.log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            logf.write(f"--- swarmdeck: bootnode starting at {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
            logf.flush()
            proc = subprocess.Popen([sys.executable, "-m", "core.hosting", "bootnode", name],
                                    stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                    close_fds=True, start_new_session=True, cwd=root)
        finally:
            logf.close()
        procs.write_record(bootnode_record_file(name), procs.record_for(proc.pid, pgid=proc.pid))
        return proc

    def boot_check(proc):
        rc = proc.poll()
        if rc is not None:
            last = next((ln for ln in reversed(_tail(_boot.log_file(name), 20)) if ln.startswith("bootnode:")), "")
            raise Broken(M("host.part.exited_last", code=rc, last=last.removeprefix("bootnode: ")) if last
                         else M("host.part.exited", code=rc),
                         fatal=rc == EXIT_CONFIG)

    def boot_stop(proc):
        procs.stop_group(procs.record_for(proc.pid, pgid=proc.pid), timeout=20)
        proc.poll()
        with contextlib.suppress(FileNotFoundError):
            bootnode_record_file(name).unlink()

    parts["bootnode"] = Part("bootnode", boot_start, boot_check, boot_stop, policy=host_policy(),
                             log_file=str(_boot.log_file(name)))

    # A new chain means a new advancer and (embedded) a refilled faucet on it.
    def chain_restarted(_chain) -> None:
        for dep in ("advancer", "faucet"):
            p = parts.get(dep)
            if p is not None and p.state not in ("stopped", "starting"):
                p.stop()
                p.start()

    parts["chain"].on_restart.append(chain_restarted)
    return parts


def host_alerts(parts: dict) -> dict[str, str]:
    """The host's alert conditions now: {title: detail}. "bootnode down" while its part does not run,
    "round advancer stalled" while the advancer does not, "chain down", "faucet down", "RPC guard down"."""
    # Msgs (str = the English text, so the keys and logs stay English): the alert sender renders them
    # in the user's language
    known = {"bootnode", "advancer", "chain", "faucet", "guard"}  # each has its own alert.host.* title
    out = {}
    for name, p in parts.items():
        d = p if isinstance(p, dict) else p.to_dict()
        st = d.get("state")
        if st not in ("running", "starting"):
            title = M(f"alert.host.{name}") if name in known else M("alert.host.other", part=name)
            state = M(f"alert.state.{st}") if st in ("stopped", "crashed", "gave_up") else str(st)
            reason = dict_part(d, "reason")
            out[title] = M("alert.host.detail", state=state, reason=reason) if reason else state
    return out


def _host_alert_sender(name: str):
    """(HostAlerts, AlertSender or None): the host's alerts go where the user's [alerts] send (the same
    URL file, nothing new to set up); none when alerts are off or there is no config."""
    from core.hosting.parts import HostAlerts

    rules = HostAlerts(name, grace=float(os.environ.get("SWARMDECK_HOST_ALERT_GRACE_S") or 30.0))
    try:
        from core.alerts.sender import AlertSender
        from core.alerts.urls import urls_path
        from core.config import settings as _config

        if not _config.config_path().exists():
            return rules, None
        settings = _config.load_config(create=False, strict=False).alerts(None)
        if not settings.enabled:
            return rules, None
        return rules, AlertSender(urls_path(settings), on_note=lambda msg: log.info("alerts: %s", msg))
    except Exception as e:  # noqa: BLE001 - a broken config must not stop the host: log, and go on without
        log.warning("alerts: not sent (%s: %s)", type(e).__name__, getattr(e, "what", e))
        return rules, None


def serve(name: str) -> int:
    """The host process: its parts (chain, advancer, faucet, guard, bootnode) watched until SIGTERM."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # survive the terminal closing
    s = load_settings(name)
    if s is None:
        log.error("no host settings for %r (%s): run `swarmdeck swarm host`", name, settings_file(name))
        return 78
    _paths.ensure_private_dir(host_dir(name))
    other = running(name)
    if other is not None and other.pid != os.getpid():
        log.error("the host of %r already runs (pid %s)", name, other.pid)
        return 78
    procs.write_record(record_file(name), procs.record_for(os.getpid()))
    _reap_orphans(name)
    parts = _make_parts(s, name)
    started_at = time.time()
    published = ""
    alerts: dict[str, str] = {}
    retry_file = host_dir(name) / "retry"
    alert_rules, sender = _host_alert_sender(name)

    def write_runtime() -> None:
        c = parts["chain"].handle
        fsutil.atomic_write_json(runtime_file(name), {
            "pid": os.getpid(), "rpc_url": s.public_rpc_url, "local_rpc_url": s.local_rpc_url,
            "chain_id": c.chain_id if c else None, "coordinator": c.coordinator if c else None,
            "bootnode": published, "bootnode_maddr": s.bootnode_maddr,
            "faucet": f"{s.public_rpc_url if s.embedded else s.public_faucet_base}/faucet" if "faucet" in parts else "",
            "started_at": started_at, "parts": {k: p.to_dict() for k, p in parts.items()}, "alerts": alerts})

    try:
        for p in parts.values():
            if p.name in ("advancer", "faucet", "guard") and parts["chain"].state != "running":
                continue  # they need the chain: the loop below starts them once it runs
            p.start()
        if parts["chain"].handle is not None:
            log.info("swarm %s hosted: rpc %s, coordinator %s, rounds every %gs", name, s.public_rpc_url,
                     parts["chain"].handle.coordinator, s.round_seconds)
        while True:
            write_runtime()
            if stop.wait(MONITOR_S):
                break
            if retry_file.exists():  # `swarm host` again: parts that gave up get another go
                with contextlib.suppress(FileNotFoundError):
                    retry_file.unlink()
                for p in parts.values():
                    p.retry()
            for p in parts.values():
                if p.name in ("advancer", "faucet", "guard") and parts["chain"].state != "running":
                    continue  # they need the chain: started again once it runs
                if p.state == "stopped":
                    p.start()
                else:
                    p.tick()
            # The bootnode's address (public address, port, peer id) is read live from host.json.
            fresh = load_settings(name) or s
            c = parts["chain"].handle
            if c is not None and fresh.bootnode_peer_id and fresh.bootnode_maddr != published:
                try:
                    if publish_bootnode(c, fresh.bootnode_maddr):
                        log.info("published bootnode %s on the coordinator", fresh.bootnode_maddr)
                    published = fresh.bootnode_maddr
                except Exception as e:  # noqa: BLE001 - the chain hiccupped: next tick tries again
                    log.warning("could not publish the bootnode yet: %s", e)
            now_alerts = host_alerts(parts)
            for title in now_alerts.keys() - alerts.keys():
                log.warning("ALERT %s: %s", title, now_alerts[title])
            for title in alerts.keys() - now_alerts.keys():
                log.info("recovered: %s", title)
            alerts = now_alerts
            for a in alert_rules.update(alerts, time.time()):
                if sender is not None:
                    sender.submit(a)
    except SwarmdeckError as e:
        log.error("%s", e)
        return 1
    finally:
        for p in reversed(list(parts.values())):
            p.stop()
        if sender is not None:
            sender.close(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            runtime_file(name).unlink()
        with contextlib.suppress(FileNotFoundError):
            record_file(name).unlink()
    return 0


def unit_text(name: str, python: str, project_root: str) -> str:
    """A systemd user unit running the host process of swarm `name` in the foreground."""
    import shlex

    return user_unit(f"swarmdeck swarm host ({name}): chain, round advancer, RPC guard, faucet and bootnode",
                     f"{shlex.quote(python)} -m core.hosting serve {shlex.quote(name)}", project_root,
                     env=f"PYTHONUNBUFFERED=1 PYTHONPATH={project_root}", kill_mode="mixed", stop_timeout_s=60,
                     restart_s=5)

