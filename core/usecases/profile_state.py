"""The data behind `swarmdeck status [--json]`: profiles and their identities, never a secret.

build_status() reads only files (config, identity dirs, state.json, node.lock); the
supervisor part adds live node state on top (see `extend` hooks: callers may add keys to
each profile dict, e.g. "node": {...} from the control socket).
"""

from __future__ import annotations

from core import __version__
from core.identity import backup as _backup
from core.config import settings as _config
from core.identity import files as _identity
from core.identity import profiles as _profiles
from core.base import paths as _paths
from core.identity import signin as _signin
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
    out["permission_problems"] = [str(p) for p in _identity.check_permissions(pp.identity_dir)]
    b = _backup.backup_state(name)
    out["backup"] = {"state": b["state"], "verified_at": b["verified_at"]}
    return out


def profile_status(cfg: _config.Config, name: str) -> dict:
    pp = _paths.ProfilePaths(name)
    d: dict = {"name": name, "current": name == cfg.current_profile, "dir": str(pp.root)}
    try:
        s = cfg.profile_settings(name)
        d.update({"network": s.network, "model": s.model, "quant": s.quant, "gpus": list(s.gpus),
                  "dht_port": s.dht_port, "login_port": s.login_port, "backend": s.backend})
    except SwarmdeckError as e:
        d["error"] = e.to_dict()
    d["running"] = _identity.is_locked(pp)
    d["identity"] = identity_status(name)
    req = _signin.required(name)  # the login app refused the session key: {reason, since, where} + the fix
    d["sign_in_required"] = {**req, "fix": _signin.command(name)} if req else None
    return d


def resolve_profile(name: str | None) -> str:
    """`-p NAME` or, without it, the current profile: validated, and refused when it does not exist."""
    return _profiles.load_profile(name).name


def profiles_on_disk() -> list[str]:
    """Profile directories that exist, whatever config.toml says (sorted)."""
    root = _paths.profiles_dir()
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if d.is_dir() and _paths.PROFILE_NAME_RE.match(d.name))


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
        out["config_problems"] = [p.to_dict() for p in problems] or [{"file": out["config"], "line": None,
                                                                       "key": "", "message": e.what, "fix": e.fix}]
        out["config_broken"] = True
        out["profiles_on_disk"] = profiles_on_disk()
        return out
    out["config_problems"] = [p.to_dict() for p in cfg.validate()]
    out["current_profile"] = cfg.current_profile or None
    names = [n for n in cfg.profile_names() if _paths.PROFILE_NAME_RE.match(n)]
    out["profiles"] = [profile_status(cfg, n) for n in names]
    out["duplicates"] = [d.to_dict() for d in _identity.find_duplicates(names)]
    return out
