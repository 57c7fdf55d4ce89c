"""Real OpenSSH servers in network namespaces, as the machines of a fleet (tests/helpers/netns.Machines).

Each "host" i gets:
  * a uid-0 alias user with its own HOME (the venv's python sits under root's 0700 home, so an ordinary
    user could not run it): `useradd -o -u 0 -g 0 -M -d HOME NAME`, `usermod -p '*' NAME` (sshd without
    PAM refuses a locked account); removed with `userdel -f` afterwards
  * its own ed25519 host key, and the test's client key in HOME/.ssh/authorized_keys
  * `sshd -D -e -f /dev/null` on 192.0.2.i:22 inside namespace i (no config file of the system's)
  * HOME/bin/swarmdeck: this checkout's CLI with that HOME's SWARMDECK_HOME and a fake node command
    (tests/helpers/fake_node.py; a profile whose name starts with "bad" gets a node that fails at once)

Everything is stopped and removed by close(), also after a failure.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.helpers.netns import ROOT, Machines, home_env
from tests.helpers.supervisor import FAKE_NODE, FAST_SUPERVISOR

SSHD = "/usr/sbin/sshd"


def cannot_run_sshd() -> str | None:
    if not Path(SSHD).exists():
        return "sshd is not installed (Debian: apt-get install openssh-server; `just setup` does it)"
    for tool in ("ssh", "ssh-keygen", "ssh-keyscan", "useradd", "userdel"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode != 0:
            return f"{tool} is not installed"
    return None


def keygen(path: Path, comment: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True,
                   capture_output=True, timeout=30)
    return path


def fingerprint(pub: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(pub)], capture_output=True, text=True, check=True).stdout.split()[1]


NODE_SWITCH = """#!/bin/sh
# profile names starting with "bad" get a node that fails at once (the supervisor gives up on it)
case "$2" in bad*) echo "scripted failure" >&2; exit 1;; esac
exec {py} {fake} "$@" {extra}
"""


class SshHost:
    def __init__(self, m: Machines, i: int, base: Path, tag: str, client_pub: Path, node_args: str = ""):
        self.m, self.i = m, i
        self.user = f"sdfl{tag}{i}"
        self.home = base / f"h{i}"
        self.addr = m.addr(i)
        (self.home / ".ssh").mkdir(parents=True, exist_ok=True)
        (self.home / "bin").mkdir(exist_ok=True)
        self.hostkey = keygen(base / f"hostkey{i}", f"host{i}")
        (self.home / ".ssh" / "authorized_keys").write_text(client_pub.read_text())
        os.chmod(self.home / ".ssh" / "authorized_keys", 0o600)
        node = self.home / "bin" / "node.sh"
        node.write_text(NODE_SWITCH.format(py=sys.executable, fake=FAKE_NODE, extra=node_args))
        node.chmod(0o755)
        env = home_env(self.home)
        env.update(SWARMDECK_NODE_CMD=f"{node} --profile {{profile}}",
                   SWARMDECK_DAEMON_SETTINGS=json.dumps({**FAST_SUPERVISOR, "max_quick_failures": 2}),
                   SWARMDECK_ALERT_CHECK_S="3600", LANG="C.UTF-8")
        keep = ("HOME", "SWARMDECK_", "XDG_", "PYTHONPATH", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "LANG")
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items() if k.startswith(keep))
        self.env = env
        self.swarmdeck = self.home / "bin" / "swarmdeck"
        self.swarmdeck.write_text(f"#!/bin/sh\n{exports}cd {shlex.quote(str(ROOT))}\n"
                                  f"exec {shlex.quote(sys.executable)} -m tui.cli \"$@\"\n")
        self.swarmdeck.chmod(0o755)
        self.proc: subprocess.Popen | None = None
        self.user_made = False

    def start(self) -> None:
        subprocess.run(["userdel", "-f", self.user], capture_output=True)
        subprocess.run(["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", str(self.home), "-s", "/bin/sh", self.user],
                       check=True, capture_output=True, timeout=30)
        self.user_made = True
        subprocess.run(["usermod", "-p", "*", self.user], check=True, capture_output=True, timeout=30)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        log = open(self.home / "sshd.log", "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.m.names[self.i - 1], SSHD, "-D", "-e", "-f", "/dev/null",
             "-o", f"ListenAddress={self.addr}:22", "-o", f"HostKey={self.hostkey}", "-o", "PidFile=none",
             "-o", "StrictModes=no", "-o", "UsePAM=no", "-o", f"AllowUsers={self.user}",
             "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
             "-o", f"AuthorizedKeysFile={self.home}/.ssh/authorized_keys", "-o", "MaxStartups=50",
             "-o", "MaxSessions=50"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def sd(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`swarmdeck ARGS` run on this host directly (inside its namespace), as its own user would."""
        return subprocess.run(["ip", "netns", "exec", self.m.names[self.i - 1], str(self.swarmdeck), *args],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def python(self, code: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.m.names[self.i - 1], sys.executable, "-c", code],
                              env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.user_made:
            subprocess.run(["userdel", "-f", self.user], capture_output=True, timeout=30)
            self.user_made = False


def ns_tool(path: Path, ns: str, tool: str, log: Path | None = None) -> Path:
    """A wrapper that runs `tool` inside namespace `ns` (for code that runs in the test's own namespace,
    e.g. the Pilot app, set as [fleet] ssh / ssh_keyscan); `log` records each call."""
    rec = f"echo \"$*\" >> {shlex.quote(str(log))}\n" if log else ""
    path.write_text(f"#!/bin/sh\n{rec}exec ip netns exec {shlex.quote(ns)} {tool} \"$@\"\n")
    path.chmod(0o755)
    return path
