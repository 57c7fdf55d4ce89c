"""The local network's chain: anvil on loopback with our Coordinator deployed.

    chain = LocalChain("local").start()     # or: with LocalChain() as chain: ...
    chain.rpc_url, chain.coordinator, chain.chain_id
    acct = chain.new_funded_account()       # eth_account LocalAccount with ETH for gas
    chain.advance()                         # to the next round (updateStageAndRound() per stage left)
    chain.advance_stage()                   # one updateStageAndRound() as the stage manager
    adv = chain.start_advancer(seconds=30)  # background round advancer; adv.stop()
    chain.stop()                            # SIGTERM: anvil dumps its state, then exits

Everything persists in core.base.paths.network_dir(network) (0700):
  anvil-state.json  anvil --state (loaded at start, dumped on exit and every few seconds)
  deployment.json   chain id, coordinator address, role addresses (no secrets)
  keys.json         private keys of the owner / stage manager / bootnode manager (0600; a
                    loopback dev chain, but still never logged)
  runtime.json      rpc_url + pid while anvil runs, so other processes can attach()

A restart loads the state and finds the coordinator at the same address (its code checked
against this version's artifact), so rounds, registrations and rewards continue. A coordinator
from an older swarmdeck (another ABI) is replaced by a fresh deployment.

Chain id: 31337 by default. rl-swarm's own Python clients sign every transaction for 685685
(OFFICIAL_CLIENT_CHAIN_ID) and never check a receipt: on any other id anvil accepts their
transactions and never mines them. Start the chain with chain_id=685685 (`--chain-id 685685`)
when such clients write to it.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from core.base import fsutil, procs
from core.base.errors import ChainError
from core.base.i18n import M
from core.base.paths import ensure_private_dir, network_dir
from core.chain.deploy import STAGE_COUNT, deploy_coordinator, is_current_coordinator

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CHAIN_ID = 31337
OFFICIAL_CLIENT_CHAIN_ID = 685685  # what rl-swarm's Python clients sign for (the Gensyn testnet's id)
MAX_CHAIN_ID = 2**53 - 1  # the largest id wallets and JavaScript tools handle exactly
WEI_PER_ETH = 10**18

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def anvil_binary() -> Path:
    """The platform binary that npm's @foundry-rs/anvil installs (no node wrapper in between).

    npm puts it in node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil (an optional
    dependency of @foundry-rs/anvil). SWARMDECK_ANVIL overrides; `anvil` on PATH is the last resort.
    """
    env = os.environ.get("SWARMDECK_ANVIL")
    if env:
        return Path(env)
    osname = {"linux": "linux", "darwin": "darwin", "win32": "win32"}.get(os.sys.platform, os.sys.platform)
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    exe = "anvil.exe" if osname == "win32" else "anvil"
    cand = REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{osname}-{arch}" / "bin" / exe
    if cand.is_file():
        return cand
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ChainError(M("err.chain.no_anvil"), where=str(cand), fix=M("err.chain.no_anvil_fix"))


def check_chain_id(value) -> int:
    """A chain id as an int, or ValueError saying what is accepted (a whole number 1 .. 2**53-1)."""
    try:
        n = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        n = None
    if n is None or not 1 <= n <= MAX_CHAIN_ID:
        raise ValueError(f"chain id must be a whole number from 1 to {MAX_CHAIN_ID}, got {value!r} "
                         f"(31337 = the local default; {OFFICIAL_CLIENT_CHAIN_ID} = what rl-swarm's own clients sign for)")
    return n


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 5.0) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        resp = json.loads(r.read())
    if "error" in resp:
        raise ChainError(f"RPC {method} failed: {resp['error']}", where=url)
    return resp["result"]


class LocalChain:
    """anvil + Coordinator for one network name (default "local")."""

    def __init__(self, network: str = "local", *, host: str = "127.0.0.1", port: int = 0,
                 chain_id: int = DEFAULT_CHAIN_ID, state_interval: float = 2.0, block_time: float | None = None):
        self.network = network
        self.host = host
        self.port = port
        self.chain_id = check_chain_id(chain_id)
        self.stage_count = STAGE_COUNT  # fixed by the public contract's interface (a pure function there)
        self.state_interval = state_interval
        self.block_time = block_time
        self.dir = network_dir(network)
        self.proc: subprocess.Popen | None = None
        self.owns_process = False
        self.rpc_url: str = ""
        self.coordinator: str = ""
        self.deployed_now = False  # True when start() deployed a fresh coordinator
        self._keys: dict[str, str] = {}
        self._w3 = None
        self._contract = None
        self._lock = threading.Lock()
        self._advancers: list[RoundAdvancer] = []

    # ------------------------------------------------------------------ files
    @property
    def state_file(self) -> Path:
        return self.dir / "anvil-state.json"

    @property
    def deployment_file(self) -> Path:
        return self.dir / "deployment.json"

    @property
    def keys_file(self) -> Path:
        return self.dir / "keys.json"

    @property
    def runtime_file(self) -> Path:
        return self.dir / "runtime.json"

    @property
    def log_file(self) -> Path:
        return self.dir / "anvil.log"

    # ------------------------------------------------------------------ keys
    def _load_or_create_keys(self) -> None:
        from eth_account import Account

        if self.keys_file.exists():
            self._keys = json.loads(self.keys_file.read_text())
            return
        self._keys = {role: Account.create().key.hex() for role in ("owner", "stage_manager", "bootnode_manager")}
        fsutil.atomic_write_json(self.keys_file, self._keys)

    def _account(self, role: str):
        from eth_account import Account

        return Account.from_key(self._keys[role])

    @property
    def owner_key(self) -> str:
        return self._keys["owner"]

    @property
    def deployer_key(self) -> str:
        return self._keys["owner"]

    @property
    def stage_manager_key(self) -> str:
        return self._keys["stage_manager"]

    @property
    def bootnode_manager_key(self) -> str:
        return self._keys["bootnode_manager"]

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "LocalChain":
        if self.proc is not None:
            return self
        ensure_private_dir(self.dir)
        existing = self._running_elsewhere()
        if existing:
            raise ChainError(M("err.chain.already_running", network=repr(self.network), pid=existing["pid"],
                               rpc_url=existing["rpc_url"]), where=str(self.runtime_file),
                             fix=M("err.chain.already_running_fix"))
        self._load_or_create_keys()
        binary = anvil_binary()
        last_err = ""
        for _ in range(3):  # a free port can be taken between probe and bind: retry
            port = self.port or free_port(self.host)
            cmd = [str(binary), "--host", self.host, "--port", str(port), "--chain-id", str(self.chain_id),
                   "--accounts", "1", "--state", str(self.state_file),
                   "--state-interval", str(max(1, int(self.state_interval))), "--preserve-historical-states"]
            if self.block_time:
                cmd += ["--block-time", str(self.block_time)]
            log = os.fdopen(os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            try:
                # own session: a Ctrl-C in the terminal reaches us, and we stop anvil cleanly
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
            finally:
                log.close()
            url = f"http://{self.host}:{port}"
            if self._wait_ready(proc, url):
                self.proc, self.port, self.rpc_url, self.owns_process = proc, port, url, True
                break
            last_err = self._tail_log()
            self._terminate(proc)
            if self.port:  # a fixed port that failed will not get better
                break
        if self.proc is None:
            raise ChainError(M("err.chain.anvil_failed", error=str(last_err)), where=str(self.log_file),
                             fix=M("err.chain.anvil_failed_fix"))
        atexit.register(self.stop)  # an owner that forgets stop() (or raises) still ends anvil cleanly
        try:
            procs.write_record(self.runtime_file, procs.record_for(self.proc.pid, rpc_url=self.rpc_url,
                                                                   chain_id=self.chain_id, started_at=time.time()))
            self._ensure_deployed()
        except BaseException:
            self.stop()
            raise
        return self

    @classmethod
    def attach(cls, network: str = "local") -> "LocalChain":
        """A handle on a chain another process started (no process ownership)."""
        chain = cls(network)
        info = chain._running_elsewhere()
        if not info:
            raise ChainError(M("err.chain.not_running", network=repr(network)), where=str(chain.runtime_file),
                             fix=M("err.chain.not_running_fix"))
        chain.rpc_url = info["rpc_url"]
        chain.chain_id = int(info.get("chain_id", DEFAULT_CHAIN_ID))
        dep = json.loads(chain.deployment_file.read_text())
        chain.coordinator = dep["coordinator"]
        if chain.keys_file.exists():
            chain._keys = json.loads(chain.keys_file.read_text())
        return chain

    def _running_elsewhere(self) -> dict | None:
        rec = procs.read_record(self.runtime_file)
        if not procs.alive(rec) or not rec.get("rpc_url"):
            return None
        try:
            rpc_call(rec.get("rpc_url"), "eth_chainId", timeout=2)
        except Exception:
            return None
        return rec.to_dict()

    def _wait_ready(self, proc: subprocess.Popen, url: str, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                rpc_call(url, "eth_chainId", timeout=1)
                return True
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                time.sleep(0.05)
        return False

    def _tail_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-500:].strip()
        except FileNotFoundError:
            return ""

    @staticmethod
    def _terminate(proc: subprocess.Popen, timeout: float = 10.0) -> None:
        if proc.poll() is not None:
            return
        # anvil dumps --state on SIGTERM; its own session is its group
        procs.stop_group(procs.record_for(proc.pid, pgid=proc.pid), timeout)
        proc.poll()

    def stop(self) -> None:
        for adv in list(self._advancers):
            adv.stop()
        if self.proc is not None and self.owns_process:
            self._terminate(self.proc)
            rec = procs.read_record(self.runtime_file)
            if rec is not None and rec.pid == self.proc.pid:
                self.runtime_file.unlink(missing_ok=True)
            if self.state_file.exists():
                os.chmod(self.state_file, 0o600)  # anvil writes it with the umask's mode
        self.proc = None
        self._w3 = None
        self._contract = None
        atexit.unregister(self.stop)

    def __enter__(self) -> "LocalChain":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ web3
    @property
    def w3(self):
        if self._w3 is None:
            from web3 import Web3

            self._w3 = Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": 10}))
        return self._w3

    @property
    def contract(self):
        if self._contract is None:
            from core.chain.compile import load_artifact

            self._contract = self.w3.eth.contract(address=self.coordinator, abi=load_artifact()["abi"])
        return self._contract

    def fund(self, address: str, eth: int = 1000) -> None:
        """Set an account's balance (anvil cheat RPC): gas money for local writes."""
        rpc_call(self.rpc_url, "anvil_setBalance", [address, hex(eth * WEI_PER_ETH)])

    def new_funded_account(self, eth: int = 1000):
        from eth_account import Account

        acct = Account.create()
        self.fund(acct.address, eth)
        return acct

    def _send(self, key: str, fn) -> dict:
        from eth_account import Account

        acct = Account.from_key(key)
        with self._lock:
            tx = fn.build_transaction({"from": acct.address, "chainId": self.chain_id,
                                       "nonce": self.w3.eth.get_transaction_count(acct.address, "pending")})
            signed = acct.sign_transaction(tx)
            h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        rcpt = self.w3.eth.wait_for_transaction_receipt(h, timeout=30, poll_latency=0.05)
        if rcpt["status"] != 1:
            raise ChainError(f"transaction reverted: {h.hex()}", where=self.rpc_url)
        return rcpt

    def _ensure_deployed(self) -> None:
        from web3 import Web3

        from core.chain.compile import load_artifact

        art = load_artifact()
        dep = None
        if self.deployment_file.exists():
            dep = json.loads(self.deployment_file.read_text())
            if int(dep.get("chain_id", 0)) != self.chain_id or not is_current_coordinator(self.w3, dep["coordinator"]):
                # the state file was lost, belongs to another chain, or holds an older swarmdeck's
                # coordinator (another ABI): deploy anew
                dep = None
        for role in self._keys:
            addr = self._account(role).address
            if self.w3.eth.get_balance(addr) < 10 * WEI_PER_ETH:
                self.fund(addr, 10_000)
        if dep is not None:
            self.coordinator = Web3.to_checksum_address(dep["coordinator"])
            self.deployed_now = False
            return
        with self._lock:
            info = deploy_coordinator(self.w3, self.owner_key, self.chain_id,
                                      stage_manager=self._account("stage_manager").address,
                                      bootnode_manager=self._account("bootnode_manager").address)
        self.coordinator = info["coordinator"]
        self._contract = None
        fsutil.atomic_write_json(self.deployment_file, {
            "network": self.network, "chain_id": self.chain_id, "coordinator": self.coordinator,
            "deployed_block": info["block"], "stage_count": STAGE_COUNT,
            "owner": info["owner"], "stage_manager": info["stage_manager"],
            "bootnode_manager": info["bootnode_manager"], "artifact_sha256": art["sourceSha256"]})
        self.deployed_now = True
        self.dump_state()

    def dump_state(self) -> None:
        """Write the chain state now (anvil also does it every state_interval and on exit)."""
        if not self.rpc_url:
            return
        try:
            rpc_call(self.rpc_url, "anvil_dumpState", timeout=10)  # returns it; the file is via --state
        except Exception:
            pass

    # ------------------------------------------------------------------ rounds / bootnodes
    def current_round(self) -> int:
        return int(self.contract.functions.currentRound().call())

    def current_stage(self) -> int:
        return int(self.contract.functions.currentStage().call())

    def advance_stage(self) -> tuple[int, int]:
        """One updateStageAndRound() signed by the stage manager; returns the new (round, stage)."""
        self._send(self.stage_manager_key, self.contract.functions.updateStageAndRound())
        return self.current_round(), self.current_stage()

    def advance(self) -> tuple[int, int]:
        """To the next round's stage 0: updateStageAndRound() once per stage left (the contract has
        STAGE_COUNT = 3). Nodes train once per round and report at stage 0, so a round is the unit
        the advancer moves. Returns the new (round, stage)."""
        start = self.current_round()
        r, s = start, self.current_stage()
        for _ in range(STAGE_COUNT):
            r, s = self.advance_stage()
            if r > start:
                break
        return r, s

    def add_bootnodes(self, addrs: list[str]) -> None:
        self._send(self.bootnode_manager_key, self.contract.functions.addBootnodes(list(addrs)))

    def clear_bootnodes(self) -> None:
        self._send(self.bootnode_manager_key, self.contract.functions.clearBootnodes())

    def start_advancer(self, seconds: float) -> "RoundAdvancer":
        adv = RoundAdvancer(self, seconds)
        self._advancers.append(adv)
        adv.start()
        return adv

    def info(self) -> dict:
        """Public facts (no keys) for other parts: rpc_url, coordinator, chain_id, stage_count."""
        return {"network": self.network, "rpc_url": self.rpc_url, "coordinator": self.coordinator,
                "chain_id": self.chain_id, "stage_count": self.stage_count}


