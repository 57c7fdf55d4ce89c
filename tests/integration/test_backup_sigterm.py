"""A backup interrupted by SIGTERM in a real process (moved from tests/unit: it starts a process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.identity import files as identity
from core.identity import profiles
from tests.helpers.identity import files, signed_in


FAST = 2**14


PW = "correct horse battery"


REPO = Path(__file__).resolve().parents[2]




def test_sigterm_during_backup_removes_partial(tmp_path):
    prof = signed_in("main")
    live = files(prof.paths.identity_dir)
    out = tmp_path / "out"
    out.mkdir()
    code = f"""
import sys, time
from core.identity import backup
def progress(msg):
    print(msg, flush=True)
    if msg == "encrypting":
        time.sleep(30)  # the test sends SIGTERM here, with the partial archive on disk
backup.create_backup("main", {str(out)!r}, {PW!r}, scrypt_n={FAST}, progress=progress)
print("finished", flush=True)
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env=os.environ.copy())
    try:
        while True:
            line = proc.stdout.readline()
            assert line, "backup process ended early"
            if line.strip() == "encrypting":
                break
        assert any(p.name.endswith(".partial") for p in out.iterdir())
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []  # the partial archive was removed
    assert files(prof.paths.identity_dir) == live  # original untouched
