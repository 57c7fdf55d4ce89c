"""The host's keeper: keeps the host process (core.hosting.host.serve) up without systemd.

`python -m core.hosting keep NAME` (started detached by `swarmdeck swarm host`) runs `serve NAME`
in its own session and, when it dies (a crash, or its whole process group killed with -9),
starts it again after the node supervisor's backoff (core.supervisor.policy), giving up after
the same number of quick failures. serve's new run ends what the dead one left (anvil, the
bootnode) and starts its parts again from their saved state: same chain, same coordinator,
same bootnode identity.

The keeper is its own process group, so killing the host's group leaves it running. It writes
keeper.pid (runtime record) and keeper.json (state, restarts, last exit) in the swarm's dir.
SIGTERM: stop serve (it stops its parts), then exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.base import fsutil, procs
from core.base.constants import EXIT_CONFIG

log = logging.getLogger("swarmdeck.keeper")
STOP_TIMEOUT = 90.0


def keeper_record_file(name: str) -> Path:
    from core.hosting.host import host_dir

    return host_dir(name) / "keeper.pid"


def keeper_state_file(name: str) -> Path:
    from core.hosting.host import host_dir

    return host_dir(name) / "keeper.json"


def keeper_running(name: str) -> procs.Record | None:
    rec = procs.read_record(keeper_record_file(name))
    return rec if procs.alive(rec) else None


def read_state(name: str) -> dict:
    import json

    try:
        return json.loads(keeper_state_file(name).read_text())
    except (OSError, ValueError):
        return {}


def keep(name: str) -> int:
    from core.hosting.host import host_policy, log_file, record_file

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    other = keeper_running(name)
    if other is not None and other.pid != os.getpid():
        log.error("the keeper of swarm %s already runs (pid %s)", name, other.pid)
        return EXIT_CONFIG
    procs.write_record(keeper_record_file(name), procs.record_for(os.getpid()))
    policy = host_policy()
    restarts = 0
    last_exit: dict | None = None

    def state(word: str, **extra) -> None:
        fsutil.atomic_write_json(keeper_state_file(name), {"state": word, "pid": os.getpid(), "restarts": restarts,
                                                           "last_exit": last_exit, "at": time.time(), **extra})

    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    code = 0
    try:
        while not stop.is_set():
            logf = os.fdopen(os.open(log_file(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
            try:
                proc = subprocess.Popen([sys.executable, "-m", "core.hosting", "serve", name],
                                        stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, env=env,
                                        close_fds=True, start_new_session=True, cwd=root)
            finally:
                logf.close()
            started = time.monotonic()
            state("running", child_pid=proc.pid)
            while proc.poll() is None and not stop.wait(0.5):
                if policy.healthy(time.monotonic() - started):
                    log.info("host process healthy: failure count reset")
            if stop.is_set():
                procs.stop_group(procs.record_for(proc.pid, pgid=proc.pid), timeout=STOP_TIMEOUT)
                proc.poll()
                break
            rc, uptime = proc.returncode, time.monotonic() - started
            last_exit = {"code": rc if rc >= 0 else None, "signal": signal.Signals(-rc).name if rc < 0 else None,
                         "uptime": round(uptime, 1), "at": time.time()}
            if rc == EXIT_CONFIG:
                state("gave_up", reason=f"the host process stopped on an error a restart cannot fix (see {log_file(name)})")
                code = 1
                break
            delay = policy.exited(uptime)
            if delay is None:
                state("gave_up", reason=f"{policy.quick_failures} failures in a row (see {log_file(name)})")
                code = 1
                break
            log.warning("host process exited (%s); starting it again in %.1f s", last_exit, delay)
            # a host killed with -9 leaves its record: serve's successor checks it by start time, but drop it now
            with contextlib.suppress(FileNotFoundError):
                if not procs.alive(procs.read_record(record_file(name))):
                    record_file(name).unlink()
            state("crashed", next_restart_in=round(delay, 1))
            if stop.wait(delay):
                break
            restarts += 1
    finally:
        if stop.is_set():
            state("stopped")
        with contextlib.suppress(FileNotFoundError):
            keeper_record_file(name).unlink()
    return code
