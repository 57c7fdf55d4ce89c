"""A profile's state, defined once for `swarmdeck status [--json]` and the TUI's tabs and dashboard.

node_state() is the one meaning of "running": the supervisor's answer when one runs, else the
node lock, else the last state the node recorded. build_status() (the CLI) and profile_view()
(the TUI, from a worker thread) both use it, so they cannot disagree. Never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import core.supervisor as _supervisor
from core import __version__
from core.events.reader import registered as _registered
from core.events.reader import tail_events as _tail_events
from core.events.types import NodeState as _NodeStateEvent
from core.identity import backup as _backup
from core.config import settings as _config
from core.identity import files as _identity
from core.identity import profiles as _profiles
from core.base import paths as _paths
from core.identity import signin as _signin
from core.base.constants import is_demo_peer
from core.base.errors import SwarmdeckError


def identity_status(name: str) -> dict:
    pp = _paths.ProfilePaths(name)
    out: dict = {"dir": str(pp.identity_dir), "exists": pp.swarm_pem.exists(), "peer_id": None,
                 "display_name": None, "login": None, "errors": [], "permission_problems": []}
    if out["exists"]:
        try:
            pid = _identity.peer_id_from_pem(pp.swarm_pem)
            out["peer_id"], out["display_name"] = pid, _identity.display_name(pid)
        except SwarmdeckError as e:
            out["errors"].append(e.to_dict())
    try:
        login = _identity.read_login(pp.identity_dir)
        out["login"] = login.public_dict() if login else None  # public_dict drops the private key
    except SwarmdeckError as e:
        out["errors"].append(e.to_dict())
    out["permission_problems"] = [p.as_msg() for p in _identity.check_permissions(pp.identity_dir)]  # English str + key
    b = _backup.backup_state(name)
    out["backup"] = {"state": b["state"], "verified_at": b["verified_at"]}
    return out


def identity_problem(name: str) -> dict | None:
    """A damaged swarm.pem, with the fix for this profile's case: {what, where, backup_archive} where
    backup_archive is the archive of its last verified backup (restore it into a new profile), or None
    (no backup: the peer id cannot be recovered; archive the profile and make a new one)."""
    pp = _paths.ProfilePaths(name)
    if not pp.swarm_pem.exists():
        return None
    try:
        _identity.peer_id_from_pem(pp.swarm_pem)
        return None
    except SwarmdeckError as e:
        b = _backup.backup_state(name)
        return {"what": e.what, "where": e.where or str(pp.swarm_pem), "backup_archive": b.get("archive")}


def damaged_fix(name: str, problem: dict) -> str:
    """The fix for a damaged swarm.pem, by case (a backup to restore, or none)."""
    if problem.get("backup_archive"):
        return (f"restore your backup into a new profile: swarmdeck identity restore {problem['backup_archive']} "
                f"-p NEW_NAME (then archive this one: swarmdeck profile archive {name})")
    return (f"no backup of it exists: its peer id and on-chain history cannot be recovered; archive this profile "
            f"(swarmdeck profile archive {name}) and create a new one (swarmdeck profile new NAME)")


def profile_status(cfg: _config.Config, name: str) -> dict:
    pp = _paths.ProfilePaths(name)
    d: dict = {"name": name, "current": name == cfg.current_profile, "dir": str(pp.root)}
    try:
        s = cfg.profile_settings(name)
        d.update({"network": s.network, "model": s.model, "quant": s.quant, "gpus": list(s.gpus),
                  "dht_port": s.dht_port, "login_port": s.login_port, "backend": s.backend})
    except SwarmdeckError as e:
        d["error"] = e.to_dict()
    d["node_state"] = node_state(name)
    d["live"] = live_summary(name)
    # "running" only once the node is past its start: a node crash-looping at start (bootnodes that never
    # answer) shows "starting" / "crashed" in node_state, never running
    d["running"] = d["node_state"] == "running"
    d["identity"] = identity_status(name)
    d["demo_peer"] = is_demo_peer(name)  # the local network's own peer: no backup needed
    problem = identity_problem(name)
    d["identity_problem"] = problem and {**problem, "fix": damaged_fix(name, problem)}
    req = _signin.required(name)  # the login app refused the session key: {reason, since, where} + the fix
    d["sign_in_required"] = {**req, "fix": _signin.command(name)} if req else None
    d["sharing"] = sharing_status(name)
    d["swarm_gave"] = swarm_gave(name)
    return d


def swarm_gave(name: str) -> dict | None:
    """What the swarm gave the node (core.events.swarm_gain): the newest round's useful groups, own and
    from peers, and those refused; the 20-round view and its verdict; groups taken and refused per peer
    over the rounds read. None before a round that reports them."""
    from core.events.swarm_gain import SwarmGain

    g = SwarmGain()
    for ev in _tail_events(_paths.ProfilePaths(name).events_file, 200, types=("round.finished",), window=512 * 1024):
        g.add(ev)
    return g.summary()


def sharing_status(name: str) -> dict | None:
    """Verified sharing as the node last reported it (peers.trust): peer groups refused since it started, by
    reason and by peer, and the peers it ignores. None before the node's first round."""
    evs = _tail_events(_paths.ProfilePaths(name).events_file, 2000, types=("peers.trust",), window=512 * 1024)
    if not evs:
        return None
    ev = evs[-1]
    return {"round": ev.round, "refused": dict(ev.refused), "refused_total": sum(ev.refused.values()),
            "refused_by_peer": {p: dict(c) for p, c in ev.by_peer.items()},
            "ignored": [dict(e) for e in ev.ignored]}


