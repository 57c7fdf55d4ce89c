"""The login screen on the public testnet: the official modal-login app, driven from the TUI.

Neither the public testnet nor the official app (Next.js + Alchemy's hosted sign-in) can be reached
from test machines, so, as in the CLI's tests:
  * anvil started with chain id 685685 plays the testnet chain (our coordinator deployed there) and
    config.toml's [networks.gensyn-testnet] points rpc_url/coordinator at it;
  * tests/fixtures/modal-login-standin plays the official app: the same `yarn build` / `yarn start`
    scripts, .env key and temp-data/ files, its start script runs swarmdeck's own login service in
    app mode. Real yarn, real processes, real ports, real HTTP; the "browser" is the page's own API
    calls over HTTP;
  * for the clone path, a local git repository plays github.com/gensyn-ai/rl-swarm (the real clone
    goes through the same git commands, only the URL differs).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import Input

from core.identity import files as identity
from core.identity import signin
from core.config.settings import load_config
from core.login import modal_app
from core.base.paths import ProfilePaths
from tests.helpers.chain import chain_in
from tests.helpers.http import browser_sign_in
from tests.helpers.tui import FrozenTelemetry, flat_text, screen_text, until
from tui.app import make_app
from tui.screens.backup import BackupScreen
from tui.screens.dialogs import ConfirmScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen

STANDIN = Path(__file__).resolve().parents[1] / "fixtures" / "modal-login-standin"
NAME = "tn"


@pytest.fixture(scope="module")
def testnet(tmp_path_factory):
    """anvil as the gensyn testnet (chain id 685685) with our coordinator."""
    with chain_in(tmp_path_factory.mktemp("tnhome"), network="tnchain", chain_id=685685) as c:
        yield c


class Clock:
    def __init__(self, t: float = 1_790_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _app_processes(*roots: Path) -> list[str]:
    """`modal_login_standin` processes (and their yarn/sh parents) running in one of our dirs
    (other tests on this machine may run their own)."""
    r = subprocess.run(["pgrep", "-af", "modal_login_standin"], capture_output=True, text=True, check=False)
    out = []
    for line in r.stdout.splitlines():
        pid = line.split()[0]
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if any(cwd.startswith(str(root)) for root in roots):
            out.append(line)
    return out


@pytest.fixture
def tn(testnet, profiles, tmp_path, monkeypatch, isolated_home):
    """A testnet profile whose login port is taken (so the app must say which port it got), the
    stand-in app copied to tmp_path/modal-login; stops the app and checks no process is left."""
    cfg = load_config()
    import tomlkit

    nets = cfg.doc.get("networks")
    if nets is None:
        nets = tomlkit.table(is_super_table=True)
        cfg.doc["networks"] = nets
    tbl = tomlkit.table()
    tbl.add("rpc_url", testnet.rpc_url)
    tbl.add("coordinator", testnet.coordinator)
    nets["gensyn-testnet"] = tbl
    cfg.save()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    profiles(NAME, network="gensyn-testnet", login_port=port)
    app_dir = tmp_path / "modal-login"
    shutil.copytree(STANDIN, app_dir)
    # the stand-in's start script runs `python -m tests.helpers.modal_login_standin`: this interpreter, with swarmdeck
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("LOGIN_RPC_URL", testnet.rpc_url)
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50123 192.0.2.10 22")
    monkeypatch.setenv("USER", "alice")
    paths = ProfilePaths(NAME)
    try:
        yield {"app_dir": app_dir, "busy_port": port, "paths": paths, "chain": testnet}
    finally:
        busy.close()
        modal_app.stop_app(paths)
        deadline = time.monotonic() + 10
        while _app_processes(tmp_path, isolated_home) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _app_processes(tmp_path, isolated_home) == []
        assert modal_app.running_app(paths) is None


def _slow_build(app_dir: Path) -> None:
    """Make the copy's build take a few seconds and print a line first, as a real `next build`
    does for minutes: long enough to see the step and its output on the screen."""
    pkg = json.loads((app_dir / "package.json").read_text())
    # coloured, as Next.js prints it: the screen shows the text, never the escape codes
    pkg["scripts"]["build"] = ("printf '\\033[32mstand-in build:\\033[39m compiling pages\\n' && sleep 3 && "
                               + pkg["scripts"]["build"])
    (app_dir / "package.json").write_text(json.dumps(pkg, indent=2))


def _private_keys(paths: ProfilePaths) -> list[str]:
    keys = identity.read_user_api_keys(paths.identity_dir) or {}
    return [e["privateKey"] for entries in keys.values() for e in entries if e.get("privateKey")]


@pytest.mark.timeout(180)
async def test_testnet_app_is_built_started_and_followed_to_activation(tn):
    paths, app_dir = tn["paths"], tn["app_dir"]
    _slow_build(app_dir)
    modal_app.set_app_dir(NAME, modal_app.resolve_app_dir(app_dir))
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        scr = app.screen
        assert scr.official
        # the build: its step in progress, the steps before it done, its latest output line under it
        await until(pilot, lambda: "… Building the app (yarn build)" in flat_text(app)
                    and "stand-in build: compiling pages" in flat_text(app), 60, "the build step", app)
        text = flat_text(app)
        assert "[32m" not in text and "\x1b" not in text
        assert f"✔ Set SWARM_CONTRACT_ADDRESS={tn['chain'].coordinator} in the app's .env" in text
        assert "✔ Installing the app's packages (yarn install" in text
        assert "▀" not in screen_text(app)  # no QR code for a page that does not exist yet
        # started: the URL is the port the app said it listens on (the profile's port is taken)
        await until(pilot, lambda: scr.phase == "wait" and "Waiting for the sign-in" in flat_text(app), 60,
                    "the app to run", app)
        info = modal_app.running_app(paths)
        assert info is not None and info.port != tn["busy_port"]
        assert scr.port == info.port and scr.url == f"http://localhost:{info.port}"
        assert scr.seen_steps[:5] == ["env", "install", "build", "start", "url"]
        text = screen_text(app)
        assert f"http://localhost:{info.port}" in text and "▀" in text
        assert f"ssh -L {info.port}:localhost:{info.port} alice@192.0.2.10" in text
        assert (app_dir / ".env").read_text().count(tn["chain"].coordinator) == 1

        # the browser sign-in: files picked up into the profile (0600), then activated
        user = browser_sign_in(info.url, "ada@example.org")
        await until(pilot, lambda: scr.phase == "done" and "Done. Press Enter to continue." in flat_text(app), 30,
                    "activation on the screen", app)
        text = screen_text(app)
        assert "✔ Session key activated" in text and "✔ Signed in as ada@example.org" in text
        assert scr.status == "activated"
        assert scr.seen_steps[5:] == ["wait_files", "files", "wait_activation", "activated"]
        for f in ("userData.json", "userApiKey.json"):
            assert (paths.identity_dir / f).stat().st_mode & 0o777 == 0o600, f
        login = identity.read_login(paths.identity_dir)
        assert login.org_id == user["orgId"] and login.activated and login.api_public_key == user["publicKey"]
        assert not any(k in text for k in _private_keys(paths))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup warning", app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), 10, "the dashboard", app)

        # later the chain refuses the key: "sign in again" waits for a NEW key, not the one on disk
        signin.mark_required(NAME, "session key missing or not activated (HTTP 500 api key not found)")
        app.open_login(NAME)
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen again", app)
        scr2 = app.screen
        await until(pilot, lambda: scr2.phase == "wait" and "wait_files" in scr2.seen_steps, 30, "waiting again", app)
        assert scr2.port == info.port and "build" not in scr2.seen_steps  # same app, nothing rebuilt
        await pilot.pause(2.0)
        assert scr2.phase == "wait" and "files" not in scr2.seen_steps, "the refused key counted as a sign-in"
        again = browser_sign_in(info.url, "ada@example.org")
        assert again["orgId"] == user["orgId"] and again["publicKey"] != user["publicKey"]
        await until(pilot, lambda: scr2.phase == "done", 30, "activation of the new key", app)
        assert identity.read_login(paths.identity_dir).api_public_key == again["publicKey"]
        assert signin.required(NAME) is None
        assert modal_app.running_app(paths).pid == info.pid  # the app ran on for the node throughout
        await pilot.press("escape")
        await pilot.pause()


@pytest.mark.timeout(120)
async def test_testnet_without_an_app_dir_asks_for_the_path(tn, tmp_path):
    paths, app_dir = tn["paths"], tn["app_dir"]
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        scr = app.screen
        await pilot.pause()
        text = flat_text(app)
        assert scr.phase == "none" and "signs in with the official modal-login app" in text
        assert "press c to let swarmdeck clone" in text and "swarmdeck profile import PATH -p tn" in text
        assert "▀" not in screen_text(app)
        # c asks first; "no" clones nothing
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the clone question", app)
        text = flat_text(app)
        assert modal_app.REPO_URL in text and modal_app.PINNED_COMMIT[:8] in text
        await pilot.press("n")
        await until(pilot, lambda: app.screen is scr, 10, "back on the login screen", app)
        assert scr.phase == "none" and not modal_app.default_clone_dir(NAME).exists()
        # a path that does not exist: what and the fix, inline; nothing saved
        await pilot.press("tab")
        assert app.focused is scr.query_one("#app-path", Input)
        await pilot.press(*str(tmp_path / "missing"))
        await pilot.press("enter")  # checked and saved in the worker
        await until(pilot, lambda: scr.phase == "none" and "does not exist" in flat_text(app), 10, "the path refused", app)
        text = flat_text(app)
        assert "✗" in text and "does not exist" in text and "Fix: give the modal-login directory" in text
        assert load_config().profile_settings(NAME).login_app == ""
        assert app.focused is scr.query_one("#app-path", Input)  # back in the field, to mend the path
        # a directory that is not the app
        (tmp_path / "empty").mkdir()
        scr.query_one("#app-path", Input).value = str(tmp_path / "empty")
        await pilot.press("enter")
        await until(pilot, lambda: scr.phase == "none" and "is not the modal-login app (no package.json)" in flat_text(app),
                    10, "the directory refused", app)
        assert scr.phase == "none" and load_config().profile_settings(NAME).login_app == ""
        # the app's parent (an "rl-swarm checkout") is fine: its modal-login/ is used and remembered
        scr.query_one("#app-path", Input).value = str(app_dir.parent)
        await pilot.press("enter")
        await until(pilot, lambda: scr.phase == "wait", 60, "the app to run", app)
        assert load_config().profile_settings(NAME).login_app == str(app_dir)
        info = modal_app.running_app(paths)
        assert info is not None and scr.url == info.url and info.url in screen_text(app)
        assert scr.seen_steps[:5] == ["env", "install", "build", "start", "url"]
        await pilot.press("escape")
        await pilot.pause()


def _fake_upstream(repo: Path, app_dir: Path) -> tuple[Path, str]:
    """A local repository that plays github.com/gensyn-ai/rl-swarm: modal-login/ at the commit
    returned, and a later commit on top (the clone must take the pinned one, not the tip)."""
    shutil.copytree(app_dir, repo / "modal-login")
    (repo / "README.md").write_text("rl-swarm stand-in\n")
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", "-C", str(repo)]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "stand-in"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    (repo / "README.md").write_text("a later commit: not the pinned one\n")
    subprocess.run([*git, "commit", "-qam", "later"], check=True)
    return repo, commit


@pytest.mark.timeout(120)
async def test_testnet_clone_after_consent_then_starts(tn, tmp_path, monkeypatch):
    paths = tn["paths"]
    repo, commit = _fake_upstream(tmp_path / "rl-swarm", tn["app_dir"])
    monkeypatch.setattr(modal_app, "REPO_URL", str(repo))
    monkeypatch.setattr(modal_app, "PINNED_COMMIT", commit)
    dest = modal_app.default_clone_dir(NAME)
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        scr = app.screen
        await pilot.pause()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the clone question", app)
        text = flat_text(app)
        assert f"at commit {commit[:8]} into" in text and "official sign-in app" in text
        assert str(repo) in app.screen.question and str(dest) in app.screen.question  # wrapped on screen
        assert not dest.exists()  # nothing before the yes
        await pilot.press("y")
        await until(pilot, lambda: scr.phase == "wait", 90, "the cloned app to run", app)
        assert scr.seen_steps[:6] == ["clone", "env", "install", "build", "start", "url"]
        assert (dest / "modal-login" / "package.json").is_file()
        assert (dest / "README.md").read_text() == "rl-swarm stand-in\n"  # the pinned commit, not the tip
        assert load_config().profile_settings(NAME).login_app == str(dest / "modal-login")
        info = modal_app.running_app(paths)
        assert info is not None and info.app_dir == str(dest / "modal-login") and info.url in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()


@pytest.mark.timeout(120)
async def test_testnet_app_failure_shows_the_fix_and_r_retries(tn):
    """A build that fails: the step gets ✗, the error says what, where (the log) and the fix; r
    after fixing it builds again and starts the app."""
    paths, app_dir = tn["paths"], tn["app_dir"]
    pkg_path = app_dir / "package.json"
    good = pkg_path.read_text()
    pkg = json.loads(good)
    pkg["scripts"]["build"] = "echo 'Type error: cannot find module next' && exit 1"
    pkg_path.write_text(json.dumps(pkg, indent=2))
    modal_app.set_app_dir(NAME, modal_app.resolve_app_dir(app_dir))
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        scr = app.screen
        await until(pilot, lambda: scr.phase == "error", 60, "the build failure", app)
        text = flat_text(app)
        assert "✗ Building the app (yarn build)" in text and "failed in" in text
        assert "Type error: cannot find module next" in text and "login-app.log" in text
        assert "Fix: read the log" in text and "Press r to try again." in text
        assert modal_app.running_app(paths) is None
        pkg_path.write_text(good)
        await pilot.press("r")
        await until(pilot, lambda: scr.phase == "wait", 60, "the app to run after r", app)
        assert scr.error is None and "Press r to try again." not in flat_text(app)
        assert modal_app.running_app(paths) is not None
        await pilot.press("escape")
        await pilot.pause()
