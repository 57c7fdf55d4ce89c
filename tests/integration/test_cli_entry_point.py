"""The console entry point as a real process (moved from tests/unit: it starts processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]


def test_console_entry_point_runs(tmp_path):
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "tui", "status", "--json"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["current_profile"] == "default"
    r = subprocess.run([sys.executable, "-m", "tui", "profile", "new", "../x"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "not a valid profile name" in r.stderr
