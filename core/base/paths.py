"""Every location swarmdeck reads or writes, in one place.

Tests point HOME / XDG_* (or SWARMDECK_HOME) at a temp dir; nothing else needs patching.
SWARMDECK_HOME, when set, roots config/, data/, logs/ under one directory (handy for
several independent installs on one machine and for tests).
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP = "swarmdeck"
PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")


def _root() -> Path | None:
    home = os.environ.get("SWARMDECK_HOME")
    return Path(home).expanduser() if home else None


def config_dir() -> Path:
    r = _root()
    return r / "config" if r else Path(platformdirs.user_config_dir(APP))


def config_file() -> Path:
    return config_dir() / "config.toml"


def data_dir() -> Path:
    r = _root()
    return r / "data" if r else Path(platformdirs.user_data_dir(APP))


def log_root() -> Path:
    r = _root()
    return r / "logs" if r else Path(platformdirs.user_log_dir(APP))


def profiles_dir() -> Path:
    return data_dir() / "profiles"


def archive_dir() -> Path:
    return data_dir() / "archive"


def network_dir(network: str) -> Path:
    """Shared state of one network (local chain state, deployment, login accounts)."""
    return data_dir() / "networks" / network


def runtime_dir() -> Path:
    """Sockets and pid files. Kept short: a Unix socket path must fit in 107 bytes."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK) and len(xdg) < 60:
        base = Path(xdg) / APP
    else:
        base = Path(tempfile.gettempdir()) / f"{APP}-{os.getuid()}"
    r = _root()
    if r is not None:
        # Distinct installs (and parallel tests) must not share sockets.
        import hashlib

        base = base / hashlib.sha1(str(r.resolve()).encode()).hexdigest()[:10]
    return base


def ensure_private_dir(path: Path) -> Path:
    """mkdir -p with 0700 on the leaf (and fix the mode if it exists)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


@dataclass(frozen=True)
class ProfilePaths:
    """The fixed layout of one profile directory (0700)."""

    name: str

    @property
    def root(self) -> Path:
        return profiles_dir() / self.name

    @property
    def identity_dir(self) -> Path:  # swarm.pem, userData.json, userApiKey.json (0600 each)
        return self.root / "identity"

    @property
    def swarm_pem(self) -> Path:
        return self.identity_dir / "swarm.pem"

    @property
    def user_data(self) -> Path:
        return self.identity_dir / "userData.json"

    @property
    def user_api_key(self) -> Path:
        return self.identity_dir / "userApiKey.json"

    @property
    def secrets_dir(self) -> Path:  # HF token, local EOA key (encrypted) ... (0700, files 0600)
        return self.root / "secrets"

    @property
    def state_file(self) -> Path:  # profile state: backup verified at, downshift steps, ...
        return self.root / "state.json"

    @property
    def queue_dir(self) -> Path:  # persisted on-chain submission queue
        return self.root / "queue"

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def events_file(self) -> Path:  # persisted typed events (JSON lines)
        return self.root / "events.jsonl"

    @property
    def node_lock(self) -> Path:
        return self.root / "node.lock"

    @property
    def log_dir(self) -> Path:
        return log_root() / self.name

    @property
    def run_dir(self) -> Path:
        return runtime_dir() / self.name

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "supervisor.pid"
