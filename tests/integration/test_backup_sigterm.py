"""A backup interrupted by SIGTERM in a real process (moved from tests/unit: it starts a process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from core.identity import files as identity
from core.identity import profiles


FAST = 2**14


PW = "correct horse battery"


REPO = Path(__file__).resolve().parents[2]


def _signed_in(name: str):
    prof = profiles.create_profile(name)
    identity.write_user_data(prof.paths.identity_dir, "org-1", "0xA", "u-1", "me@example.org")
    identity.append_user_api_key(prof.paths.identity_dir, "org-1",
                                 {"publicKey": "0xP", "privateKey": "0xSECRETKEY", "createdAt": "t", "activated": True})
    return prof


def _files(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def test_sigterm_during_backup_removes_partial(tmp_path):
    prof = _signed_in("main")
    live = _files(prof.paths.identity_dir)
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
    assert _files(prof.paths.identity_dir) == live  # original untouched
