"""The embedded local network: one command brings up a whole swarm on this machine.

  chain      anvil + our coordinator (core.chain.devnet.LocalChain), state persisted in
             network_dir("local"), with a round advancer (stage manager) every round_seconds
  peers      N demo peers (`local-peer-1..N`), each a real profile with its own identity,
             signing with its own funded key (web3 backend), run by its own supervisor;
             local-peer-1 is the bootnode
  your node  your profile (modal-login backend): sign in at the local login service, then
             `swarmdeck start` (the TUI does both)

The chain side runs in one small detached process (`python -m core.localnet serve`) so it
outlives the TUI and the terminal, like the nodes' supervisors.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.base import fsutil, procs
from core.base.i18n import M
from core.base import paths as _paths
from core.base.constants import DEMO_MODEL, DEMO_PEER_PREFIX, LOCAL_ROUND_SECONDS, local_cpu_model
from core.base.errors import ChainError
from core.chain.devnet import LocalChain
from core.identity import profiles
from core.login.service import stop_service
from core.node.roles import LOCAL_NETWORK, bootnode_file, is_designated_bootnode  # noqa: F401  (part of localnet's face)
from core import supervisor

log = logging.getLogger("swarmdeck.localnet")

NETWORK = LOCAL_NETWORK
PEER_PREFIX = DEMO_PEER_PREFIX
DEFAULT_PEERS = 2
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _dir() -> Path:
    return _paths.network_dir(NETWORK)


def pid_file() -> Path:
    return _dir() / "localnet.pid"


def _peers_file() -> Path:
    return _dir() / "peers.json"


def save_peer_count(n: int) -> None:
    """Remember `network up --peers N` (0 included): the TUI and `serve` bring the network up with it later."""
    _paths.ensure_private_dir(_dir())
    fsutil.atomic_write_json(_peers_file(), {"peers": int(n)})


def saved_peer_count() -> int | None:
    """The demo peer count the user chose last (`network up --peers N`), or None when never chosen."""
    try:
        import json

        n = json.loads(_peers_file().read_text()).get("peers")
    except (OSError, ValueError, AttributeError):
        return None
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


def peer_names(n: int) -> list[str]:
    return [f"{PEER_PREFIX}{i}" for i in range(1, n + 1)]


def chain_running() -> bool:
    try:
        LocalChain.attach(NETWORK)
        return True
    except (ChainError, OSError, ValueError, KeyError):
        return False


def _serve_record() -> procs.Record | None:
    """The detached chain process (`python -m core.localnet serve`), when it runs."""
    rec = procs.read_record(pid_file())
    return rec if procs.alive(rec) else None


def serve(round_seconds: float) -> int:
    """Run the chain + round advancer until SIGTERM (the body of the detached process)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # survive the terminal closing
    _paths.ensure_private_dir(_dir())
    procs.write_record(pid_file(), procs.record_for(os.getpid()))
    chain = LocalChain(NETWORK).start()
    adv = chain.start_advancer(round_seconds)
    log.info("local chain on %s, coordinator %s, rounds every %gs", chain.rpc_url, chain.coordinator, round_seconds)
    try:
        stop.wait()
    finally:
        adv.stop()
        chain.stop()
        with contextlib.suppress(FileNotFoundError):
            pid_file().unlink()
    return 0


def ensure_chain(round_seconds: float = LOCAL_ROUND_SECONDS, wait: float = 60.0) -> dict:
    """Start the detached chain process unless a local chain already runs; return its info."""
    if not chain_running():
        _paths.ensure_private_dir(_dir())
        logf = open(_dir() / "localnet.log", "ab")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        try:
            subprocess.Popen([sys.executable, "-m", "core.localnet", "serve", "--round-seconds", str(round_seconds)],
                             stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                             close_fds=True, start_new_session=True)
        finally:
            logf.close()
        deadline = time.monotonic() + wait
        while not chain_running():
            if time.monotonic() > deadline:
                tail = (_dir() / "localnet.log").read_text(errors="replace")[-400:]
                raise ChainError("the local chain did not come up", where=str(_dir() / "localnet.log"),
                                 fix=f"see the log: {tail.strip().splitlines()[-1] if tail.strip() else '(empty)'}")
            time.sleep(0.2)
    return LocalChain.attach(NETWORK).info()


