"""The sign-in flow shared by `swarmdeck login` and the TUI's sign-in screen.

It owns its locks (one local login service per profile port; one app-dir choice at a time) and
checks that an official app dir is not another profile's BEFORE it is saved to config.toml.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.base import paths as _paths
from core.identity import profiles as _profiles
from core.login import modal_app
from core.login.service import ServiceInfo, ensure_service

Progress = Callable[..., None]

_service_lock = threading.Lock()  # the login screen and the autostart may both ask at once: one process per port
_app_lock = threading.Lock()      # check-then-save of the app dir is one step


def _nop(step: str, **kw) -> None:
    pass


def ensure_login_service(name: str) -> ServiceInfo | None:
    """The profile's local login service (started if needed); None on non-local networks."""
    prof = _profiles.load_profile(name)
    if prof.network.kind != "local":
        return None
    with _service_lock:
        return ensure_service(prof.paths, port=int(prof.settings.login_port), network=prof.network.name)


def use_app_dir(name: str, path: str | Path) -> Path:
    """Take `path` (the modal-login app, or an rl-swarm checkout holding it) as the profile's sign-in
    app: it must be the app and no other profile's (the app keeps one account); only then saved."""
    d = modal_app.resolve_app_dir(path)
    with _app_lock:
        modal_app.check_not_shared(name, d)
        if str(d) != (_profiles.load_profile(name).settings.login_app or ""):
            modal_app.set_app_dir(name, d)
    return d


@dataclass(frozen=True)
class ClonePlan:
    """What cloning the official app would do, for the consent question."""

    repo: str
    commit: str
    dest: Path
    exists: bool  # cloned before: reused, nothing downloaded


def clone_plan(name: str) -> ClonePlan:
    dest = modal_app.default_clone_dir(name)
    repo, commit = modal_app.pinned_source()
    return ClonePlan(repo, commit, dest, dest.exists())


def clone_app(name: str, progress: Progress | None = None) -> Path:
    """Clone the official app at the pinned commit into the profile's default place (only after
    the user agreed), then take it as the profile's app (checked like use_app_dir)."""
    d = modal_app.clone_app(modal_app.default_clone_dir(name), progress=progress or _nop,
                            log_path=modal_app.log_file(_paths.ProfilePaths(name)))
    return use_app_dir(name, d)
