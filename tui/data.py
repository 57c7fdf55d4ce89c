"""The TUI's one door to core: every call the screens make to other parts goes through here.

Each function is a thin call into core (config, profiles, identity, backup, system, control,
daemon, login), so a core API change is a one-line change here. Nothing here imports Textual;
tests drive it directly too, and may pass another object with the same functions as `backend`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.identity import files as identity
from core.base import paths
from core.base.errors import SwarmdeckError
from core.events.log import Event
from tui.model.wizard import Hardware, WizardResult, apply_result

STATES = ("running", "stopped", "crashed", "needs_login", "needs_backup")


# --- config ---------------------------------------------------------------------------------

def _cfg():
    from core.config.settings import load_config

    return load_config()


def read_config() -> dict:
    """The parsed config.toml as plain data (created from the example on first run)."""
    return _cfg().data


def language_setting() -> str | None:
    return _cfg().language


def refresh_seconds(default: float = 1.0) -> float:
    try:
        v = float(_cfg().tui.refresh_seconds)
    except (TypeError, ValueError, SwarmdeckError):
        v = default
    return max(0.2, v)  # a floor, like nvitop's minimum interval: never spin


def tui_settings():
    """[tui] settings (refresh_seconds, chart_rounds, log_lines, color, backup_warning)."""
    from core.config.settings import TuiSettings

    try:
        return _cfg().tui
    except SwarmdeckError:
        return TuiSettings()


def backup_warning_enabled() -> bool:
    try:
        return bool(_cfg().tui.backup_warning)
    except SwarmdeckError:
        return True


# --- profiles -------------------------------------------------------------------------------

def list_profiles() -> list[str]:
    from core.identity.profiles import list_profiles as _list

    return [p.name for p in _list()]


def current_profile() -> str | None:
    from core.identity.profiles import current_profile_name

    cur = current_profile_name()
    names = list_profiles()
    if cur in names:
        return cur
    return names[0] if names else None


def needs_setup(name: str) -> bool:
    """First run: the profile came from the example config and was never set up (no identity,
    no record of a wizard or of creation)."""
    from core.identity.profiles import read_state

    st = read_state(name)
    pp = paths.ProfilePaths(name)
    return not pp.swarm_pem.exists() and not st.get("created_at") and not st.get("setup_at")


def _add_custom_network(cfg, name: str, net: dict) -> None:
    import tomlkit

    nets = cfg.doc.get("networks")
    if nets is None:
        nets = tomlkit.table(is_super_table=True)
        cfg.doc["networks"] = nets
    if name in nets:
        raise SwarmdeckError(f"network {name!r} already exists in the config", where=f"{cfg.path} [networks.{name}]",
                             fix="pick another network name, or choose it by editing the profile's network")
    tbl = tomlkit.table()
    for k in ("rpc_url", "chain_id", "coordinator", "bootnodes"):
        tbl.add(k, net[k])
    tbl.add("backend", "web3")
    nets[name] = tbl


def _local_auto_model(res: WizardResult) -> WizardResult:
    """On the local network a kept recommendation is stored as "auto": the node then picks the
    tiny local model in CPU mode (rounds in seconds, no download) and the recommended one on a GPU."""
    st = dict(res.settings)
    if st.get("network") != "local" or st.get("model") in (None, "auto"):
        return res
    try:
        from core.hardware import probe

        if st["model"] != probe.recommend_for(tuple(st.get("gpus") or ())).model:
            return res
    except Exception:
        return res
    st["model"] = "auto"
    return WizardResult(res.name, st, res.custom_network, res.participate, res.hf_token)


def create_profile(res: WizardResult, configure_existing: bool = False) -> Any:
    """Apply a finished wizard: a new profile, or (first run) the example's profile set up in place."""
    from datetime import datetime, timezone

    from core.identity import profiles
    from tui.model.wizard import store_hf_token

    cfg = _cfg()
    res = _local_auto_model(res)
    if res.custom_network is not None:
        _add_custom_network(cfg, res.settings["network"], res.custom_network)
        cfg.save()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if configure_existing:
        for k, v in res.settings.items():
            cfg.set_profile_value(res.name, k, v)
        problems = [p for p in cfg.validate() if p.key.startswith(f"profiles.{res.name}")]
        if problems:
            raise SwarmdeckError("invalid profile settings:\n" + "\n".join(f"  {p}" for p in problems))
        cfg.save()
        pp = paths.ProfilePaths(res.name)
        paths.ensure_private_dir(pp.identity_dir)
        identity.load_or_create_swarm_pem(pp.swarm_pem)
        out = profiles.load_profile(res.name)
        if res.hf_token:
            store_hf_token(res.name, res.hf_token)
    else:
        out = apply_result(WizardResult(res.name, res.settings, None, res.participate, res.hf_token),
                           lambda name, **kw: profiles.create_profile(name, cfg=cfg, make_current=True, **kw))
    # participation N (the seed's alternative flow) has no config key yet: recorded for the engine
    profiles.write_state(res.name, {"setup_at": now, "testnet_participation": res.participate})
    return out


