"""End to end: `swarmdeck` in a real tmux pane (80x24): the backup warning, then the dashboard;
`s` starts the profile's node under a real supervisor and the pane shows its peer and finished
rounds; `q` closes the TUI, says the node keeps running, and it does.

The first test's node child is tests/helpers/fake_node.py (the supervisor's test stand-in that
speaks the node's event contract), so it runs in seconds without a model. The second runs on the
REAL local network (chain, a demo peer, the login service, a real node with the tiny model)
that swarmdeck brings up on its own: sign in over HTTP while the pane shows the login screen,
"remind later" on the backup warning, the node starts by itself, its peer and a finished round
show at 80x24; `q` leaves it running; then everything is stopped and checked gone.
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

from core.identity import files as identity
from core.base.paths import ProfilePaths


from tests.helpers.tui import rounds_charted
from tests.integration.daemon_support import Rig

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@pytest.fixture
def rig(monkeypatch):
    r = Rig(monkeypatch, name="main")
    r.configure("--rate", "2", "--round-every", "0.5")
    yield r
    leftovers = r.cleanup()
    assert not leftovers, f"processes survived the test: {leftovers}"


def _wait_pane(capture, pred, timeout: float, what: str) -> str:
    """Poll the tmux pane until pred(text) holds; fail with the pane's text."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = capture()
        if pred(text):
            return text
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; pane:\n{capture()}")


def _profile():
    from core.identity import profiles
    from core.config.settings import load_config

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
        return _wait_pane(capture, pred, timeout, what)

    env = {k: v for k, v in os.environ.items()}
    env["TERM"] = "xterm-256color"
    env.pop("COLORTERM", None)  # no truecolor: tmux's default
    env["SWARMDECK_TUI_AUTO"] = "0"  # this one starts the (fake) node itself with `s`; no local network
    try:
        subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "sd",
                               f"{sys.executable} -m tui"], cwd=ROOT, env=env, check=True)
        subprocess.run(tmux + ["set-option", "-t", "sd", "remain-on-exit", "on"], check=True)
        wait_for(lambda s: "Back up the identity of 'main'" in s, what="backup warning")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "Escape"], check=True)
        wait_for(lambda s: "No verified backup" in s and "Profiles" in s, what="dashboard")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "s"], check=True)
        text = wait_for(lambda s: "fake animal" in s and "QmFakemain" in s and rounds_charted(s) >= 2,
                        what="peer and finished rounds")
        assert "running" in text and "Round" in text
        subprocess.run(tmux + ["send-keys", "-t", "sd", "q"], check=True)
        text = wait_for(lambda s: "Nodes keep running" in s, what="quit note")
        time.sleep(0.5)
        st = rig.status()
        assert st["state"] == "running", st  # the node outlived the TUI
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def _tmux_session(sock: str, env: dict) -> tuple[list[str], callable]:
    tmux = ["tmux", "-L", sock]
    subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-x", "80", "-y", "24", "-s", "sd",
                           f"{sys.executable} -m tui"], cwd=ROOT, env=env, check=True)
    subprocess.run(tmux + ["set-option", "-t", "sd", "remain-on-exit", "on"], check=True)

    def capture() -> str:
        return subprocess.run(tmux + ["capture-pane", "-p", "-t", "sd"], capture_output=True, text=True).stdout

    return tmux, capture


@pytest.mark.timeout(300)
def test_swarmdeck_in_tmux_on_the_real_local_network():
    import core.supervisor as control
    from core.identity import profiles
    from core.chain.devnet import free_port
    from core.config.settings import load_config
    from core.login.service import running_service
    from tests.helpers.journey import TRAINING, small_local_network, stop_everything
    from tests.helpers.http import sign_in

    cfg = load_config()
    cfg.remove_profile("default")
    cfg.set_current_profile("")
    cfg.save()
    profiles.create_profile("main", network="local", model="tiny", login_port=free_port(), training=TRAINING)
    small_local_network(None)
    paths = ProfilePaths("main")
    ident = identity.load_or_create_swarm_pem(paths.swarm_pem)
    env = dict(os.environ, TERM="xterm-256color")
    env.pop("COLORTERM", None)
    env.pop("SWARMDECK_TUI_AUTO", None)
    sock = "sd-" + uuid.uuid4().hex[:8]
    tmux = None
    capture = None

    def wait_for(pred, timeout=40.0, what=""):
        return _wait_pane(capture, pred, timeout, what)

    try:
        tmux, capture = _tmux_session(sock, env)
        wait_for(lambda s: "Sign in: main" in s, what="login screen")
        deadline = time.monotonic() + 30
        while running_service(paths) is None:
            assert time.monotonic() < deadline, "the login service never started"
            time.sleep(0.3)
        url = running_service(paths).url
        wait_for(lambda s: url in s, what="login URL on screen")
        sign_in(url, "ada@example.org")
        wait_for(lambda s: "Session key activated" in s, what="activated")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "Enter"], check=True)
        wait_for(lambda s: "Back up the identity of 'main'" in s, what="backup warning")
        subprocess.run(tmux + ["send-keys", "-t", "sd", "Escape"], check=True)
        # the node starts by itself once the local network is up; its peer and finished rounds show
        text = wait_for(lambda s: ident.display_name in s and "running" in s and rounds_charted(s) >= 1,
                        timeout=220,
                        what="the node's display name and a finished round")
        print(text)  # the pane, for the log
        assert "Round" in text
        st = control.query_status(paths, timeout=2.0)
        assert st and st["state"] == "running", st
        subprocess.run(tmux + ["send-keys", "-t", "sd", "q"], check=True)
        wait_for(lambda s: "Nodes keep running" in s, what="quit note")
        time.sleep(1.0)
        st = control.query_status(paths, timeout=2.0)
        assert st and st["state"] == "running", st  # the node outlived the TUI
    finally:
        if tmux:
            subprocess.run(tmux + ["kill-server"], capture_output=True)
        leftovers = stop_everything(["main"])
    assert not leftovers, f"processes survived the test: {leftovers}"
