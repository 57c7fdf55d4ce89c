"""Linux network namespaces as machines for tests: three hosts on one bridge, TEST-NET-1 only.

    with Machines(prefix) as m:          # needs root (CAP_NET_ADMIN); see cannot_make_namespaces()
        m.run(1, ["swarm", "host", ...], home=h1)      # `swarmdeck ...` inside namespace 1
        m.python(2, "print(1)", home=h2)                 # a Python snippet inside namespace 2

Layout: namespaces PREFIX1..3 hold one veth each (eth0, 192.0.2.N/24, plus lo); their peers
sit on a bridge inside a fourth namespace PREFIXsw, so nothing touches the test machine's own
network and no route leads out (192.0.2.0/24 is TEST-NET-1, reserved for documentation).
On exit every process still inside the namespaces is killed (they are the test's own: the
host, supervisors, nodes, p2pd, anvil) and the namespaces are deleted, also after a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUBNET = "192.0.2"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def cannot_make_namespaces() -> str | None:
    """Why namespaces cannot be made here (None when they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN); run as root, as CI does"
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    probe = f"sdprobe{os.getpid() % 100000}"
    r = _ip("netns", "add", probe, check=False)
    if r.returncode != 0:
        return f"`ip netns add` failed: {r.stderr.strip()[:200]}"
    _ip("netns", "del", probe, check=False)
    return None


def home_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), SWARMDECK_HOME=str(home / "sd"), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_STATE_HOME=str(home / ".local/state"),
               PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", SWARMDECK_CPU_THREADS="1",
               TOKENIZERS_PARALLELISM="false")
    return env


class Machines:
    def __init__(self, prefix: str, n: int = 3):
        self.prefix, self.n = prefix, n
        self.names = [f"{prefix}{i}" for i in range(1, n + 1)]
        self.switch = f"{prefix}sw"

    def addr(self, i: int) -> str:
        return f"{SUBNET}.{i}"

    def __enter__(self) -> "Machines":
        try:
            _ip("netns", "add", self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for i, ns in enumerate(self.names, start=1):
                _ip("netns", "add", ns)
                _ip("link", "add", f"{self.prefix}v{i}", "netns", ns, "type", "veth", "peer", "name", f"p{i}",
                    "netns", self.switch)
                _ip("-n", self.switch, "link", "set", f"p{i}", "master", "br0")
                _ip("-n", self.switch, "link", "set", f"p{i}", "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "link", "set", f"{self.prefix}v{i}", "name", "eth0")
                _ip("-n", ns, "addr", "add", f"{self.addr(i)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def pids(self, i: int) -> list[int]:
        r = _ip("netns", "pids", self.names[i - 1], check=False)
        return [int(p) for p in r.stdout.split() if p.isdigit()]

    def cleanup(self) -> None:
        for ns in [*self.names, self.switch]:
            for _ in range(3):
                r = _ip("netns", "pids", ns, check=False)
                pids = [int(p) for p in r.stdout.split() if p.isdigit()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.5)
            _ip("netns", "del", ns, check=False)

    def run(self, i: int, args: list[str], home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """`swarmdeck ARGS` on machine i (its own HOME)."""
        return subprocess.run(["ip", "netns", "exec", self.names[i - 1], sys.executable, "-m", "tui.cli", *args],
                              env=home_env(home), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def python(self, i: int, code: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.names[i - 1], sys.executable, "-c", code],
                              env=home_env(home), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def sh(self, i: int, cmd: list[str]) -> str:
        return subprocess.run(["ip", "netns", "exec", self.names[i - 1], *cmd], capture_output=True, text=True,
                              timeout=30).stdout