def resolved_profile(name: str | None) -> _profiles.Profile:
    """`-p NAME` or, without it, the current profile, loaded (settings, network): validated, and refused
    when it does not exist. Every CLI command resolves -p here."""
    return _profiles.load_profile(name)


def resolve_profile(name: str | None) -> str:
    """The name resolved_profile() resolves `-p NAME` (or the current profile) to."""
    return resolved_profile(name).name


def profiles_on_disk() -> list[str]:
    """Profile directories that exist, whatever config.toml says (sorted)."""
    root = _paths.profiles_dir()
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if d.is_dir() and _paths.PROFILE_NAME_RE.match(d.name))


RUNNING = ("running", "starting", "preparing", "stopping")


def display_order(names: list[str]) -> list[str]:
    """The order profiles are shown and numbered in (TUI tabs, keys 1-9, the switcher): the user's own
    profiles in the order they were made (config.toml's), then the local network's demo peers. Demo
    peers are made after the first start, so numbering them in config order moved the user's own
    profiles to other numbers in the next session (issue 20); after them, a profile keeps its number."""
    own = [n for n in names if not is_demo_peer(n)]
    return own + sorted((n for n in names if is_demo_peer(n)), key=lambda n: (len(n), n))


def node_state(name: str) -> str:
    """running | stopped | crashed | gave_up | starting | stopping: the supervisor's word when it
    answers; without one, a node holding the lock runs; else what the node last recorded."""
    pp = _paths.ProfilePaths(name)
    st = _supervisor.query_status(pp, timeout=1.0)
    if st and st.get("state"):
        return str(st["state"])
    if _identity.is_locked(pp):
        return "running"
    last = None
    for ev in _tail_events(pp.events_file, 200, ("node.state",)):
        if isinstance(ev, _NodeStateEvent):
            last = ev.state
    return "crashed" if last in ("crashed", "gave_up") else "stopped"


def live_summary(name: str) -> dict:
    """What `swarmdeck fleet status` shows per remote profile beside its state word, read from the
    profile's own files (the tail of events.jsonl, the supervisor's alerts-state.json): round, last
    reward, peers, the node's device/mode and the alert conditions that hold now. Never a secret."""
    import json as _json

    pp = _paths.ProfilePaths(name)
    out: dict = {"round": None, "last_reward": None, "peers": None, "device": None, "mode": None,
                 "alerts": []}
    for ev in _tail_events(pp.events_file, 400, ("round.finished", "round.started", "peers.update", "node.mode")):
        typ = getattr(ev, "TYPE", "")
        if typ in ("round.started", "round.finished"):
            out["round"] = ev.round
        if typ == "round.finished":
            out["last_reward"] = ev.reward
            if ev.peers is not None:
                out["peers"] = ev.peers
        elif typ == "peers.update":
            out["peers"] = ev.total if ev.total is not None else len(ev.peers)
        elif typ == "node.mode":
            out["device"], out["mode"] = ev.device, ev.mode
    try:
        conds = (_json.loads((pp.root / "alerts-state.json").read_text()).get("conds") or {})
        out["alerts"] = sorted(k for k, c in conds.items() if isinstance(c, dict) and c.get("active"))
    except (OSError, ValueError, AttributeError):
        pass
    return out


def node_pid(name: str) -> int | None:
    st = _supervisor.query_status(_paths.ProfilePaths(name), timeout=1.0)
    pid = (st or {}).get("child_pid")
    return int(pid) if pid else None


def signin_required(name: str) -> dict | None:
    """{"reason", "since", "where", "fix"} when the login app refused this profile's session key
    (stale or not activated: the node's chain writes wait for a new sign-in), else None."""
    try:
        req = _signin.required(name)
    except (SwarmdeckError, OSError, ValueError):
        return None
    return {**req, "fix": _signin.command(name)} if req else None


def login_status(name: str, registered: bool = False) -> str:
    """waiting | signed_in | activated | registered, from the identity files (and node events)."""
    try:
        login = _identity.read_login(_paths.ProfilePaths(name).identity_dir)
    except SwarmdeckError:
        login = None
    if login is None:
        return "waiting"
    if not login.activated:
        return "signed_in"
    return "registered" if registered else "activated"


def registered_from_events(name: str) -> bool:
    return _registered(_paths.ProfilePaths(name).events_file)


