"""Starting and stopping a profile's supervisor: the per-profile lock, detached start (double
fork, so it survives the caller, SSH hang-up and terminal close), foreground run, and stop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

from core.base import procs
from core.base.i18n import M
from core.base.errors import SupervisorError
from core.base.paths import ProfilePaths, ensure_private_dir
from core.supervisor.client import ControlClient, NotRunning, query_status
from core.supervisor.history import tail_file
from core.supervisor.probes import set_subreaper
from core.supervisor.settings import PROJECT_ROOT, SupervisorSettings
from core.supervisor.supervisor import Supervisor


class SupervisorLock:
    """flock on run_dir/supervisor.lock: exactly one supervisor per profile, released by the kernel on death."""

    def __init__(self, paths: ProfilePaths):
        self.paths = paths
        self.path = Path(paths.run_dir) / "supervisor.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        ensure_private_dir(Path(self.paths.run_dir).parent)
        ensure_private_dir(Path(self.paths.run_dir))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        procs.write_record(Path(self.paths.pid_file), procs.record_for(os.getpid(), profile=self.paths.name))
        return True

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.paths.pid_file)
            os.close(self.fd)
            self.fd = None


def supervisor_pid(paths: ProfilePaths) -> int | None:
    """pid of the live supervisor holding the profile's lock, else None (stale pid files are ignored)."""
    lock = Path(paths.run_dir) / "supervisor.lock"
    if not lock.exists():
        return None
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it
        except BlockingIOError:
            pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError, ValueError):
        return int(json.loads(Path(paths.pid_file).read_text())["pid"])
    return None


def run_foreground(profile: str, settings: SupervisorSettings | None = None, node_cmd: list[str] | None = None,
                   echo: bool = True, autostart: bool = True) -> int:
    """Run the supervisor in this process until stopped (systemd, tmux, `start --foreground`)."""
    paths = ProfilePaths(profile)
    lock = SupervisorLock(paths)
    if not lock.acquire():
        pid = supervisor_pid(paths)
        raise SupervisorError(M("err.sup.running", profile=profile, pid=str(pid)), where=str(paths.run_dir),
                              fix=M("err.sup.running_fix", profile=profile))
    set_subreaper()
    try:
        sup = Supervisor(profile, settings=settings, node_cmd=node_cmd, paths=paths, echo=echo)
        return asyncio.run(sup.serve(autostart=autostart))
    finally:
        lock.release()


def daemonize(profile: str) -> None:
    """Second half of the double fork: setsid, fork again, detach stdio, run. Never returns."""
    with contextlib.suppress(OSError):  # already a session leader when spawned with start_new_session
        os.setsid()
    if os.fork() > 0:
        os._exit(0)  # the intermediate exits at once; the supervisor is now an orphan of init/subreaper
    paths = ProfilePaths(profile)
    ensure_private_dir(paths.log_dir)
    os.chdir("/")
    devnull = os.open(os.devnull, os.O_RDWR)
    boot = os.open(paths.log_dir / "supervisor.boot.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.dup2(boot, 2)  # tracebacks at startup (bugs) land here, not on a terminal that may be gone
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = 1
    try:
        code = run_foreground(profile, echo=False)
    except SupervisorError as e:
        print(f"swarmdeck supervisor: {e}", file=sys.stderr)
        code = 3
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def spawn_detached(profile: str, wait: float = 15.0) -> dict:
    """Start a detached supervisor for the profile (or find the running one); return its status.

    The new process survives the caller's exit, SSH hang-up and terminal close.
    """
    paths = ProfilePaths(profile)
    st = query_status(paths, timeout=2.0)
    if st is not None:
        st["already_running"] = True
        return st
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    inter = subprocess.Popen([sys.executable, "-m", "core.supervisor", "--profile", profile, "--detach"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=env, close_fds=True, start_new_session=True)
    inter.wait(timeout=30)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        st = query_status(paths, timeout=1.0)
        if st is not None and (st.get("child_pid") or st.get("state") != "stopped"
                               or time.monotonic() > deadline - wait + 3):
            st["already_running"] = False  # a racing start may have won; either way one supervisor runs
            return st
        time.sleep(0.05)
    boot = tail_file(Path(paths.log_dir) / "supervisor.boot.log", 20)
    raise SupervisorError(M("err.sup.not_up", profile=profile, seconds=f"{wait:g}"),
                          where=str(Path(paths.log_dir) / "supervisor.boot.log"),
                          fix=M("err.sup.see_log", lines=" | ".join(boot[-3:]) if boot else "-"))


def stop_profile(profile: str, now: bool = False, timeout: float = 120.0) -> dict | None:
    """Stop a profile's node and its supervisor. None when nothing was running."""
    paths = ProfilePaths(profile)
    pid = supervisor_pid(paths)
    try:
        res = ControlClient(paths, timeout=5.0).stop(now=now, exit=True, timeout=timeout)
    except NotRunning:
        if pid is None:
            return None
        # alive but not answering (wedged): its SIGTERM handler stops the node gracefully
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        res = {"state": "stopped", "signalled": pid}
    except SupervisorError:
        if pid is None:
            raise
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        res = {"state": "stopped", "signalled": pid}
    deadline = time.monotonic() + 10
    while pid and time.monotonic() < deadline and supervisor_pid(paths) is not None:
        time.sleep(0.05)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.supervisor", description="swarmdeck supervisor for one profile")
    ap.add_argument("--profile", "-p", required=True)
    ap.add_argument("--detach", action="store_true", help="double-fork into the background")
    args = ap.parse_args(argv)
    if args.detach:
        daemonize(args.profile)
    try:
        return run_foreground(args.profile, echo=True)
    except SupervisorError as e:
        print(f"swarmdeck: {e}", file=sys.stderr)
        return 3
