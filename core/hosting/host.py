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
from core.base.errors import ChainError, SwarmdeckError
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
    bootnode_profile: str = ""
    bootnode_peer_id: str = ""
    faucet_wei: int = WEI_PER_ETH

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
        raise HostError(f"the host settings of swarm {name!r} are damaged: {e}", where=str(settings_file(name)),
                        fix="move the file aside and run `swarmdeck swarm host` again with your options") from None
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
            raise HostError(f"the chain at {self.rpc_url} does not answer: {e}", where=self.rpc_url,
                            fix="check the --rpc URL and this machine's connection to it") from None
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
            raise ChainError(f"funding {address} from the deployer failed", where=self.rpc_url,
                             fix="check the deployer account's balance")

    def _ensure_deployed(self) -> None:
        bal = self.w3.eth.get_balance(self._account("owner").address)
        if bal == 0 and not self.deployment_file.exists():
            raise HostError(f"the deployer account {self._account('owner').address} has no funds on chain "
                            f"{self.chain_id}", where=self.rpc_url, fix="fund it, then run `swarmdeck swarm host` again")
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
        raise ChainError(f"transfer to {to} reverted", where=chain.rpc_url)
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
    """Make `maddr` the coordinator's only bootnode (no transaction when it already is)."""
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
        raise HostError(f"cannot read the deployer key file: {e.strerror}", where=s.deployer_key_file,
                        fix="pass --deployer-key FILE (a hex private key, mode 0600)") from None
    return ExternalChain(s.name, s.rpc_url, key).start()


def serve(name: str) -> int:
    """The host process: chain, advancer, bootnode on chain, guard + faucet; until SIGTERM."""
    from core.hosting.faucet import Faucet
    from core.hosting.guard import RpcGuard

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # survive the terminal closing
    s = load_settings(name)
    if s is None:
        log.error("no host settings for %r (%s): run `swarmdeck swarm host`", name, settings_file(name))
        return 78
    _paths.ensure_private_dir(host_dir(name))
    if running(name) is not None and running(name).pid != os.getpid():
        log.error("the host of %r already runs (pid %s)", name, running(name).pid)
        return 78
    procs.write_record(record_file(name), procs.record_for(os.getpid()))
    chain = guard = adv = None
    try:
        chain = open_chain(s)
        fkey = _prepare_embedded(chain, name) if s.embedded else None
        adv = chain.start_advancer(s.round_seconds)
        if s.embedded:
            faucet = Faucet(lambda addr, wei: _send_value(chain, fkey, addr, wei), host_dir(name) / "funded.json",
                            amount=s.faucet_wei)
            guard = RpcGuard(chain.rpc_url, bind=s.bind, port=s.rpc_port, faucet=faucet).start()
        published = ""

        def write_runtime() -> None:
            fsutil.atomic_write_json(runtime_file(name), {
                "pid": os.getpid(), "rpc_url": s.public_rpc_url, "local_rpc_url": s.local_rpc_url,
                "chain_id": chain.chain_id, "coordinator": chain.coordinator, "bootnode": published,
                "faucet": f"{s.public_rpc_url}/faucet" if s.embedded else "", "started_at": time.time()})

        write_runtime()
        log.info("swarm %s hosted: rpc %s, coordinator %s, rounds every %gs", name, s.public_rpc_url,
                 chain.coordinator, s.round_seconds)
        while True:
            # The bootnode's address (public address, port, peer id) is read live from host.json.
            fresh = load_settings(name) or s
            if fresh.bootnode_peer_id and fresh.bootnode_maddr != published:
                try:
                    if publish_bootnode(chain, fresh.bootnode_maddr):
                        log.info("published bootnode %s on the coordinator", fresh.bootnode_maddr)
                    published = fresh.bootnode_maddr
                    write_runtime()
                except Exception as e:  # noqa: BLE001 - the chain hiccupped: next tick tries again
                    log.warning("could not publish the bootnode yet: %s", e)
            if stop.wait(MONITOR_S):
                break
            if s.embedded and chain.proc is not None and chain.proc.poll() is not None:
                log.warning("anvil exited (code %s); starting it again with its saved state", chain.proc.returncode)
                adv.stop()
                chain.stop()
                chain = open_chain(s)
                _prepare_embedded(chain, name)
                adv = chain.start_advancer(s.round_seconds)
                guard.upstream = chain.rpc_url
    except SwarmdeckError as e:
        log.error("%s", e)
        return 1
    finally:
        if guard is not None:
            guard.stop()
        if adv is not None:
            adv.stop()
        if chain is not None:
            chain.stop()
        with contextlib.suppress(FileNotFoundError):
            runtime_file(name).unlink()
        with contextlib.suppress(FileNotFoundError):
            record_file(name).unlink()
    return 0


def unit_text(name: str, python: str, project_root: str) -> str:
    """A systemd user unit running the host process of swarm `name` in the foreground."""
    import shlex

    return f"""[Unit]
Description=swarmdeck swarm host ({name}): chain, round advancer, RPC guard and faucet
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={shlex.quote(python)} -m core.hosting serve {shlex.quote(name)}
WorkingDirectory={project_root}
Environment=PYTHONUNBUFFERED=1 PYTHONPATH={project_root}
KillMode=mixed
TimeoutStopSec=60
Restart=on-failure
RestartSec=5

[Install]
WantedBy=default.target
"""

