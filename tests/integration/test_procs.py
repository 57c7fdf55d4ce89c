"""core.base.procs with real processes: records, liveness (pid reuse guarded), stopping a group,
a SIGSTOPped one included, leaving nothing behind."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import psutil
import pytest

from core.base import procs

# A leader that starts a grandchild in its group. Both handle SIGTERM (as real services do; a
# default-action SIGTERM would end even a stopped process), or the leader ignores it (stubborn).
HANDLE = "import signal, sys; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))"
GROUP = HANDLE + r"""
import subprocess, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", HANDLE + "; import time; time.sleep(600)"])
print(child.pid, flush=True)
time.sleep(600)
"""


def _spawn(mode: str = "polite") -> tuple[subprocess.Popen, int]:
    p = subprocess.Popen([sys.executable, "-c", f"HANDLE = {HANDLE!r}\n" + GROUP, mode], stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    grandchild = int(p.stdout.readline())
    return p, grandchild


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _in_group(q: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(q.pid) == pgid
    except OSError:
        return False


@pytest.fixture
def cleanup():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        # stop_group must already have ended each group (zombies of reparented members aside:
        # reaping those is init's job, and they hold nothing)
        live = [q for q in psutil.process_iter(["pid"]) if _in_group(q, p.pid) and not _gone(q.pid)]
        assert live == []
        p.wait(5)


def test_record_roundtrip_is_private_and_keeps_extra_keys(tmp_path, cleanup):
    p, _ = _spawn()
    cleanup.append(p)
    rec = procs.record_for(p.pid, url="http://127.0.0.1:1", port=1)
    path = tmp_path / "run" / "x.json"
    procs.write_record(path, rec)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    back = procs.read_record(path)
    assert back == rec and back.get("url") == "http://127.0.0.1:1" and back.pgid == p.pid
    assert procs.alive(back)
    assert procs.stop_group(back, timeout=5)
    assert procs.read_record(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert procs.read_record(tmp_path / "bad.json") is None


def test_stop_group_ends_leader_and_grandchild(cleanup):
    p, gc = _spawn()
    cleanup.append(p)
    rec = procs.record_for(p.pid)
    t = time.monotonic()
    assert procs.stop_group(rec, timeout=5) is True
    assert time.monotonic() - t < 4  # SIGTERM sufficed
    assert _gone(p.pid) and _gone(gc)
    assert not procs.alive(rec)
    assert procs.stop_group(rec, timeout=1) is False  # nothing left to stop


def test_stop_group_kills_what_ignores_sigterm_after_the_timeout(cleanup):
    p, gc = _spawn("stubborn")
    cleanup.append(p)
    time.sleep(0.3)  # let it install its SIG_IGN
    rec = procs.record_for(p.pid)
    t = time.monotonic()
    assert procs.stop_group(rec, timeout=1.0)
    assert 0.9 <= time.monotonic() - t < 5
    assert _gone(p.pid) and _gone(gc)


def test_stop_group_continues_a_sigstopped_group(cleanup):
    p, gc = _spawn()
    cleanup.append(p)
    os.killpg(p.pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while psutil.Process(p.pid).status() != psutil.STATUS_STOPPED and time.monotonic() < deadline:
        time.sleep(0.02)
    rec = procs.record_for(p.pid)
    t = time.monotonic()
    assert procs.stop_group(rec, timeout=5)
    assert time.monotonic() - t < 4  # ended by SIGTERM once continued, not by the SIGKILL fallback
    assert _gone(p.pid) and _gone(gc)


def test_a_reused_pid_is_not_ours(tmp_path, cleanup):
    """A record whose start time does not match the live process is a pid the kernel reused."""
    p, _ = _spawn()
    cleanup.append(p)
    real = procs.record_for(p.pid)
    stale = procs.Record(pid=p.pid, pgid=p.pid, started=real.started - 1000.0)
    assert not procs.alive(stale)
    assert procs.stop_group(stale, timeout=1) is False
    assert procs.alive(real)  # untouched
    procs.stop_group(real, timeout=5)


def test_older_records_with_only_a_pid_still_read(tmp_path, cleanup):
    p, _ = _spawn()
    cleanup.append(p)
    (tmp_path / "old.json").write_text(f'{{"pid": {p.pid}, "url": "u"}}')
    rec = procs.read_record(tmp_path / "old.json")
    assert rec.pgid == p.pid and rec.started is None and rec.get("url") == "u"
    assert procs.alive(rec) and procs.stop_group(rec, timeout=5)
    assert _gone(p.pid)
