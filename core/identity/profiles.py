"""Profiles: one directory (0700) per node identity, settings in config.toml [profiles.NAME].

Rules: names match core.base.paths.PROFILE_NAME_RE (no path tricks); archive moves the directory
to the archive dir (never deletes); import copies an rl-swarm node's identity files into a
new profile and verifies the copies by checksum, leaving the originals untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.config import settings as _config
from core.identity import files as _identity
from core.base import paths as _paths
from core.config.settings import NetworkSettings, ProfileSettings
from core.base.i18n import M
from core.base.errors import IdentityError, ProfileError
from core.base.fsutil import atomic_write_json, create_exclusive


def _locked_config(fn):
    """Run a config-editing function under the config lock with a freshly loaded config,
    unless the caller passes its own `cfg` (then the caller owns the read-modify-write)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, cfg: _config.Config | None = None, **kwargs):
        if cfg is not None:
            return fn(*args, cfg=cfg, **kwargs)
        with _config.config_lock():
            return fn(*args, cfg=_config.load_config(), **kwargs)

    return wrapper


@dataclass(frozen=True)
class Profile:
    name: str
    paths: _paths.ProfilePaths
    settings: ProfileSettings
    network: NetworkSettings

    @property
    def has_identity(self) -> bool:
        return self.paths.swarm_pem.exists()

    def state(self) -> dict:
        return read_state(self.name)


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ProfileError(M("err.profile.name_empty"), fix=M("err.profile.name_empty_fix"))
    if not _paths.PROFILE_NAME_RE.match(name):
        raise ProfileError(M("err.profile.name_bad", name=repr(name)), fix=M("err.profile.name_bad_fix"))
    return name


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _resolve_network(cfg: _config.Config, settings: ProfileSettings) -> NetworkSettings:
    net = cfg.network(settings.network)
    if net.kind == "local":
        # the local login service runs on this profile's login_port
        from dataclasses import replace

        net = replace(net, login_url=f"http://127.0.0.1:{settings.login_port}")
    return net


def load_profile(name: str | None = None, cfg: _config.Config | None = None) -> Profile:
    """The named profile (None = current). Creates its directory (0700) if it is missing."""
    cfg = cfg or _config.load_config()
    if name is None:
        name = cfg.current_profile
        if not name:
            raise ProfileError(M("err.profile.none_selected"), where=str(cfg.path),
                               fix=M("err.profile.none_selected_fix"))
    validate_name(name)
    settings = cfg.profile_settings(name)
    pp = _paths.ProfilePaths(name)
    _paths.ensure_private_dir(pp.root)
    _paths.ensure_private_dir(pp.identity_dir)
    return Profile(name, pp, settings, _resolve_network(cfg, settings))


def list_profiles(cfg: _config.Config | None = None) -> list[Profile]:
    cfg = cfg or _config.load_config()
    return [load_profile(n, cfg) for n in cfg.profile_names() if _paths.PROFILE_NAME_RE.match(n)]


def current_profile_name(cfg: _config.Config | None = None) -> str:
    cfg = cfg or _config.load_config()
    return cfg.current_profile


def _check_new_name(cfg: _config.Config, name: str) -> None:
    validate_name(name)
    if cfg.has_profile(name):
        raise ProfileError(M("err.profile.exists", name=repr(name)), where=f"{cfg.path} [profiles.{name}]",
                           fix=M("err.profile.exists_fix"))
    root = _paths.ProfilePaths(name).root
    if root.exists() and any(root.iterdir()):
        raise ProfileError(M("err.profile.dir_exists", name=repr(name)), where=str(root),
                           fix=M("err.profile.dir_exists_fix"))


@_locked_config
def create_profile(name: str, *, identity: bool = True, make_current: bool | None = None,
                   cfg: _config.Config | None = None, **settings) -> Profile:
    """Create a profile: config table + directory (0700) + a fresh swarm.pem (identity=True).

    settings are [profiles.NAME] keys (network, model, quant, gpus, dht_port, login_port,
    backend, hf_repo, training={...}, daemon={...}). make_current defaults to True when
    there is no usable current profile.
    """
    cfg = cfg or _config.load_config()
    _check_new_name(cfg, name)
    cfg.add_profile(name, settings)
    problems = [p for p in cfg.validate() if p.key == f"profiles.{name}" or p.key.startswith(f"profiles.{name}.")]
    if problems:
        raise ProfileError("invalid profile settings:\n" + "\n".join(f"  {p}" for p in problems),
                           fix="fix the values and try again")
    if make_current is None:
        make_current = not cfg.current_profile or cfg.current_profile not in cfg.profile_names()
    if make_current:
        cfg.set_current_profile(name)
    pp = _paths.ProfilePaths(name)
    _paths.ensure_private_dir(pp.root)
    _paths.ensure_private_dir(pp.identity_dir)
    if identity:
        _identity.load_or_create_swarm_pem(pp.swarm_pem)
    cfg.save()
    write_state(name, {"created_at": _now()})
    return load_profile(name, cfg)