def ensure_peer_profiles(n: int) -> list[str]:
    """Create the demo peers' profiles (own identity, own funded key, the demo model) if missing."""
    existing = {p.name for p in profiles.list_profiles()}
    names = peer_names(n)
    for name in names:
        if name not in existing:
            # The demo model (pretrained to half-solve the demo task mix) with its own training
            # settings (core.training.demo.DEMO_TRAINING): the reward chart rises within ~30 rounds.
            model = local_cpu_model()
            small = {} if model == DEMO_MODEL else {"max_new_tokens": 48, "generations": 4}
            profiles.create_profile(name, make_current=False, network=NETWORK, backend="web3", model=model,
                                    quant="auto", training=small)
    if names:
        fsutil.atomic_write_text(bootnode_file(), names[0] + "\n")
    return names


def _bootnodes_on_chain() -> list[str]:
    chain = LocalChain.attach(NETWORK)
    return list(chain.contract.functions.getBootnodes().call())


def up(peers: int = DEFAULT_PEERS, round_seconds: float = LOCAL_ROUND_SECONDS, progress=None, wait: float = 180.0) -> dict:
    """Bring the local network up (idempotent). progress(msg) is told each step."""

    say = progress or (lambda msg: None)
    save_peer_count(peers)
    say(M("localnet.progress.chain"))
    info = ensure_chain(round_seconds)
    names = ensure_peer_profiles(peers)
    started = []
    for i, name in enumerate(names):
        say(M("localnet.progress.peer", name=name))
        st = supervisor.spawn_detached(name)
        started.append({"profile": name, "state": st.get("state")})
        if i == 0:
            # The others bootstrap from the first one: wait until it is on chain.
            deadline = time.monotonic() + wait
            say(M("localnet.progress.bootnode", name=name))
            while time.monotonic() < deadline and not _bootnodes_on_chain():
                time.sleep(0.5)
    info["peers"] = started
    return info


def down(timeout: float = 60.0) -> dict:
    """Stop the demo peers, local login services and the chain process (chain state is kept).

    Your own profiles' nodes keep running: stop them with `swarmdeck stop -p NAME`."""
    stopped = []
    for p in profiles.list_profiles():
        if p.name.startswith(PEER_PREFIX):
            if supervisor.stop_profile(p.name, timeout=timeout) is not None:
                stopped.append(p.name)
        elif p.network.kind == "local":
            stop_service(p.paths)  # the login service of a local profile is part of the local network
    # it stops anvil and the advancer on SIGTERM (anvil dumps its state first)
    chain_stopped = procs.stop_group(_serve_record(), timeout=30)
    return {"stopped_peers": stopped, "chain_stopped": chain_stopped}


def status() -> dict:
    out = {"chain": None, "peers": []}
    if chain_running():
        c = LocalChain.attach(NETWORK)
        out["chain"] = {**c.info(), "round": c.current_round(), "bootnodes": _bootnodes_on_chain()}
    for p in profiles.list_profiles():
        if p.network.kind == "local":
            st = supervisor.query_status(p.paths, timeout=1.0)
            out["peers"].append({"profile": p.name, "state": (st or {}).get("state", "stopped"),
                                 "round": (st or {}).get("round")})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.localnet")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--round-seconds", type=float, default=LOCAL_ROUND_SECONDS)
    args = ap.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.cmd == "serve":
        return serve(args.round_seconds)
    return 2


if __name__ == "__main__":
    sys.exit(main())