def use_profile(name: str) -> None:
    from core.identity.profiles import use_profile as _use

    _use(name)


def _profile(name: str):
    from core.identity.profiles import load_profile

    return load_profile(name)


def profile_gpus(name: str) -> list[int]:
    """The GPU indexes a profile is pinned to ([] = all)."""
    try:
        return list(_profile(name).settings.gpus)
    except SwarmdeckError:
        return []


def login_port(name: str) -> int:
    try:
        return int(_profile(name).settings.login_port)
    except SwarmdeckError:
        return 3000


def network_kind(name: str) -> tuple[str, str, str]:
    """(network name, kind local|testnet|custom, login_url)."""
    net = _profile(name).network
    return net.name, net.kind, net.login_url


# --- hardware (setup wizard) ---------------------------------------------------------------

def hardware() -> Hardware:
    """The wizard's hardware step: core.hardware.probe's GPU probe and recommendation, the doctor's RAM check."""
    from core.doctor import checks
    from core.hardware import probe as hwprobe

    probe = hwprobe.probe_gpus()
    rec = hwprobe.recommend_for((), probe)
    gpus = [{"index": g.index, "name": g.name, "vram_gib": round(g.total_gib, 1)} for g in probe.gpus]
    hw = Hardware(gpus=gpus, cpu_mode_reason=probe.reason if probe.cpu_mode else None,
                  recommended_model=rec.model, recommended_quant=rec.quant, notes=[rec.reason])
    try:
        import psutil

        hw.ram_gib = round(psutil.virtual_memory().total / 1024**3, 1)
    except Exception:
        pass
    ram = checks.check_ram()
    if ram.status in ("warn", "fail"):
        hw.notes.append(ram.detail)
    return hw


# --- node control -----------------------------------------------------------------------------

def _status(name: str) -> dict | None:
    from core.supervisor.control import query_status

    return query_status(paths.ProfilePaths(name), timeout=1.0)


def node_state(name: str) -> str:
    """running | stopped | crashed | gave_up | starting | stopping (from the supervisor)."""
    st = _status(name)
    if st and st.get("state"):
        return str(st["state"])
    if identity.is_locked(paths.ProfilePaths(name)):
        return "running"
    # no supervisor: the last state the node recorded
    last = None
    for ev in _tail_events(paths.ProfilePaths(name).events_file, 200, ("node.state",)):
        if ev.type == "node.state":
            last = ev["state"]
    return "crashed" if last in ("crashed", "gave_up") else "stopped"


def node_pid(name: str) -> int | None:
    st = _status(name)
    pid = (st or {}).get("child_pid")
    return int(pid) if pid else None


