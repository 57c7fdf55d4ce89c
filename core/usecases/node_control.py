"""What the TUI brings up on its own, and when: the local network and the profile's node.

The CLI and the TUI (tui.backend, from worker threads) call these; this module decides.

Rules (docs/local-network.md, "Terminal UI"):
  * Opening (or switching to) a profile on the local network brings the local network up:
    chain + round advancer, the demo peers (as many as already exist, else localnet's
    default), each under its own supervisor, except a demo peer the user stopped. Idempotent;
    steps are reported only when something is actually started.
  * A profile's node is started automatically once its setup is done (signed in, or a
    profile that needs no sign-in) unless the user stopped it: a stop (TUI `x` or
    `swarmdeck stop`) writes "autostart": false into the profile's state.json, a start
    (`s`, `r`, `swarmdeck start|restart`) writes true. A node whose supervisor runs (even
    one that gave up) is left to the supervisor.
  * Nothing here stops anything: quitting the TUI leaves the network and nodes running.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Callable

import core.supervisor as supervisor
from core.config import settings as _config
from core.identity import files as _identity
from core.identity import profiles as _profiles

from core.localnet import network as localnet
from core.usecases import profile_state
from core.usecases.signin import ensure_login_service  # noqa: F401 (the autostart's, and re-exported)
from core.base import paths as _paths
from core.base.i18n import M
from core.base.errors import IdentityError, SwarmdeckError

# One bring-up at a time: a second caller (tab switch, autostart) waits for the running one
# and then finds everything up, instead of racing it to start a second chain.
_up_lock = threading.Lock()
_start_lock = threading.Lock()  # decide-then-spawn is one step (start-up and a tab switch may both ask)

Step = Callable[..., None]  # step(key, **params): an i18n key under "net." and its parameters


def _profile(name: str):
    return _profiles.load_profile(name)


def is_local(name: str) -> bool:
    try:
        return _profile(name).network.kind == "local"
    except SwarmdeckError:
        return False


def local_round_seconds() -> float:
    """Round length of the local network: `[networks.local] round_seconds` when the user set it,
    else what `swarmdeck network up` uses."""
    try:
        user = (_config.load_config().data.get("networks") or {}).get(localnet.NETWORK) or {}
        v = user.get("round_seconds")
        return float(v) if v else 30.0
    except (SwarmdeckError, TypeError, ValueError):
        return 30.0


def local_peer_count() -> int:
    """Demo peers to run: the count of the last `network up --peers N` (0 included), else those that
    exist, else the default."""
    saved = localnet.saved_peer_count()
    if saved is not None:
        return saved
    n = sum(1 for p in _profiles.list_profiles() if p.name.startswith(localnet.PEER_PREFIX))
    return n or localnet.DEFAULT_PEERS


def ensure_network(name: str, step: Step | None = None, bootnode_wait: float = 180.0) -> dict | None:
    """Bring the local network up for profile `name` (no-op for other networks: returns None).

    Returns {"chain": info, "started": [what was started]}. Raises SwarmdeckError (what/where/fix)."""
    if not is_local(name):
        return None
    say = step or (lambda key, **kw: None)
    started: list[str] = []
    with _up_lock:
        if not localnet.chain_running():
            say("net.chain", seconds=f"{local_round_seconds():g}")
            started.append("chain")
        info = localnet.ensure_chain(local_round_seconds())
        names = localnet.ensure_peer_profiles(local_peer_count())
        for i, peer in enumerate(names):
            running = supervisor.query_status(_paths.ProfilePaths(peer), timeout=1.0) is not None
            if not running and not autostart_enabled(peer):
                continue  # a demo peer the user stopped stays stopped (a live node becomes bootnode then)
            if not running:
                say("net.peer", name=peer)
                supervisor.spawn_detached(peer)
                started.append(peer)
            if i == 0 and not localnet._bootnodes_on_chain():
                # the others (and the user's node) bootstrap from the first: wait until it is on chain
                say("net.bootnode", name=peer)
                deadline = time.monotonic() + bootnode_wait
                while not localnet._bootnodes_on_chain():
                    if time.monotonic() > deadline:
                        raise SwarmdeckError(M("err.net.no_bootnode", peer=peer, seconds=round(bootnode_wait)),
                                             where=str(_paths.ProfilePaths(peer).log_dir),
                                             fix=M("err.net.no_bootnode_fix", peer=peer))
                    time.sleep(0.5)
    return {"chain": info, "started": started}


def autostart_enabled(name: str) -> bool:
    return _profiles.read_state(name).get("autostart", True) is not False


def record_user_action(name: str, action: str) -> None:
    """Remember the user's last verb: a stop keeps the node stopped on later opens; a start re-enables it."""
    if action == "stop":
        _profiles.write_state(name, {"autostart": False})
    elif action in ("start", "restart"):
        _profiles.write_state(name, {"autostart": True})


