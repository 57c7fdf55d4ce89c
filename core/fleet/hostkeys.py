"""First contact with a host: read its key (ssh-keyscan), show the fingerprint, remember it in OUR known_hosts.

A host already in our known_hosts whose key now differs is refused loudly (never replaced here).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.base.i18n import M
from core.config.settings import FleetSettings
from core.fleet.registry import FleetError, FleetHost, ssh_config_file
from core.fleet.ssh import Ssh


@dataclass(frozen=True)
class ScannedKey:
    line: str          # the known_hosts line ("host keytype base64")
    keytype: str
    fingerprint: str   # SHA256:...


def resolve(ssh: Ssh) -> tuple[str, int]:
    """The real host name and port of a target (an ~/.ssh/config alias resolved by `ssh -G`)."""
    argv = [ssh.settings.ssh, "-F", str(ssh_config_file(ssh.settings.user_ssh_config)), "-G"]
    if ssh.target.port:
        argv += ["-p", str(ssh.target.port)]
    r = subprocess.run([*argv, "--", ssh.target.destination()], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    host, port = ssh.target.host, ssh.target.port or 22
    for line in r.stdout.splitlines():
        k, _, v = line.partition(" ")
        if k == "hostname" and v:
            host = v.strip()
        elif k == "port" and v.strip().isdigit():
            port = int(v)
    return host, port


def known_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


def fingerprint(line: str) -> str:
    r = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=line + "\n", capture_output=True, text=True, timeout=10)
    parts = r.stdout.split()
    return parts[1] if len(parts) > 1 else "?"


def scan(ssh: Ssh) -> list[ScannedKey]:
    host, port = resolve(ssh)
    argv = [ssh.settings.ssh_keyscan, "-T", str(max(1, int(ssh.timeout))), "-p", str(port), "-t", "ed25519,ecdsa,rsa",
            host]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=ssh.timeout + 5, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        r = None
    except FileNotFoundError:
        raise FleetError(M("fleet.keyscan_missing", program=ssh.settings.ssh_keyscan), where="[fleet] ssh_keyscan",
                         fix=M("fleet.keyscan_missing_fix")) from None
    keys = []
    for line in (r.stdout if r else "").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        f = line.split()
        if len(f) >= 3:
            std = f"{known_name(host, port)} {f[1]} {f[2]}"
            keys.append(ScannedKey(std, f[1], fingerprint(std)))
    if not keys:
        raise FleetError(M("fleet.no_host_key", where=ssh.where, host=host, port=port),
                         where=ssh.where, fix=M("fleet.no_host_key_fix"))
    return keys


def known_keys(known_hosts: Path, host: str, port: int) -> list[str]:
    """The key blobs our known_hosts holds for host:port."""
    name = known_name(host, port)
    out = []
    for line in Path(known_hosts).read_text().splitlines() if Path(known_hosts).exists() else []:
        f = line.split()
        if len(f) >= 3 and name in f[0].split(","):
            out.append(f[2])
    return out


def check_changed(ssh: Ssh, scanned: list[ScannedKey]) -> bool:
    """True when the host is known already (and matches); raises the loud error when its key changed."""
    host, port = resolve(ssh)
    known = known_keys(ssh.known_hosts, host, port)
    if not known:
        return False
    if any(k.line.split()[2] in known for k in scanned):
        return True
    raise FleetError(M("fleet.key_changed_scan", dest=known_name(host, port),
                       offered=", ".join(f"{k.keytype} {k.fingerprint}" for k in scanned)),
                     where=str(ssh.known_hosts),
                     fix=M("fleet.key_changed_scan_fix", dest=known_name(host, port), path=str(ssh.known_hosts)))


def temp_known_hosts(existing: Path, lines: list[str]) -> Path:
    """A private copy of our known_hosts plus the new key lines: add's checks run against it, and only a
    host that passes all of them gets its key into the real file."""
    fd, name = tempfile.mkstemp(prefix="known_hosts.", dir=str(Path(existing).parent))
    with open(fd, "w") as f:
        f.write(Path(existing).read_text() if Path(existing).exists() else "")
        f.write("".join(ln + "\n" for ln in lines))
    return Path(name)


def remember(known_hosts: Path, lines: list[str]) -> None:
    from core.base.fsutil import atomic_write_text

    old = Path(known_hosts).read_text() if Path(known_hosts).exists() else ""
    new = [ln for ln in lines if ln not in old.splitlines()]
    if new:
        atomic_write_text(Path(known_hosts), old + "".join(ln + "\n" for ln in new))


__all__ = ["ScannedKey", "scan", "check_changed", "remember", "temp_known_hosts", "resolve", "FleetHost",
           "FleetSettings"]
