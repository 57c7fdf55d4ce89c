"""`swarmdeck serve` in a real headless Chromium: the dashboard of two profiles renders and keys work;
requests without the URL token (or with a wrong one) get 404 and start no app process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from core.config.settings import load_config
from core.identity import profiles as prof
from tests.helpers.http import CHROMIUM, CHROMIUM_ARGS
from tests.helpers.wait import wait_until
from tui import serve

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium missing (just setup installs it)")
REPO = Path(__file__).resolve().parents[2]


def _profiles(*names: str) -> None:
    """Set-up profiles that need no sign-in (local web3: their own key) and no backup reminder."""
    cfg = load_config()
    if "default" in cfg.profile_names():
        cfg.remove_profile("default")
        cfg.set_current_profile("")
    if "tui" not in cfg.doc:
        cfg.doc["tui"] = {}
    cfg.doc["tui"]["backup_warning"] = False
    cfg.save()
    for n in names:
        prof.create_profile(n, backend="web3")
    prof.use_profile(names[0])


@pytest.fixture
def served(tmp_path):
    _profiles("alpha", "beta")
    # as over SSH: the server prints the `ssh -L` line to run on the laptop
    env = dict(os.environ, SWARMDECK_TUI_AUTO="0", PYTHONUNBUFFERED="1", SSH_CONNECTION="10.1.2.3 50000 10.9.8.7 22",
               USER="operator")
    out = open(tmp_path / "serve.out", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--port", "0"], cwd=REPO, env=env,
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: serve.state_file().exists() or proc.poll() is not None, 30, "serve.json written")
        assert proc.poll() is None, (tmp_path / "serve.out").read_text()
        info = json.loads(serve.state_file().read_text())
        yield proc, info["url"], tmp_path / "serve.out"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()


def _status(url: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_serve_prints_a_tokened_url_and_keeps_its_secret_private(served):
    proc, url, out = served
    assert url.startswith("http://127.0.0.1:") and len(url.rstrip("/").rsplit("/", 1)[1]) >= 40
    text = out.read_text()
    assert url in text                      # printed for the user (the QR too: segno's half blocks)
    assert "▀" in text or "▄" in text or "█" in text
    port = url.split(":")[2].split("/")[0]
    assert f"ssh -L {port}:localhost:{port} operator@10.9.8.7" in text
    assert oct(serve.state_file().stat().st_mode & 0o777) == "0o600"
    assert _status(url) == 200


def test_no_token_or_a_wrong_one_gets_nothing_and_starts_no_app(served):
    proc, url, _ = served
    base, token = url.rstrip("/").rsplit("/", 1)
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for path in ("/", "/ws", "/static/js/textual.js", f"/{wrong}/", f"/{wrong}/ws", f"/{wrong}/static/js/textual.js",
                 f"/{token[:8]}/", f"/x{token}/ws", "/?token=" + token):
        assert _status(base + path) == 404, path
    # a websocket upgrade without the token: 404 too, and no app process behind it
    for path in ("/ws", f"/{wrong}/ws"):
        assert _status(base + path, {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) == 404
    time.sleep(1.0)
    assert psutil.Process(proc.pid).children(recursive=True) == []
    # the token's own websocket from another site's page is refused as well
    assert _status(base + f"/{token}/ws", {"Origin": "http://evil.example", "Connection": "Upgrade",
                                           "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) == 403
    assert psutil.Process(proc.pid).children(recursive=True) == []


def _wait(page, cond, timeout: float, what: str) -> None:
    """Poll while Playwright runs its event loop (websocket frames arrive only during its calls)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        page.wait_for_timeout(100)


def test_dashboard_renders_in_chromium_and_a_key_switches_the_tab(served):
    from playwright.sync_api import sync_playwright

    proc, url, _ = served
    frames: list[str] = []

    def on_ws(ws):
        ws.on("framereceived", lambda data: frames.append(data if isinstance(data, str)
                                                         else data.decode("utf-8", "replace")))

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = b.new_page(viewport={"width": 1280, "height": 800})
            page.on("websocket", on_ws)
            page.goto(url)
            # the app draws its dashboard: tab labels of both profiles and the panels' titles
            _wait(page, lambda: "alpha" in "".join(frames) and "beta" in "".join(frames), 60,
                  "the dashboard's tabs in the browser")
            assert psutil.Process(proc.pid).children(recursive=True), "an app process runs for the page"
            _wait(page, lambda: "System" in "".join(frames), 30, "the dashboard's panels")
            page.click("#terminal")
            frames.clear()
            page.keyboard.press("2")   # the second tab: beta's dashboard becomes the visible one
            _wait(page, lambda: "beta" in "".join(frames), 20, "beta's tab after pressing 2")
            frames.clear()
            page.keyboard.press("?")   # the help screen lists the keys
            _wait(page, lambda: "Switch to profile N" in "".join(frames), 20, "the help screen (its key list)")
            page.screenshot(path=str(Path(os.environ.get("SWARMDECK_SHOTS", "/tmp")) / "swarmdeck-serve.png"))
        finally:
            b.close()


def test_a_public_bind_is_refused_unless_forced_with_a_warning(tmp_path):
    _profiles("alpha")
    env = dict(os.environ, SWARMDECK_TUI_AUTO="0")
    r = subprocess.run([sys.executable, "-m", "tui", "serve", "--host", "0.0.0.0", "--port", "0"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "refusing to serve" in r.stderr and "--force-public" in r.stderr
    assert "http://" not in r.stdout and not serve.state_file().exists()
    proc = subprocess.Popen([sys.executable, "-m", "tui", "serve", "--host", "0.0.0.0", "--port", "0", "--force-public",
                             "--no-qr"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_until(lambda: serve.state_file().exists() or proc.poll() is not None, 30, "serve.json written")
        url = json.loads(serve.state_file().read_text())["url"]
        assert _status(url) == 200 and _status(url.rstrip("/").rsplit("/", 1)[0] + "/") == 404
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert "WARNING: serving on 0.0.0.0" in err
    assert not serve.state_file().exists()  # removed on exit


def test_ctrl_c_ends_the_server_and_its_sessions(served):
    """A session open (its TUI process running), then SIGINT to the server alone: it exits within seconds,
    the session's TUI process with it, and the URL file is gone."""
    import asyncio

    import aiohttp

    proc, url, _ = served
    ws_url = "ws" + url[len("http"):] + "ws?width=100&height=30"

    async def session() -> list:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(ws_url) as ws:
                deadline = time.monotonic() + 30
                while not psutil.Process(proc.pid).children(recursive=True) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                kids = psutil.Process(proc.pid).children(recursive=True)
                await asyncio.sleep(3)  # the TUI is up
                os.kill(proc.pid, signal.SIGINT)
                async for _ in ws:  # drained until the server closes it
                    pass
                return kids

    kids = asyncio.run(session())
    assert kids, "a TUI process ran for the session"
    proc.wait(15)
    assert proc.returncode == 0
    wait_until(lambda: not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kids), 10,
               "the session's TUI process gone")
    assert not serve.state_file().exists()