def _signs_with_own_key(name: str, strict: bool = True) -> bool:
    """No sign-in at all: participation N (no chain identity), or a local web3 profile (its own key,
    funded by the local chain, like the demo peers). strict: an unknown profile raises."""
    if _profiles.read_state(name).get("testnet_participation") is False:
        return True
    try:
        prof = _profiles.load_profile(name)
    except SwarmdeckError:
        if strict:
            raise
        return False
    return prof.settings.backend == "web3" and prof.network.kind == "local"


def needs_sign_in(name: str) -> bool:
    """The node cannot run until the user signs in: not signed in, or the session key not activated."""
    if _signs_with_own_key(name):
        return False
    return login_status(name) in ("waiting", "signed_in")


def needs_login(name: str) -> bool:
    """What the TUI opens the sign-in screen for: needs_sign_in(), or the login app refused the
    session key (the node runs on, its chain writes wait for a new sign-in)."""
    if _signs_with_own_key(name, strict=False):
        return False
    return signin_required(name) is not None or login_status(name) in ("waiting", "signed_in")


def backup_verified_at(name: str) -> str | None:
    """When the current identity's backup was verified; None when none is, or it is outdated."""
    st = _backup.backup_state(name)
    return st["verified_at"] if st.get("state") == "verified" else None


def tab_state(node: str, login_needed: bool, backup_at: str | None, demo_peer: bool = False,
              damaged: bool = False) -> str:
    """The switcher's word: running / starting / stopping / stopped / crashed / needs_login /
    needs_backup. A node that is starting (or crash-looping at start) is never called running here
    either, so the tabs and `swarmdeck status` say the same word."""
    if node in RUNNING:
        return node
    if node in ("crashed", "gave_up"):
        return "crashed"
    if damaged:  # before login and backup: neither helps while swarm.pem cannot be read
        return "damaged"
    if login_needed:
        return "needs_login"
    if backup_at is None and not demo_peer:
        return "needs_backup"
    return "stopped"


@dataclass(frozen=True)
class ProfileView:
    """Everything the TUI shows about one profile besides its events (read off the UI thread)."""

    name: str
    node: str                          # node_state()
    state: str                         # tab_state(): running / stopped / crashed / needs_login / needs_backup
    signin_required: dict | None       # see signin_required()
    backup_verified_at: str | None
    permission_problems: tuple[str, ...]
    node_pid: int | None
    demo_peer: bool = False            # a local-network demo peer: no backup warning
    identity_problem: dict | None = None  # identity_problem(): a damaged swarm.pem and its fix


def profile_view(name: str) -> ProfileView:
    node = node_state(name)
    backup_at = backup_verified_at(name)
    problem = identity_problem(name)
    return ProfileView(
        name=name, node=node,
        state=tab_state(node, needs_login(name), backup_at, is_demo_peer(name), damaged=problem is not None),
        demo_peer=is_demo_peer(name), identity_problem=problem,
        signin_required=signin_required(name), backup_verified_at=backup_at,
        permission_problems=tuple(p.as_msg() for p in _identity.check_permissions(_paths.ProfilePaths(name).identity_dir)),
        node_pid=node_pid(name) if node in RUNNING else None)


def build_status() -> dict:
    """{version, config, current_profile, profiles: [...], duplicates: [...], config_problems: [...]}."""
    out: dict = {"version": __version__, "config": str(_config.config_path()), "current_profile": None,
                 "profiles": [], "duplicates": [], "config_problems": []}
    try:
        cfg = _config.load_config(strict=False)
    except SwarmdeckError as e:
        # An unreadable config hides the profile list, not the profiles: name what is on disk
        # so nobody is told to create a profile that exists.
        problems = getattr(e, "problems", [])
        out["config_problems"] = [p.to_dict() for p in problems] or [_config.Problem(
            out["config"], None, "", e.part("what"), e.part("fix")).to_dict()]
        out["config_broken"] = True
        out["profiles_on_disk"] = profiles_on_disk()
        return out
    out["config_problems"] = [p.to_dict() for p in cfg.validate()]
    out["current_profile"] = cfg.current_profile or None
    names = [n for n in cfg.profile_names() if _paths.PROFILE_NAME_RE.match(n)]
    out["profiles"] = [profile_status(cfg, n) for n in names]
    out["duplicates"] = [{**d.to_dict(), "first": _identity.first_holder(d)} for d in _identity.find_duplicates(names)]
    out["gpus_now"] = gpus_now()
    return out


def gpus_now(nvml=None) -> list[dict]:
    """This host's GPUs at this moment (NVML): index, name, utilisation % and memory in MiB, for
    `status --json` and the fleet view's GPU column. [] where no NVIDIA driver answers."""
    from core.hardware.telemetry import MIB, Telemetry

    t = Telemetry() if nvml is None else Telemetry(nvml=nvml)
    try:
        gpus = t.sample().gpus
    finally:
        t.close()
    return [{"index": g.index, "name": g.name, "util_pct": g.util_pct,
             "mem_used_mib": None if g.mem_used is None else round(g.mem_used / MIB),
             "mem_total_mib": None if g.mem_total is None else round(g.mem_total / MIB)} for g in gpus]
