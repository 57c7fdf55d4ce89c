"""The fleet's hosts and the files that go with them, all in one 0700 directory of ours.

    <config dir>/fleet/            0700
        hosts.json                 0600  [{name, target, identity, swarmdeck, added}]
        known_hosts                0600  the host keys the user confirmed (never ~/.ssh/known_hosts)
        ssh_config                 0600  our -F file (includes ~/.ssh/config when [fleet] user_ssh_config)
    <runtime dir>/fl/              0700  ControlMaster sockets (short path: a socket path fits in 107 bytes)

Nothing here is a secret (no key, no password: identity is a path), but the host list tells where a
user's machines are, so it is kept private all the same.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.base import paths as _paths
from core.base.errors import SwarmdeckError
from core.base.i18n import M
from core.base.fsutil import atomic_write_json, atomic_write_text

HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
# [user@]host[:port] or an ssh_config alias: no spaces, no shell or ssh option syntax
_TARGET_RE = re.compile(r"^(?:(?P<user>[A-Za-z0-9._][A-Za-z0-9._-]{0,31})@)?(?P<host>[A-Za-z0-9._-]{1,253}|\[[0-9A-Fa-f:.]+\])"
                        r"(?::(?P<port>[0-9]{1,5}))?$")
_PATH_RE = re.compile(r"^[A-Za-z0-9_./~+-]{1,512}$")


class FleetError(SwarmdeckError):
    pass


@dataclass(frozen=True)
class Target:
    user: str | None
    host: str
    port: int | None

    def destination(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host


def parse_target(text: str) -> Target:
    m = _TARGET_RE.match(text or "")
    if not m or m["host"].startswith("-"):
        raise FleetError(M("fleet.bad_target", target=text), where="SSH_TARGET", fix=M("fleet.bad_target_fix"))
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        raise FleetError(M("fleet.port_range", port=port), where=f"SSH_TARGET {text}", fix=M("fleet.port_range_fix"))
    return Target(m["user"], m["host"].strip("[]"), port)


def check_host_name(name: str) -> str:
    if not HOST_NAME_RE.match(name or ""):
        raise FleetError(M("fleet.bad_name", name=name), where="NAME", fix=M("fleet.bad_name_fix"))
    return name


def check_remote_path(path: str) -> str:
    """The remote swarmdeck command: a plain path or name (it goes on the remote command line)."""
    if not _PATH_RE.match(path or "") or path.startswith("-"):
        raise FleetError(M("fleet.bad_path", path=path), where="--swarmdeck", fix=M("fleet.bad_path_fix"))
    return path


@dataclass(frozen=True)
class FleetHost:
    name: str
    target: str                 # as the user wrote it: [user@]host[:port] or an alias
    identity: str | None = None  # path of the private key file on THIS machine (never read by us)
    swarmdeck: str = "swarmdeck"
    added: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def fleet_dir() -> Path:
    return _paths.ensure_private_dir(_paths.config_dir() / "fleet")


def control_dir() -> Path:
    return _paths.ensure_private_dir(_paths.runtime_dir() / "fl")


def hosts_file() -> Path:
    return fleet_dir() / "hosts.json"


def known_hosts_file() -> Path:
    f = fleet_dir() / "known_hosts"
    if not f.exists():
        atomic_write_text(f, "")
    return f


def ssh_config_file(include_user_config: bool = True) -> Path:
    """Our -F file. Options that matter for safety are also given with -o on every call (they win)."""
    f = fleet_dir() / "ssh_config"
    user = Path.home() / ".ssh" / "config"
    lines = ["# written by swarmdeck (core.fleet.registry): rewritten on every use; edit ~/.ssh/config instead",
             "Host *", "    ForwardAgent no", "    ForwardX11 no", "    ClearAllForwardings yes",
             "    PasswordAuthentication no", "    KbdInteractiveAuthentication no", ""]
    if include_user_config and user.is_file():
        lines.append(f"Include {user}")
    text = "\n".join(lines) + "\n"
    if not f.exists() or f.read_text() != text:
        atomic_write_text(f, text)
    return f


def load_hosts() -> list[FleetHost]:
    f = fleet_dir() / "hosts.json"
    if not f.exists():
        return []
    try:
        raw = json.loads(f.read_text())
        return [FleetHost(**{k: h[k] for k in FleetHost.__dataclass_fields__ if k in h}) for h in raw["hosts"]]
    except (ValueError, KeyError, TypeError) as e:
        raise FleetError(M("fleet.list_damaged", error=type(e).__name__), where=str(f),
                         fix=M("fleet.list_damaged_fix", path=str(f))) from None


def save_hosts(hosts: list[FleetHost]) -> None:
    atomic_write_json(hosts_file(), {"v": 1, "hosts": [h.to_dict() for h in hosts]})


def get_host(name: str) -> FleetHost:
    for h in load_hosts():
        if h.name == name:
            return h
    raise FleetError(M("fleet.no_host", name=name), where=str(hosts_file()), fix=M("fleet.no_host_fix"))


def add_host(host: FleetHost) -> None:
    hosts = [h for h in load_hosts() if h.name != host.name]
    save_hosts(hosts + [FleetHost(**{**host.to_dict(), "added": host.added or time.time()})])


def remove_host(name: str) -> FleetHost:
    hosts = load_hosts()
    gone = [h for h in hosts if h.name == name]
    if not gone:
        get_host(name)  # raises the clear error
    save_hosts([h for h in hosts if h.name != name])
    return gone[0]