@_locked_config
def use_profile(name: str, cfg: _config.Config | None = None) -> Profile:
    cfg = cfg or _config.load_config()
    validate_name(name)
    if not cfg.has_profile(name):
        raise ProfileError(M("err.profile.missing", name=repr(name)),
                           fix=M("err.profile.missing_or_new", names=", ".join(cfg.profile_names()) or "-", name=name))
    cfg.set_current_profile(name)
    cfg.save()
    return load_profile(name, cfg)


def _refuse_if_running(name: str) -> None:
    if _identity.is_locked(_paths.ProfilePaths(name)):
        raise ProfileError(M("err.profile.running", name=repr(name)), fix=M("err.profile.running_fix", name=name))


@_locked_config
def rename_profile(old: str, new: str, cfg: _config.Config | None = None) -> Profile:
    cfg = cfg or _config.load_config()
    validate_name(old)
    if not cfg.has_profile(old):
        raise ProfileError(M("err.profile.missing", name=repr(old)),
                           fix=M("err.profile.existing", names=", ".join(cfg.profile_names()) or "-"))
    _check_new_name(cfg, new)
    _refuse_if_running(old)
    src, dst = _paths.ProfilePaths(old), _paths.ProfilePaths(new)
    if dst.root.exists():
        dst.root.rmdir()  # _check_new_name proved it empty
    if src.root.exists():
        os.rename(src.root, dst.root)
    if src.log_dir.exists() and not dst.log_dir.exists():
        os.rename(src.log_dir, dst.log_dir)
    cfg.rename_profile(old, new)
    try:
        cfg.save()
    except BaseException:
        if dst.root.exists():
            os.rename(dst.root, src.root)
        raise
    return load_profile(new, cfg)


@_locked_config
def archive_profile(name: str, cfg: _config.Config | None = None) -> Path:
    """Move the profile's directory (identity included) to the archive dir; drop it from config.

    Nothing is deleted: the archived directory keeps its files and a copy of its config
    table (profile.toml), and the path is returned for the user.
    """
    cfg = cfg or _config.load_config()
    validate_name(name)
    if not cfg.has_profile(name):
        raise ProfileError(M("err.profile.missing", name=repr(name)),
                           fix=M("err.profile.existing", names=", ".join(cfg.profile_names()) or "-"))
    _refuse_if_running(name)
    import tomlkit

    pp = _paths.ProfilePaths(name)
    _paths.ensure_private_dir(_paths.archive_dir())
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    dest = _paths.archive_dir() / f"{name}-{stamp}"
    n = 1
    while dest.exists():
        n += 1
        dest = _paths.archive_dir() / f"{name}-{stamp}-{n}"
    _paths.ensure_private_dir(pp.root)
    table = tomlkit.document()
    table.add("profile", cfg.doc["profiles"][name])
    (pp.root / "profile.toml").write_text(tomlkit.dumps(table), encoding="utf-8")
    os.rename(pp.root, dest)  # same filesystem (both under the data dir): atomic
    cfg.remove_profile(name)
    cfg.save()
    return dest


# --- state.json (backup verified at, ...) -------------------------------------------------

def read_state(name: str) -> dict:
    p = _paths.ProfilePaths(name).state_file
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def write_state(name: str, updates: dict) -> dict:
    """Merge `updates` into the profile's state.json (atomic)."""
    state = read_state(name)
    state.update(updates)
    pp = _paths.ProfilePaths(name)
    _paths.ensure_private_dir(pp.root)
    atomic_write_json(pp.state_file, state)
    return state


# --- import an existing rl-swarm node ------------------------------------------------------

def _sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def find_rlswarm_files(src: Path) -> dict[str, Path | None]:
    """Locate swarm.pem / userData.json / userApiKey.json in an rl-swarm checkout or a plain dir.

    rl-swarm keeps swarm.pem at the top and the login files in modal-login/temp-data/.
    """
    src = Path(src).expanduser()
    found: dict[str, Path | None] = {}
    for fname in _identity.IDENTITY_FILES:
        found[fname] = None
        for cand in (src / fname, src / "modal-login" / "temp-data" / fname, src / "temp-data" / fname):
            if cand.is_file():
                found[fname] = cand
                break
    return found