def autostart_decision(name: str) -> str:
    """Why the node would or would not be started now: start | running | user_stopped | needs_sign_in."""
    if supervisor.query_status(_paths.ProfilePaths(name), timeout=1.0) is not None:
        return "running"  # a supervisor runs (whatever its child's state): it owns the node
    if not autostart_enabled(name):
        return "user_stopped"
    if profile_state.needs_sign_in(name):
        return "needs_sign_in"
    return "start"


def autostart(name: str, step: Step | None = None) -> str:
    """Start the profile's node under its supervisor when autostart_decision says so.

    On the local network the network (and the profile's login service) is brought up first.
    Returns the decision ("start" means it was started)."""
    if autostart_decision(name) != "start":
        return autostart_decision(name)
    say = step or (lambda key, **kw: None)
    if is_local(name):
        ensure_network(name, step)
        if _profile(name).settings.backend != "web3":
            ensure_login_service(name)  # the node's chain writes go through it
    with _start_lock:
        decision = autostart_decision(name)  # again: the network bring-up may have taken minutes
        if decision != "start":
            return decision
        say("net.node", name=name)
        supervisor.spawn_detached(name)
    return "start"


def bare_ssh(environ: dict | None = None) -> bool:
    """A plain SSH session (no tmux/screen): the TUI says that nodes outlive it and how to come back."""
    env = os.environ if environ is None else environ
    return bool(env.get("SSH_CONNECTION")) and not (env.get("TMUX") or env.get("STY"))


# --- the node verbs (CLI start/stop/restart and the TUI's s/x/r) -------------------------------

@dataclass(frozen=True)
class StartResult:
    name: str
    already_running: bool  # a supervisor was running already (it was told to start its node if idle)
    status: dict           # the supervisor's status (SupervisorStatus on the wire)


@dataclass(frozen=True)
class StopResult:
    name: str
    was_running: bool
    exit_reason: str | None  # how the node ended ("" or None when nothing to say)


@dataclass(frozen=True)
class RestartResult:
    name: str
    was_running: bool        # False: nothing ran, so it was started
    child_pid: int | None
    supervisor_pid: int | None


def check_can_start(name: str) -> None:
    """Refuse before anything is spawned: a damaged swarm.pem (the peer id cannot be recovered: restore
    the backup) or an identity shared with another profile. The node checks both again itself."""
    pp = _paths.ProfilePaths(name)
    problem = profile_state.identity_problem(name)
    if problem:  # what, where, and the fix for this case (restore a backup, or none exists)
        raise IdentityError(problem["what"], where=problem["where"], fix=profile_state.damaged_fix(name, problem))
    _identity.assert_no_duplicates(name)


def start(name: str, reset_downshift: bool = False) -> StartResult:
    """Start the profile's node under a detached supervisor (or tell the running one to start it)."""
    check_can_start(name)
    record_user_action(name, "start")  # the TUI may auto-start it again on later opens
    pp = _paths.ProfilePaths(name)
    st = supervisor.spawn_detached(name)
    already = bool(st.get("already_running"))
    if already:
        if reset_downshift or st.get("state") in ("stopped", "gave_up", "crashed"):
            supervisor.ControlClient(pp).start(reset_downshift=reset_downshift)
            st = supervisor.ControlClient(pp).status()
    elif reset_downshift:
        supervisor.ControlClient(pp).start(reset_downshift=True)
    return StartResult(name, already, st)


def run_foreground(name: str, reset_downshift: bool = False) -> int:
    """The supervisor in this process (systemd, tmux): same checks and record as start()."""
    check_can_start(name)
    record_user_action(name, "start")
    if reset_downshift:
        supervisor.reset_downshift(_paths.ProfilePaths(name))
    return supervisor.run_foreground(name, echo=True)


def stop(name: str, now: bool = False) -> StopResult:
    record_user_action(name, "stop")  # the TUI does not auto-start a node the user stopped
    res = supervisor.stop_profile(name, now=now)
    if res is None:
        return StopResult(name, False, None)
    return StopResult(name, True, (res.get("exit") or {}).get("reason"))


def restart(name: str, now: bool = False) -> RestartResult:
    """Restart the node gracefully; start it when nothing runs. Recorded like a start (autostart again)."""
    check_can_start(name)
    record_user_action(name, "restart")
    try:
        res = supervisor.ControlClient(_paths.ProfilePaths(name)).restart(now=now)
    except supervisor.NotRunning:
        st = supervisor.spawn_detached(name)
        return RestartResult(name, False, st.get("child_pid"), st.get("supervisor_pid"))
    return RestartResult(name, True, res.get("child_pid"), res.get("supervisor_pid"))
