"""The fleet's transport: the system OpenSSH client, keys only, one multiplexed connection per host.

Every call runs `ssh -F <our ssh_config>` with the options below given on the command line (they win over
any config file): BatchMode (never a password prompt), our own known_hosts with StrictHostKeyChecking=yes
(a changed key is refused), no agent or X11 forwarding, no port forwarding. The first call to a host opens
a ControlMaster in the background (`ssh -f -N -M`, socket in a 0700 dir of ours, ControlPersist); later
calls ride on it (a status query costs one channel, not a TCP + key exchange). No port is opened anywhere.

ssh's own failures (exit 255) become FleetError with what / where / fix; the remote command's exit code
is the caller's business.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from core.base.i18n import M
from core.config.settings import FleetSettings
from core.fleet.registry import FleetError, FleetHost, Target, control_dir, known_hosts_file, parse_target, \
    ssh_config_file

SERVER_ALIVE_S = 5    # keepalive every 5 s, 2 missed = the connection is dead (a cut link is noticed in ~10 s)
_master_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Result:
    rc: int
    stdout: str
    stderr: str
    seconds: float


def remote_command_line(swarmdeck: str, args: list[str]) -> str:
    """The one string the remote shell gets: every word quoted. `~/x` keeps its meaning as "$HOME"/x."""
    if swarmdeck.startswith("~/"):
        head = '"$HOME"/' + shlex.quote(swarmdeck[2:])
    else:
        head = shlex.quote(swarmdeck)
    return " ".join([head, *(shlex.quote(a) for a in args)])


class Ssh:
    def __init__(self, host: FleetHost, settings: FleetSettings | None = None, known_hosts: Path | None = None,
                 shared: bool = True):
        """shared=False: no ControlMaster (own connection per call). `fleet add` uses that: it must prove
        that THIS key logs in, not ride on a connection another key opened."""
        self.host = host
        self.shared = shared
        self.settings = settings or FleetSettings()
        self.target: Target = parse_target(host.target)
        self.known_hosts = Path(known_hosts) if known_hosts else known_hosts_file()
        self.timeout = float(self.settings.timeout_seconds)
        with _locks_guard:
            self._lock = _master_locks.setdefault(f"{host.name}:{host.target}", threading.Lock())

    @property
    def where(self) -> str:
        return f"fleet host {self.host.name} ({self.host.target})"

    def base_argv(self, control: bool = True) -> list[str]:
        s = self.settings
        control = control and self.shared
        opts = {
            "BatchMode": "yes", "PasswordAuthentication": "no", "KbdInteractiveAuthentication": "no",
            "PubkeyAuthentication": "yes", "UserKnownHostsFile": str(self.known_hosts),
            "GlobalKnownHostsFile": "/dev/null", "StrictHostKeyChecking": "yes", "UpdateHostKeys": "no",
            "ForwardAgent": "no", "ForwardX11": "no", "ClearAllForwardings": "yes",
            "ConnectTimeout": str(max(1, int(self.timeout))), "ServerAliveInterval": str(SERVER_ALIVE_S),
            "ServerAliveCountMax": "2", "LogLevel": "ERROR", "RequestTTY": "no",
        }
        if control:
            opts.update({"ControlPath": str(control_dir() / "%C"), "ControlMaster": "no"})
        else:
            opts["ControlPath"] = "none"
        if self.host.identity:
            opts["IdentitiesOnly"] = "yes"
        argv = [s.ssh, "-F", str(ssh_config_file(s.user_ssh_config))]
        for k, v in opts.items():
            argv += ["-o", f"{k}={v}"]
        if self.host.identity:
            argv += ["-i", os.path.expanduser(self.host.identity)]
        if self.target.port:
            argv += ["-p", str(self.target.port)]
        return argv

    def check_identity(self) -> None:
        if self.host.identity and not os.path.isfile(os.path.expanduser(self.host.identity)):
            raise FleetError(M("fleet.no_key_file", path=self.host.identity), where=f"--identity of {self.where}",
                             fix=M("fleet.no_key_file_fix"))

    # -- the shared connection
    def master_alive(self) -> bool:
        r = subprocess.run([*self.base_argv(), "-O", "check", "--", self.target.destination()],
                           capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
        return r.returncode == 0

    def open_master(self) -> None:
        """Open the host's ControlMaster unless one answers. Raises FleetError (unreachable, auth, host key)."""
        self.check_identity()
        if not self.shared:
            return
        with self._lock:
            if self.master_alive():
                return
            argv = self.base_argv()
            argv[argv.index("ControlMaster=no")] = "ControlMaster=yes"
            argv += ["-o", f"ControlPersist={int(self.settings.control_persist_seconds) or 'yes'}",
                     "-f", "-N", "--", self.target.destination()]
            # stderr to a file, not a pipe: the backgrounded master keeps it open for its whole life
            with tempfile.TemporaryFile("w+") as err:
                try:
                    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                       timeout=self.timeout + 5)
                    rc = r.returncode
                except subprocess.TimeoutExpired:
                    rc = -1
                err.seek(0)
                text = err.read()
            if rc != 0:
                raise self.explain(text, rc)

    def close_master(self) -> None:
        if not self.shared:
            return
        subprocess.run([*self.base_argv(), "-O", "exit", "--", self.target.destination()],
                       capture_output=True, timeout=5, stdin=subprocess.DEVNULL)

    # -- commands
    def run(self, args: list[str], timeout: float | None = None) -> Result:
        """`swarmdeck ARGS` on the host (the remote command line quoted word by word)."""
        self.open_master()
        argv = [*self.base_argv(), "-T", "--", self.target.destination(),
                remote_command_line(self.host.swarmdeck, args)]
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout or self.timeout,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FleetError(M("fleet.no_answer", where=self.where, seconds=f"{timeout or self.timeout:.0f}"),
                             where=self.where, fix=M("fleet.no_answer_fix")) from None
        dt = time.monotonic() - t0
        if r.returncode == 255:
            raise self.explain(r.stderr, 255)
        return Result(r.returncode, r.stdout, r.stderr, dt)

    def ping(self) -> float:
        """Seconds for one empty round trip over the shared connection (`true` on the host)."""
        self.open_master()
        argv = [*self.base_argv(), "-T", "--", self.target.destination(), "true"]
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise FleetError(M("fleet.no_answer", where=self.where, seconds=f"{self.timeout:.0f}"), where=self.where,
                             fix=M("fleet.no_answer_fix")) from None
        if r.returncode == 255:
            raise self.explain(r.stderr, 255)
        return time.monotonic() - t0

    def popen(self, args: list[str]) -> subprocess.Popen:
        """A streaming `swarmdeck ARGS` (events --follow): read its stdout line by line; terminate() to stop."""
        self.open_master()
        argv = [*self.base_argv(), "-T", "--", self.target.destination(),
                remote_command_line(self.host.swarmdeck, args)]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, bufsize=1)

    # -- errors
    def explain(self, stderr: str, rc: int) -> FleetError:
        """ssh's failure (exit 255) as what / where / fix. The text is ssh's own (no secret in it)."""
        e = stderr or ""
        low = e.lower()
        dest = self.target.destination() + (f" port {self.target.port}" if self.target.port else "")
        first = next((ln.strip() for ln in e.splitlines() if ln.strip() and not ln.startswith("@")), "")
        if "remote host identification has changed" in low or "host key for" in low and "has changed" in low:
            return FleetError(M("fleet.key_changed", name=self.host.name, dest=dest), where=f"{self.known_hosts}",
                              fix=M("fleet.key_changed_fix", name=self.host.name))
        if "host key verification failed" in low or "no matching host key" in low:
            return FleetError(M("fleet.key_unknown", dest=dest), where=str(self.known_hosts),
                              fix=M("fleet.key_unknown_fix", name=self.host.name, target=self.host.target))
        if "permission denied" in low:
            return FleetError(M("fleet.login_refused", dest=dest, detail=first), where=self.where,
                              fix=M("fleet.login_refused_fix"))
        if "connection refused" in low:
            return FleetError(M("fleet.conn_refused", dest=dest), where=self.where, fix=M("fleet.conn_refused_fix"))
        if "could not resolve hostname" in low or "name or service not known" in low:
            return FleetError(M("fleet.no_resolve", target=self.host.target), where=self.where,
                              fix=M("fleet.no_resolve_fix"))
        if any(x in low for x in ("timed out", "no route to host", "network is unreachable", "connection closed",
                                  "broken pipe", "connection reset", "timeout")) or rc == -1:
            return FleetError(M("fleet.unreachable", where=self.where, detail=first or "no answer"), where=self.where,
                              fix=M("fleet.unreachable_fix"))
        return FleetError(M("fleet.ssh_failed", dest=dest, detail=first or f"exit {rc}"), where=self.where,
                          fix=M("fleet.ssh_failed_fix", command=f"ssh {shlex.join(self.base_argv(control=False)[1:])} "
                                                                f"{self.target.destination()} true"))


def is_unreachable(e: FleetError) -> bool:
    return "unreachable" in e.what or "did not answer" in e.what