def control(name: str, action: str) -> None:
    """start / stop / restart: start spawns the profile's detached supervisor when none runs."""
    from core.supervisor import supervisor as daemon
    from core.supervisor.control import ControlClient, NotRunning

    from core.usecases import node_control as session

    session.record_user_action(name, action)  # a stop stays stopped on later opens; a start re-enables
    if action == "start":
        st = daemon.spawn_detached(name)
        if st.get("already_running") and st.get("state") not in ("running", "starting"):
            ControlClient(paths.ProfilePaths(name)).start()
    elif action == "stop":
        daemon.stop_profile(name)
    elif action == "restart":
        try:
            ControlClient(paths.ProfilePaths(name)).restart()
        except NotRunning:
            daemon.spawn_detached(name)
    else:
        raise ValueError(action)


def needs_login(name: str) -> bool:
    """Not signed in, unless the profile chose N to testnet participation (no chain identity then)."""
    from core.identity.profiles import read_state

    if read_state(name).get("testnet_participation") is False:
        return False
    try:
        prof = _profile(name)
        if prof.settings.backend == "web3" and prof.network.kind == "local":
            return False  # signs with its own key funded by the local chain (the demo peers): no sign-in
    except SwarmdeckError:
        pass
    return signin_required(name) is not None or login_status(name) in ("waiting", "signed_in")


def signin_required(name: str) -> dict | None:
    """{"reason", "since", "where", "fix"} when the login app refused this profile's session key
    (stale or not activated: the node's chain writes wait for a new sign-in), else None."""
    from core.identity import signin

    try:
        req = signin.required(name)
    except (SwarmdeckError, OSError, ValueError):
        return None
    return {**req, "fix": signin.command(name)} if req else None


def profile_state(name: str) -> str:
    """The switcher's state: running / stopped / crashed / needs_login / needs_backup."""
    st = node_state(name)
    if st in ("running", "starting", "stopping"):
        return "running"
    if st in ("crashed", "gave_up"):
        return "crashed"
    if needs_login(name):
        return "needs_login"
    if backup_verified_at(name) is None:
        return "needs_backup"
    return "stopped"


# --- events ---------------------------------------------------------------------------------

