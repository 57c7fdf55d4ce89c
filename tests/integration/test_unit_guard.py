"""The tests/unit guard (tests/unit/conftest.py) refuses a process and fails the test that tried."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

GUARD = Path(__file__).resolve().parents[1] / "unit" / "conftest.py"
SPAWNING = '''
import subprocess, sys

def test_swallows_the_error():
    try:
        subprocess.run([sys.executable, "-c", "pass"])
    except Exception:
        pass

def test_pure():
    assert 1 + 1 == 2
'''


def test_a_unit_test_that_spawns_a_process_fails(tmp_path):
    shutil.copy(GUARD, tmp_path / "conftest.py")
    (tmp_path / "test_spawns.py").write_text(SPAWNING)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, timeout=120,
                       cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "test_swallows_the_error" in out and "tried to start a process" in out and "1 error" in out, out
