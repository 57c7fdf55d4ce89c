"""The TUI's typed door to core: `Backend` (a Protocol) and `CoreBackend`, its real implementation.

The app gets a Backend injected (tests pass a CoreBackend subclass that overrides one method);
views call only what the Protocol lists. Every method may do file, socket or process I/O, so the
screens call them from Textual workers (threads) and get typed results back as messages; the
few exceptions are named in the method docstrings ("cheap": no I/O). Nothing here imports Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from core.base import paths
from core.base.constants import DEFAULT_LOGIN_PORT
from core.base.errors import SwarmdeckError
from core.config import settings as _config
from core.doctor import checks as _checks
from core.events.reader import EventSource as _FileEventSource
from core.hardware import probe as _hwprobe
from core.identity import backup as _backup
from core.identity import files as identity
from core.identity import profiles as _profiles
from core.identity import signin as _signin
from core.login import hints as _hints
from core.login import modal_app
from core.login.service import service_url
from core.usecases import node_control, profile_setup, profile_state
from core.usecases.profile_state import ProfileView
from core.usecases import signin as signin_flow
from core.usecases.signin import ClonePlan
from core.usecases.standing import Standing
from core.usecases.standing import standing as _standing
from core.usecases.swarm_status import SwarmStatus, SwarmWatch
from core.usecases import swarm_hosting as _hosting
from tui.model.wizard import Hardware, WizardResult

Step = Callable[..., None]  # step(key, **params): progress of a long call, keys under "net." / "login."


@dataclass(frozen=True)
class Duplicate:
    what: str                    # readable: "the same peer id Qm... is used by profiles a, b"
    profiles: tuple[str, ...]


class Backend(Protocol):
    # settings and profiles (read once at start-up, before the first frame)
    def language_setting(self) -> str | None: ...
    def refresh_seconds(self, default: float = 1.0) -> float: ...
    def tui_settings(self) -> _config.TuiSettings: ...
    def list_profiles(self) -> list[str]: ...
    def current_profile(self) -> str | None: ...
    def needs_setup(self, name: str) -> bool: ...
    def bare_ssh(self) -> bool: ...
    # setup
    def hardware(self) -> Hardware: ...
    def create_profile(self, res: WizardResult, configure_existing: bool = False) -> Any: ...
    def use_profile(self, name: str) -> None: ...
    def profile_gpus(self, name: str) -> list[int]: ...
    def login_port(self, name: str) -> int: ...
    def network_kind(self, name: str) -> tuple[str, str, str]: ...
    # state (one refresh = profile_views + duplicates, from a worker)
    def profile_views(self, names: list[str]) -> dict[str, ProfileView]: ...
    def profile_state(self, name: str) -> str: ...
    def node_state(self, name: str) -> str: ...
    def node_pid(self, name: str) -> int | None: ...
    def duplicates(self) -> list[Duplicate]: ...
    def needs_login(self, name: str) -> bool: ...
    def signin_required(self, name: str) -> dict | None: ...
    def event_source(self, name: str) -> _FileEventSource: ...
    def swarm_status(self, name: str) -> SwarmStatus: ...
    def standing(self, names: list[str]) -> Standing: ...
    def swarm_invites(self) -> list[tuple[str, str]]: ...
    def swarm_host_status(self, name: str) -> dict: ...
    def swarm_join(self, invite: str, profile: str | None = None) -> dict: ...
    def swarm_host(self, name: str, public_addr: str) -> str: ...
    # node and network
    def control(self, name: str, action: str) -> None: ...
    def is_local(self, name: str) -> bool: ...
    def ensure_network(self, name: str, step: Step | None = None) -> dict | None: ...
    def autostart(self, name: str, step: Step | None = None) -> str: ...
    # sign-in
    def login_url(self, name: str) -> str: ...
    def ssh_tunnel_line(self, port: int, environ: dict | None = None) -> str | None: ...
    def ensure_login_service(self, name: str) -> tuple[str, int] | None: ...
    def login_status(self, name: str, registered: bool = False) -> str: ...
    def registered_from_events(self, name: str) -> bool: ...
    def login_app_dir(self, name: str) -> str | None: ...
    def use_login_app(self, name: str, path: str) -> str: ...
    def login_app_clone_plan(self, name: str) -> ClonePlan: ...
    def clone_login_app(self, name: str, progress: Step | None = None) -> str: ...
    def start_login_app(self, name: str, progress: Step | None = None, stop=None) -> modal_app.AppInfo: ...
    def wait_login_app(self, name: str, app: modal_app.AppInfo, progress: Step | None = None, stop=None): ...
    def login_app_log(self, name: str) -> str: ...
    # identity and backups
    def backup_verified_at(self, name: str) -> str | None: ...
    def default_backup_path(self, name: str, now: float | None = None) -> str: ...
    def backup(self, name: str, dest: str, passphrase: str) -> str: ...
    def verify(self, name: str, archive: str, passphrase: str) -> Any: ...
    def permission_problems(self, name: str) -> list[str]: ...
    def fix_permissions(self, name: str) -> int: ...


def _nop(step: str, **kw) -> None:
    pass


class CoreBackend:
    """Backend over core.usecases and core's area packages (one thin call each)."""

    def __init__(self) -> None:
        self._dup_cache: tuple[tuple, list[Duplicate]] = ((), [])
        self._swarm_watch = SwarmWatch()

    # -- settings and profiles
    def _cfg(self) -> _config.Config:
        return _config.load_config()

    def language_setting(self) -> str | None:
        return self._cfg().language

    def refresh_seconds(self, default: float = 1.0) -> float:
        try:
            v = float(self._cfg().tui.refresh_seconds)
        except (TypeError, ValueError, SwarmdeckError):
            v = default
        return max(0.2, v)  # a floor, like nvitop's minimum interval: never spin

    def tui_settings(self) -> _config.TuiSettings:
        try:
            return self._cfg().tui
        except SwarmdeckError:
            return _config.TuiSettings()

    def list_profiles(self) -> list[str]:
        """In display order (profile_state.display_order): the tab numbers stay the same across sessions."""
        return profile_state.display_order([p.name for p in _profiles.list_profiles()])

    def current_profile(self) -> str | None:
        cur = _profiles.current_profile_name()
        names = self.list_profiles()
        if cur in names:
            return cur
        return names[0] if names else None

    def needs_setup(self, name: str) -> bool:
        """First run: the example config's profile, never set up (no identity, no record of a
        wizard or of creation)."""
        st = _profiles.read_state(name)
        return not paths.ProfilePaths(name).swarm_pem.exists() and not st.get("created_at") and not st.get("setup_at")

    def bare_ssh(self) -> bool:
        """Cheap (environment only)."""
        return node_control.bare_ssh()

    # -- setup
    def hardware(self) -> Hardware:
        """The wizard's hardware step: the GPU probe and recommendation, the doctor's RAM check."""
        probe = _hwprobe.probe_gpus()
        rec = _hwprobe.recommend_for((), probe)
        gpus = [{"index": g.index, "name": g.name, "vram_gib": round(g.total_gib, 1)} for g in probe.gpus]
        hw = Hardware(gpus=gpus, cpu_mode_reason=probe.reason if probe.cpu_mode else None,
                      recommended_model=rec.model, recommended_quant=rec.quant, notes=[rec.reason])
        try:
            import psutil

            hw.ram_gib = round(psutil.virtual_memory().total / 1024**3, 1)
        except Exception:
            pass
        ram = _checks.check_ram()
        if ram.status in ("warn", "fail"):
            hw.notes.append(ram.detail)
        return hw

    def create_profile(self, res: WizardResult, configure_existing: bool = False) -> Any:
        return profile_setup.create_profile(profile_setup.SetupRequest(
            res.name, res.settings, res.custom_network, res.participate, res.hf_token), configure_existing)

    def use_profile(self, name: str) -> None:
        _profiles.use_profile(name)

    def profile_gpus(self, name: str) -> list[int]:
        try:
            return list(_profiles.load_profile(name).settings.gpus)
        except SwarmdeckError:
            return []

    def login_port(self, name: str) -> int:
        try:
            return int(_profiles.load_profile(name).settings.login_port)
        except SwarmdeckError:
            return DEFAULT_LOGIN_PORT

    def network_kind(self, name: str) -> tuple[str, str, str]:
        """(network name, kind local|testnet|custom, login_url)."""
        net = _profiles.load_profile(name).network
        return net.name, net.kind, net.login_url

    # -- state
    def profile_views(self, names: list[str]) -> dict[str, ProfileView]:
        return {n: profile_state.profile_view(n) for n in names}

    def profile_state(self, name: str) -> str:
        return profile_state.profile_view(name).state

    def node_state(self, name: str) -> str:
        return profile_state.node_state(name)

    def node_pid(self, name: str) -> int | None:
        return profile_state.node_pid(name)

    def needs_login(self, name: str) -> bool:
        return profile_state.needs_login(name)

    def signin_required(self, name: str) -> dict | None:
        return profile_state.signin_required(name)

    def duplicates(self) -> list[Duplicate]:
        """Identities shared by two or more profiles. Parsing each swarm.pem costs tens of ms (RSA
        key load), so the answer is kept until an identity file of some profile changes (stat)."""
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
        if key and key == self._dup_cache[0]:
            return self._dup_cache[1]
        try:
            out = [Duplicate(x.message(), tuple(x.profiles)) for x in identity.find_duplicates()]
        except SwarmdeckError:
            out = []
        self._dup_cache = (key, out)
        return out

    def event_source(self, name: str) -> _FileEventSource:
        """Cheap to build; its poll() reads the file (call it from a worker)."""
        return _FileEventSource(paths.ProfilePaths(name).events_file)

    def swarm_status(self, name: str) -> SwarmStatus:
        """Chain round (advancing?), bootnodes reachable, the testnet's pause: network I/O, seconds at most."""
        return self._swarm_watch.check(name)

    def standing(self, names: list[str]) -> Standing:
        """On-chain standing and history per profile (core.usecases.standing): chain and file I/O."""
        return _standing(names)

    def swarm_invites(self) -> list[tuple[str, str]]:
        """(name, invite, or why there is none) for each swarm this machine hosts: file I/O."""
        out = []
        for name in _hosting.hosted():
            try:
                out.append((name, _hosting.invite(name)))
            except SwarmdeckError as e:
                what, _, fix = e.localized()
                out.append((name, what + (f" ({fix})" if fix else "")))
        return out

    def swarm_host_status(self, name: str) -> dict:
        """`swarmdeck swarm status --json` of one hosted swarm: its parts' states, alerts, backup (file I/O, one eth_call)."""
        return _hosting.host_status(name)

    def swarm_host(self, name: str, public_addr: str) -> str:
        """`swarmdeck swarm host --name NAME --public-addr ADDR` (processes, chain: up to minutes); the invite."""
        return _hosting.host(name, public_addr=public_addr)["invite"]

    def swarm_join(self, invite: str, profile: str | None = None) -> dict:
        """`swarmdeck swarm join` (core.usecases.swarm_hosting.join): network I/O, seconds."""
        res = _hosting.join(invite, profile)
        res.pop("invite", None)
        return res

    # -- node and network
    def control(self, name: str, action: str) -> None:
        """start / stop / restart through core.usecases.node_control (same checks and records as the CLI)."""
        if action == "start":
            node_control.start(name)
        elif action == "stop":
            node_control.stop(name)
        elif action == "restart":
            node_control.restart(name)
        else:
            raise ValueError(action)

    def is_local(self, name: str) -> bool:
        return node_control.is_local(name)

    def ensure_network(self, name: str, step: Step | None = None) -> dict | None:
        return node_control.ensure_network(name, step)

    def autostart(self, name: str, step: Step | None = None) -> str:
        return node_control.autostart(name, step)

    # -- sign-in
    def login_url(self, name: str) -> str:
        """The running login service's URL, else where it will listen (the profile's login port)."""
        _, kind, url = self.network_kind(name)
        if kind != "local" and url:
            return url
        return service_url(paths.ProfilePaths(name), self.login_port(name))

    def ssh_tunnel_line(self, port: int, environ: dict | None = None) -> str | None:
        """Cheap (environment only): the exact `ssh -L` line when this runs over SSH."""
        return _hints.ssh_tunnel_command(port, environ)

    def ensure_login_service(self, name: str) -> tuple[str, int] | None:
        info = signin_flow.ensure_login_service(name)
        return None if info is None else (info.url, info.port)

    def login_status(self, name: str, registered: bool = False) -> str:
        return profile_state.login_status(name, registered)

    def registered_from_events(self, name: str) -> bool:
        return profile_state.registered_from_events(name)

    def login_app_dir(self, name: str) -> str | None:
        d = modal_app.app_dir_for(_profiles.load_profile(name))
        return None if d is None else str(d)

    def use_login_app(self, name: str, path: str) -> str:
        """The app dir is checked (the app, not shared with another profile) before it is saved."""
        return str(signin_flow.use_app_dir(name, path))

    def login_app_clone_plan(self, name: str) -> ClonePlan:
        return signin_flow.clone_plan(name)

    def clone_login_app(self, name: str, progress: Step | None = None) -> str:
        return str(signin_flow.clone_app(name, progress))

    def start_login_app(self, name: str, progress: Step | None = None, stop=None) -> modal_app.AppInfo:
        info = modal_app.ensure_running(_profiles.load_profile(name), progress=progress or _nop, stop=stop)
        if info is None:
            raise modal_app.AppError("no sign-in app is set for this profile.",
                                     where=f"config.toml [profiles.{name}] login_app",
                                     fix=f"give its directory: `swarmdeck login -p {name} --app PATH`")
        return info

    def wait_login_app(self, name: str, app: modal_app.AppInfo, progress: Step | None = None, stop=None):
        """When the profile must sign in again, its current (refused) session key does not count."""
        return modal_app.wait_for_sign_in(_profiles.load_profile(name), app, progress=progress or _nop, stop=stop,
                                          stale_key=_signin.refused_key(name))

    def login_app_log(self, name: str) -> str:
        return str(modal_app.log_file(paths.ProfilePaths(name)))

    # -- identity and backups
    def backup_verified_at(self, name: str) -> str | None:
        return profile_state.backup_verified_at(name)

    def default_backup_path(self, name: str, now: float | None = None) -> str:
        """Cheap (no I/O): a timestamped name, so a second backup is never refused for an existing file."""
        from datetime import datetime, timezone

        when = datetime.fromtimestamp(now, timezone.utc) if now is not None else None
        return _backup.default_archive_name(name, now=when, home_relative=True)

    def backup(self, name: str, dest: str, passphrase: str) -> str:
        info = _backup.create_backup(name, Path(dest).expanduser(), passphrase, verify=True)
        return str(info.archive)

    def verify(self, name: str, archive: str, passphrase: str) -> Any:
        return _backup.verify_backup(Path(archive).expanduser(), passphrase, profile=name)

    def permission_problems(self, name: str) -> list[str]:
        return [str(p) for p in identity.check_permissions(paths.ProfilePaths(name).identity_dir)]

    def fix_permissions(self, name: str) -> int:
        return len(identity.fix_permissions(paths.ProfilePaths(name).identity_dir))
