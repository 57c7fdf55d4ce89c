"""The login page in headless Chromium, and `swarmdeck login` end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.identity import files as identity
from core.login.service import LoginService, ServiceThread, running_service, stop_service
from core.base.paths import ProfilePaths

from tests.helpers.http import CHROMIUM, CHROMIUM_ARGS, http

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium missing (just setup installs it)")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _free_port() -> int:
    from core.chain.devnet import free_port

    return free_port()


def _sign_in_in_browser(browser, url: str, email: str, shot: Path | None = None) -> None:
    page = browser.new_page()
    try:
        page.goto(url)
        assert page.title().startswith("swarmdeck")
        assert page.get_by_label("Email").is_visible()
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("body[data-state=activated]", timeout=20_000)
        assert "session key activated" in page.inner_text("#done").lower()
        assert email.strip() in page.inner_text("#d-email")
        if shot:
            page.screenshot(path=str(shot))
    finally:
        page.close()


def test_page_signs_in_and_writes_the_profile_files(browser, tmp_path):
    paths = ProfilePaths("web")
    with ServiceThread(LoginService(paths.identity_dir, port=_free_port())) as svc:
        page = browser.new_page()
        page.goto(svc.url)
        page.get_by_label("Email").fill("not-an-email")
        page.get_by_role("button", name="Sign in").click()
        assert "valid email" in page.inner_text("#status")
        assert not paths.user_data.exists()
        page.close()
        _sign_in_in_browser(browser, svc.url, "ada@example.org", tmp_path / "login.png")
        info = identity.read_login(paths.identity_dir)
        assert info is not None and info.activated and info.email == "ada@example.org"
        assert info.address.startswith("0x") and info.api_private_key
        for f in (paths.user_data, paths.user_api_key):
            assert oct(f.stat().st_mode & 0o777) == "0o600", f
        st, text = http(f"{svc.url}/api/get-api-key-status?orgId={info.org_id}")
        assert st == 200 and text == "activated"
        # the same email again: same account, a fresh session key that is the live one
        _sign_in_in_browser(browser, svc.url, "ADA@example.org ")
        again = identity.read_login(paths.identity_dir)
        assert again.org_id == info.org_id and again.api_public_key != info.api_public_key and again.activated
        # a different email on a signed-in profile is refused, files untouched
        before = paths.user_data.read_bytes()
        st, body = http(f"{svc.url}/api/login", {"email": "eve@example.org"})
        assert st == 409 and "another account" in body["error"]
        assert paths.user_data.read_bytes() == before
    # the EOA key is stored encrypted, never in the clear
    from core.login.accounts import AccountStore

    store = AccountStore("local")
    raw = store.accounts_file.read_text()
    assert store.private_key(info.org_id)[2:] not in raw
    assert oct(store.accounts_file.stat().st_mode & 0o777) == "0o600"


def test_login_command_prints_url_qr_ssh_line_and_waits(browser, monkeypatch):
    from core.identity.profiles import create_profile

    port = _free_port()
    create_profile("cli", network="local", login_port=port)
    paths = ProfilePaths("cli")
    env = dict(os.environ, SSH_CONNECTION="198.51.100.7 50123 192.0.2.10 22", USER="alice",
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "login", "-p", "cli", "--timeout", "90"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            if line.startswith("Waiting for sign-in"):
                break
        text = "".join(out)
        assert f"http://localhost:{port}" in text, text + proc.stderr.read() if proc.poll() is not None else text
        assert f"ssh -L {port}:localhost:{port} alice@192.0.2.10" in text
        assert "▀" in text or "▄" in text  # half-block QR
        svc = running_service(paths)
        assert svc is not None and svc.port == port
        import psutil

        listen = [c for c in psutil.Process(svc.pid).net_connections(kind="inet") if c.status == "LISTEN"]
        assert listen and all(c.laddr.ip == "127.0.0.1" for c in listen)
        _sign_in_in_browser(browser, f"http://localhost:{port}", "grace@example.org")
        rest, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Signed in as grace@example.org" in rest
        # second run: already signed in, the running service is reused
        done = subprocess.run([sys.executable, "-m", "tui.cli", "login", "-p", "cli"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "already signed in" in done.stdout
        log = (paths.log_dir / "login.log").read_text()
        api = identity.read_login(paths.identity_dir)
        assert api.api_private_key not in log and api.api_private_key[2:] not in log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stop_service(paths)
    assert running_service(paths) is None


def test_login_command_says_which_port_when_3000_is_taken(monkeypatch):
    import socket

    from core.identity.profiles import create_profile

    port = _free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    create_profile("busy", network="local", login_port=port)
    paths = ProfilePaths("busy")
    try:
        r = subprocess.run([sys.executable, "-m", "tui.cli", "login", "-p", "busy", "--no-wait", "--no-qr"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        m = re.search(r"port (\d+) is in use, so it listens on port (\d+)", r.stdout)
        assert m and int(m.group(1)) == port and int(m.group(2)) > port
        assert "ssh -L" not in r.stdout
    finally:
        stop_service(paths)
        blocker.close()