def _tail_events(path: Path, n: int, types: tuple[str, ...] = ()) -> list[Event]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            lines = f.read().splitlines()[-n:]
    except FileNotFoundError:
        return []
    out = []
    wanted = [f'"type":{sp}"{x}"'.encode() for x in types for sp in ("", " ")]
    for line in lines:
        if wanted and not any(w in line for w in wanted):  # skip parsing lines we would drop
            continue
        try:
            out.append(Event.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            continue
    return out


class EventSource:
    """New events of one profile, polled from the dashboard's timer (never blocks).

    Reads the profile's events.jsonl by byte offset: the supervisor persists every event
    there, so this works with or without a running supervisor and replays the history on
    first poll. (core.supervisor.control's subscribe stream can replace this in one place: poll().)
    """

    def __init__(self, name: str, history_bytes: int = 4 * 1024 * 1024):
        self.path = paths.ProfilePaths(name).events_file
        self._pos = 0
        self._partial = b""
        self._history_bytes = history_bytes
        self._first = True
        self._ino: int | None = None
        self._last_seq = 0       # newest seq handed out
        self._resume_after = 0   # after a compaction: skip what was handed out already

    def poll(self) -> list[Event]:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            if not self._first and (st.st_ino != self._ino or size < self._pos):
                # compacted (core.events.log.compact_events: a new file), rotated or truncated: read its newest
                # part again as on the first poll
                self._first, self._partial, self._resume_after = True, b"", self._last_seq
            self._ino = st.st_ino
            if self._first:
                self._first = False
                self._pos = max(0, size - self._history_bytes)
                if self._pos:
                    f.seek(self._pos)
                    f.readline()  # skip the cut line
                    self._pos = f.tell()
            if size == self._pos:
                return []
            f.seek(self._pos)
            data = f.read(size - self._pos)
            self._pos = size
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # a line still being written
        out = []
        for line in lines:
            try:
                out.append(Event.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue
        if self._resume_after:
            # the same stream compacted (it still holds the last event we handed out): only newer ones
            if any(ev.seq == self._resume_after for ev in out):
                out = [ev for ev in out if ev.seq > self._resume_after]
            self._resume_after = 0
        if out:
            self._last_seq = max(self._last_seq, max(ev.seq for ev in out))
        return out


# --- what the TUI brings up on its own (rules in core.usecases.node_control) -------------------------------

def is_local(name: str) -> bool:
    from core.usecases import node_control as session

    return session.is_local(name)


def ensure_network(name: str, step=None) -> dict | None:
    """Bring the local network up for a local profile (blocking: call from a worker thread).
    step(key, **params) is told each step actually taken (keys under net.)."""
    from core.usecases import node_control as session

    return session.ensure_network(name, step)


def bare_ssh() -> bool:
    from core.usecases import node_control as session

    return session.bare_ssh()


def autostart(name: str, step=None) -> str:
    """Start the profile's node unless the user stopped it or it cannot run yet (blocking)."""
    from core.usecases import node_control as session

    return session.autostart(name, step)


# --- login -----------------------------------------------------------------------------------

def login_url(name: str) -> str:
    """The running login service's URL, else where it will listen (the profile's login port)."""
    from core.login.service import service_url

    kind = network_kind(name)
    if kind[1] != "local" and kind[2]:
        return kind[2]
    return service_url(paths.ProfilePaths(name), login_port(name))


def ssh_tunnel_line(port: int, environ: dict | None = None) -> str | None:
    """The exact `ssh -L` line when this runs over SSH."""
    from core.login.hints import ssh_tunnel_command

    return ssh_tunnel_command(port, environ)


def ensure_login_service(name: str) -> tuple[str, int] | None:
    """Start the profile's local login service if needed: (url, port), or None on non-local networks."""
    from core.usecases import node_control as session

    info = session.ensure_login_service(name)
    return None if info is None else (info.url, info.port)


def login_status(name: str, registered: bool = False) -> str:
    """waiting | signed_in | activated | registered, from the identity files (and node events)."""
    try:
        login = identity.read_login(paths.ProfilePaths(name).identity_dir)
    except SwarmdeckError:
        login = None
    if login is None:
        return "waiting"
    if not login.activated:
        return "signed_in"
    return "registered" if registered else "activated"


def registered_from_events(name: str) -> bool:
    for ev in _tail_events(paths.ProfilePaths(name).events_file, 500, ("node.registered", "submission")):
        if ev.type == "node.registered" or (ev.type == "submission" and ev.get("kind") == "register"
                                            and ev.get("status") in ("landed", "skipped")):
            return True
    return False


# --- the official sign-in app (public testnet: core.login.modal_app) ---------------------------

def _nop_progress(step: str, **kw) -> None:
    pass


def login_app_dir(name: str) -> str | None:
    """The profile's configured modal-login directory, or None when none is set. Raises AppError
    (what/where/fix) when the configured one is gone or is not the app."""
    from core.login import modal_app

    d = modal_app.app_dir_for(_profile(name))
    return None if d is None else str(d)


def use_login_app(name: str, path: str) -> str:
    """Check that `path` is the modal-login app (or an rl-swarm checkout holding it), that no other
    profile uses it, and remember it for the profile (config login_app). Returns the app dir."""
    from core.login import modal_app

    d = modal_app.resolve_app_dir(path)
    modal_app.check_not_shared(name, d)
    modal_app.set_app_dir(name, d)
    return str(d)


def login_app_clone_plan(name: str) -> dict:
    """What cloning would do, for the consent question: {repo, commit, dest, exists}."""
    from core.login import modal_app

    dest = modal_app.default_clone_dir(name)
    repo, commit = modal_app.pinned_source()
    return {"repo": repo, "commit": commit, "dest": str(dest), "exists": dest.exists()}


def clone_login_app(name: str, progress=None) -> str:
    """Clone the official app at the pinned commit into the profile's default place (only after
    the user agreed) and remember it. Blocking: call from a worker thread. Returns the app dir."""
    from core.login import modal_app

    d = modal_app.clone_app(modal_app.default_clone_dir(name), progress=progress or _nop_progress,
                            log_path=modal_app.log_file(paths.ProfilePaths(name)))
    modal_app.set_app_dir(name, d)
    return str(d)


def start_login_app(name: str, progress=None, stop=None):
    """Configure, build (when needed) and start the profile's app (blocking: a worker thread).
    progress(step, **params): steps env / install / build / start, and `line=` build output.
    Returns core.login.modal_app.AppInfo (url, port read back from the app, pid, app_dir)."""
    from core.login import modal_app

    info = modal_app.ensure_running(_profile(name), progress=progress or _nop_progress, stop=stop)
    if info is None:
        raise modal_app.AppError("no sign-in app is set for this profile.",
                                 where=f"config.toml [profiles.{name}] login_app",
                                 fix=f"give its directory: `swarmdeck login -p {name} --app PATH`")
    return info


def wait_login_app(name: str, app, progress=None, stop=None):
    """Wait for the browser sign-in through the running app, copy its files into the profile and
    wait for activation (blocking). When the profile must sign in again, its current session key
    does not count. Returns the LoginInfo, or None when stopped."""
    from core.login import modal_app

    from core.identity import signin

    prof = _profile(name)
    return modal_app.wait_for_sign_in(prof, app, progress=progress or _nop_progress, stop=stop,
                                      stale_key=signin.refused_key(name))


def login_app_log(name: str) -> str:
    from core.login import modal_app

    return str(modal_app.log_file(paths.ProfilePaths(name)))


# --- identity and backups ------------------------------------------------------------------

def peer(name: str) -> tuple[str | None, str | None]:
    pem = paths.ProfilePaths(name).swarm_pem
    if not pem.exists():
        return None, None
    try:
        pid = identity.peer_id_from_pem(pem)
        return pid, identity.display_name(pid)
    except SwarmdeckError:
        return None, None


def backup_verified_at(name: str) -> str | None:
    """When the current identity's backup was verified; None when none is, or it is outdated."""
    from core.identity.backup import backup_state

    st = backup_state(name)
    return st["verified_at"] if st.get("state") == "verified" else None


def default_backup_path(name: str) -> str:
    return f"~/swarmdeck-{name}-identity.sdbk"  # expanded when used; short enough to read in the field


def backup(name: str, dest: str, passphrase: str) -> str:
    """Write and verify an encrypted backup (never overwrites). Returns the archive path."""
    from core.identity.backup import create_backup

    info = create_backup(name, Path(dest).expanduser(), passphrase, verify=True)
    return str(info.archive)


def verify(name: str, archive: str, passphrase: str) -> Any:
    from core.identity.backup import verify_backup

    return verify_backup(Path(archive).expanduser(), passphrase, profile=name)


_dup_cache: tuple[tuple, list] = ((), [])


def duplicates() -> list[tuple[str, tuple[str, ...]]]:
    """(description, profiles involved) for every identity shared by two or more profiles.

    Parsing each swarm.pem costs tens of ms (RSA key load), so the answer is cached until an
    identity file of some profile changes (checked by stat: size and mtime).
    """
    global _dup_cache
    sig = []
    d = paths.profiles_dir()
    for p in sorted(d.iterdir()) if d.is_dir() else []:
        for f in ("swarm.pem", "userData.json", "userApiKey.json"):
            try:
                st = (p / "identity" / f).stat()
                sig.append((p.name, f, st.st_size, st.st_mtime_ns))
            except OSError:
                continue
    key = tuple(sig)
    if key and key == _dup_cache[0]:
        return _dup_cache[1]
    try:
        out = [(str(x), tuple(x.profiles)) for x in identity.find_duplicates()]
    except SwarmdeckError:
        out = []
    _dup_cache = (key, out)
    return out


def permission_problems(name: str) -> list[str]:
    return [str(p) for p in identity.check_permissions(paths.ProfilePaths(name).identity_dir)]


def fix_permissions(name: str) -> int:
    return len(identity.fix_permissions(paths.ProfilePaths(name).identity_dir))


