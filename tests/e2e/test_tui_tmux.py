"""End to end: `swarmdeck` in a real tmux pane (80x24): the backup warning, then the dashboard;
`s` starts the profile's node under a real supervisor and the pane shows its peer and finished
rounds; `q` closes the TUI, says the node keeps running, and it does.

The node child is tests/helpers/fake_node.py (the supervisor's test stand-in that speaks the
node's event contract), so this runs in seconds without a model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core import identity
from core.paths import ProfilePaths

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from daemon_support import Rig  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def rig(monkeypatch):
    r = Rig(monkeypatch, name="main")
    r.configure("--rate", "2", "--round-every", "0.5")
    yield r
    leftovers = r.cleanup()
    assert not leftovers, f"processes survived the test: {leftovers}"


def _profile():
    from core import profiles
    from core.config import load_config

    cfg = load_config()
    cfg.remove_profile("default")
    cfg.set_current_profile("")
    cfg.save()
    profiles.create_profile("main")
    idir = ProfilePaths("main").identity_dir
    identity.write_user_data(idir, "org-1", "0x" + "1" * 40, "user-1", "ada@example.org")
    identity.append_user_api_key(idir, "org-1", {"publicKey": "0x" + "2" * 40, "privateKey": "0x" + "3" * 64,
                                                 "createdAt": "2026-01-01T00:00:00Z", "activated": True})


def test_swarmdeck_in_tmux_dashboard_start_and_quit(rig):
    _profile()
    sock = "sd-" + uuid.uuid4().hex[:8]
    tmux = ["tmux", "-L", sock]

    def capture() -> str:
        return subprocess.run(tmux + ["capture-pane", "-p", "-t", "sd"], capture_output=True, text=True).stdout

    def wait_for(pred, timeout=40.0, what=""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = capture()
            if pred(text):
                return text
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; pane:\n{capture()}")

    env = {k: v for k, v in os.environ.items()}
    env["TERM"] = "xterm-256color"
    env.pop("COLORTERM", None)  # no truecolor: tmux's default
    try:
        subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "sd",
                               f"{sys.executable} -m tui"], cwd=ROOT, env=env, check=True)
        subprocess.run(tmux + ["set-option", "-t", "sd", "remain-on-exit", "on"], check=True)
        wait_for(lambda s: "Back up the identity of 'main'" in s, what="backup warning")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "Escape"], check=True)
        wait_for(lambda s: "No verified backup" in s and "Profiles" in s, what="dashboard")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "s"], check=True)
        text = wait_for(lambda s: "fake animal" in s and "QmFakemain" in s and " done" in s
                        and any(f"{n} done" in s for n in range(2, 200)), what="peer and finished rounds")
        assert "running" in text and "Round" in text
        subprocess.run(tmux + ["send-keys", "-t", "sd", "q"], check=True)
        text = wait_for(lambda s: "Nodes keep running" in s, what="quit note")
        time.sleep(0.5)
        st = rig.status()
        assert st["state"] == "running", st  # the node outlived the TUI
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