class RoundAdvancer:
    """Moves the chain to the next round every `seconds` (LocalChain.advance(): the stage
    manager's updateStageAndRound() calls; the stage manager's job on a local network).

    A failed advance (RPC hiccup) is counted and retried on the next tick, never raised:
    the advancer must not die while nodes wait on rounds. A tick that failed half way
    through a round's stages finishes that round on the next tick.
    """

    def __init__(self, chain: LocalChain, seconds: float):
        if seconds <= 0:
            raise ValueError("round length must be > 0 seconds")
        self.chain = chain
        self.seconds = float(seconds)
        self.advances = 0
        self.failures = 0
        self.last_ok = time.monotonic()   # last successful advance (the host's part watcher sees a stall)
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="round-advancer", daemon=True)

    def start(self) -> "RoundAdvancer":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.chain.advance()
                self.advances += 1
                self.last_ok = time.monotonic()
            except Exception as e:
                self.failures += 1
                self.last_error = f"{type(e).__name__}: {str(e)[:200]}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=self.seconds + 35)
        if self in self.chain._advancers:
            self.chain._advancers.remove(self)


def _chain_id_arg(text: str) -> int:
    import argparse

    try:
        return check_chain_id(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    """`python -m core.chain.devnet [--network local] [--round-seconds 30] [--chain-id 31337]`: run until
    Ctrl-C/SIGTERM."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m core.chain.devnet", description=main.__doc__)
    ap.add_argument("--network", default="local")
    ap.add_argument("--port", type=int, default=0, help="RPC port (0 = any free port)")
    ap.add_argument("--host", default="127.0.0.1",
                    help="listen address; 0.0.0.0 serves a private swarm's machines (anyone who reaches it can "
                         "send transactions: use it on a trusted network only)")
    ap.add_argument("--chain-id", type=_chain_id_arg, default=DEFAULT_CHAIN_ID,
                    help=f"chain id (default {DEFAULT_CHAIN_ID}); {OFFICIAL_CLIENT_CHAIN_ID} when rl-swarm's own "
                         "Python clients write to this chain (they sign for that id and never check receipts, "
                         "so on another id their transactions are never mined)")
    ap.add_argument("--round-seconds", type=float, default=0, help="advance rounds every N seconds (0 = never)")
    a = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        chain = LocalChain(a.network, host=a.host, port=a.port, chain_id=a.chain_id).start()
    except ChainError as e:
        print(f"swarmdeck devnet: {e}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({**chain.info(), "deployed_now": chain.deployed_now}), flush=True)
        if a.round_seconds > 0:
            chain.start_advancer(a.round_seconds)
        stop.wait()
    finally:
        chain.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