@_locked_config
def import_profile(name: str, src: Path, *, pem_only: bool = False, cfg: _config.Config | None = None,
                   progress=None, **settings) -> Profile:
    """Copy an existing node's identity files into a profile, verified by sha256.

    A new `name` gets a new profile (all three files needed unless pem_only). An existing
    profile only receives files it lacks (e.g. the official login app's userData.json /
    userApiKey.json next to the swarm.pem it already has); a file it already holds with
    different content is refused, never overwritten. Originals are only read. A peer id or
    orgId already used by another profile is refused (two nodes, one identity).
    """
    say = progress or (lambda msg: None)
    cfg = cfg or _config.load_config()
    src = Path(src).expanduser()
    existing = cfg.has_profile(name)
    if existing:
        validate_name(name)
        _refuse_if_running(name)
    else:
        _check_new_name(cfg, name)
    if not src.is_dir():
        raise ProfileError(f"{src} is not a directory.", where=str(src),
                           fix="give the rl-swarm folder (the one holding swarm.pem)")
    pp = _paths.ProfilePaths(name)
    found = find_rlswarm_files(src)
    have = {f: (pp.identity_dir / f).is_file() for f in _identity.IDENTITY_FILES}
    need = [f for f in _identity.IDENTITY_FILES if not have[f] and (f == "swarm.pem" or not pem_only)]
    missing = [f for f in need if found[f] is None]
    if missing:
        raise ProfileError(
            f"cannot import: {', '.join(missing)} not found in {src} (looked in it and in modal-login/temp-data/).",
            where=str(src),
            fix="point to the rl-swarm folder that has them; to import only swarm.pem (and sign in again later) "
            "add --pem-only",
        )
    # read and validate everything before writing anything
    blobs: dict[str, bytes] = {f: p.read_bytes() for f, p in found.items()
                               if p is not None and (f == "swarm.pem" or not pem_only)}
    if "swarm.pem" in blobs:
        say(f"checking {found['swarm.pem']}")
        peer_id = _identity.peer_id_from_bytes(blobs["swarm.pem"], str(found["swarm.pem"]))
    else:
        peer_id = _identity.peer_id_from_pem(pp.swarm_pem)
    with _TempIdentity(blobs) as tmp:  # parse the login files with the same rules as a profile's
        login = _identity.read_login(tmp)
    to_copy: dict[str, bytes] = {}
    for f, data in blobs.items():
        dest = pp.identity_dir / f
        if have[f]:
            if _sha256(dest.read_bytes()) != _sha256(data):
                raise IdentityError(
                    f"profile {name!r} already has a different {f}; swarmdeck never overwrites an identity file.",
                    where=str(dest), fix="import into a new profile: 'swarmdeck profile import PATH -p NEW_NAME'",
                )
            say(f"{f}: already identical in profile {name!r}")
        else:
            to_copy[f] = data
    for other in cfg.profile_names():
        if other == name:
            continue
        facts = _identity.identity_facts(_paths.ProfilePaths(other).identity_dir)
        clash = None
        if facts["peer_id"] == peer_id:
            clash = f"peer id {peer_id}"
        elif login and facts["org_id"] and facts["org_id"] == login.org_id:
            clash = f"account (orgId {login.org_id})"
        if clash:
            raise IdentityError(
                f"profile {other!r} already uses this {clash}; importing it again would run one identity twice.",
                where=str(src), fix=f"use profile {other!r} ('swarmdeck profile use {other}')",
            )
    created_root = not pp.root.exists()
    if not existing:
        cfg.add_profile(name, settings)
        if not cfg.current_profile or cfg.current_profile not in cfg.profile_names():
            cfg.set_current_profile(name)
    written: list[Path] = []
    checks = {}
    try:
        _paths.ensure_private_dir(pp.root)
        _paths.ensure_private_dir(pp.identity_dir)
        for fname, data in to_copy.items():
            dest = pp.identity_dir / fname
            say(f"copying {found[fname]} -> {dest}")
            create_exclusive(dest, data, mode=0o600)
            written.append(dest)
            if _sha256(dest.read_bytes()) != _sha256(data) or _sha256(found[fname].read_bytes()) != _sha256(data):
                raise IdentityError(f"the copy of {fname} does not match the original (disk error, or the file "
                                    "changed while copying).", where=str(dest), fix="try again")
            checks[fname] = _sha256(data)
        if _identity.peer_id_from_pem(pp.swarm_pem) != peer_id:
            raise IdentityError("imported swarm.pem gives a different peer id.", where=str(pp.swarm_pem))
        if not existing:
            cfg.save()
    except BaseException:
        # roll back only what this call created
        for p in written:
            p.unlink(missing_ok=True)
        if created_root and pp.root.exists():
            shutil.rmtree(pp.root, ignore_errors=True)
        raise
    write_state(name, {("imported_at" if existing else "created_at"): _now(), "imported_from": str(src),
                       "imported_sha256": checks})
    say(f"imported peer {peer_id} ({_identity.display_name(peer_id)})")
    return load_profile(name, cfg)


class _TempIdentity:
    """A private temp dir holding given identity files (to reuse identity's parsers)."""

    def __init__(self, blobs: dict[str, bytes]):
        self.blobs = blobs

    def __enter__(self) -> Path:
        import tempfile

        self._td = tempfile.TemporaryDirectory(prefix="swarmdeck-import-")
        d = Path(self._td.name)
        os.chmod(d, 0o700)
        for f, b in self.blobs.items():
            if f != "swarm.pem":
                p = d / f
                p.write_bytes(b)
                os.chmod(p, 0o600)
        return d

    def __exit__(self, *exc):
        self._td.cleanup()
