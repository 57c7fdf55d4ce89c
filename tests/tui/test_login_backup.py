"""Login screen against the real local login service; backup + verify through the UI; warnings."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import urllib.request

from textual.widgets import Input

from core.chain.devnet import free_port
from core.login.service import running_service, stop_service
from core.base.paths import ProfilePaths
from tests.helpers.tui import FrozenTelemetry, assert_snapshot, flat_text, screen_text, write_events, until
from tui.backend import CoreBackend

data = CoreBackend()
from tui.app import make_app
from tui.screens.backup import BackupScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen


class Clock:
    def __init__(self, t: float = 1_790_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())




async def test_login_screen_follows_a_real_sign_in_to_registration(profiles, monkeypatch):
    port = free_port()
    profiles("main", network="local", login_port=port)
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50123 192.0.2.10 22")
    monkeypatch.setenv("USER", "alice")
    paths = ProfilePaths("main")
    clock = Clock()
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=clock)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            # first: not signed in (the start-up checks read the profile in a worker)
            await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
            scr = app.screen
            await until(pilot, lambda: running_service(paths) is not None and scr.port == port, what="service")
            url = f"http://localhost:{port}"
            text = screen_text(app)
            assert url in text and f"ssh -L {port}:localhost:{port} alice@192.0.2.10" in text
            assert "… Waiting for sign-in" in text and "▀" in text
            # stalls: after a minute of nothing, say what to do
            clock.t += 61
            scr.poll()
            await pilot.pause()
            assert f"If port {port} is busy" in flat_text(app)
            # the user signs in (the page's own API calls)
            acct = _post(f"{url}/api/login", {"email": "ada@example.org"})
            scr.poll()
            await pilot.pause()
            assert scr.status == "signed_in" and "activating the session key" in flat_text(app)
            key = _post(f"{url}/api/get-api-key", {"orgId": acct["orgId"]})["publicKey"]
            _post(f"{url}/api/set-api-key-activated", {"orgId": acct["orgId"], "apiKey": key})
            scr.poll()
            await pilot.pause()
            text = screen_text(app)
            assert scr.status == "activated" and "✔ Session key activated" in text
            assert "… Peer registered on chain" in text
            write_events("main", [("node.registered", {"peer_id": "QmX"})])
            scr.poll()
            await pilot.pause()
            assert scr.status == "registered" and "✔ Peer registered on chain" in screen_text(app)
            assert key not in screen_text(app)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup warning", app)
    finally:
        stop_service(paths)
    assert running_service(paths) is None


async def test_login_screen_snapshot(profiles, monkeypatch):
    profiles("main", network="local", login_port=3999)
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50123 192.0.2.10 2222")
    monkeypatch.setenv("USER", "alice")

    class NoService(CoreBackend):  # the snapshot shows the screen before the service answers (no process started)
        @staticmethod
        def ensure_login_service(name):
            return ("http://localhost:3999", 3999)

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock(), backend=NoService())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = assert_snapshot(app, "login_80x24")
        assert "ssh -L 3999:localhost:3999 -p 2222 alice@192.0.2.10" in text


async def test_backup_and_verify_through_the_ui(profiles, tmp_path):
    profiles("main")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock(), startup_flows=False)
    archive = tmp_path / "main.sdbk"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        assert any("No verified backup" in w for w in main.dashboard().warnings)
        await pilot.press("b")
        await pilot.pause()
        scr = app.screen
        assert isinstance(scr, BackupScreen)
        text = flat_text(app)
        assert "linked on chain to your sign-in" in text and "FOREVER" in text
        scr.query_one("#path", Input).value = str(archive)
        # typed twice, differently: refused, nothing written
        await pilot.press(*"correct horse 1")
        await pilot.press("enter")
        await pilot.press(*"correct horse 2")
        await pilot.press("enter")
        await pilot.pause()
        assert "differ" in flat_text(app) and not archive.exists()
        assert scr.query_one("#pass1", Input).value == ""  # passphrases never linger
        scr.query_one("#pass1", Input).value = "correct horse 1"
        scr.query_one("#pass2", Input).value = "correct horse 1"
        await pilot.press("ctrl+b")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert archive.exists() and scr.result_state == "verified"
        assert "Backup written and verified" in flat_text(app)
        assert data.backup_verified_at("main") is not None
        assert "correct horse" not in screen_text(app)
        # verify: wrong passphrase is a clear error, the right one passes
        scr.query_one("#pass1", Input).value = "wrong passphrase"
        await pilot.press("ctrl+k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "✗" in screen_text(app)
        scr.query_one("#pass1", Input).value = "correct horse 1"
        await pilot.press("ctrl+k")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Backup verified" in flat_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert not any("No verified backup" in w for w in main.dashboard().warnings)


async def test_remind_later_keeps_the_dashboard_warning(profiles):
    profiles("main")
    idir = ProfilePaths("main").identity_dir
    # signed in already (files as the login service writes them), but no backup yet
    from core.identity import files as identity

    identity.write_user_data(idir, "org-1", "0x" + "1" * 40, "user-1", "ada@example.org")
    identity.append_user_api_key(idir, "org-1", {"publicKey": "0x" + "2" * 40, "privateKey": "0x" + "3" * 64,
                                                 "createdAt": "2026-01-01T00:00:00Z", "activated": True})
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        # before the first registration
        await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup warning", app)
        await app.workers.wait_for_complete()  # the backup state is read in a worker
        await pilot.pause()
        assert_snapshot(app, "backup_80x24")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert "No verified backup" in screen_text(app)
        assert app.screen.states["main"] == "needs_backup"


async def test_duplicate_identity_and_loose_permissions_are_warned_and_fixed(profiles):
    profiles("main", "copy")
    a, b = ProfilePaths("main"), ProfilePaths("copy")
    os.chmod(b.swarm_pem, 0o600)
    b.swarm_pem.unlink()
    shutil.copy2(a.swarm_pem, b.swarm_pem)  # someone copied a node's identity: the seed says never do this
    os.chmod(a.swarm_pem, 0o644)
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock(), startup_flows=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        warns = " ".join(app.screen.dashboard("main").warnings)
        assert "Duplicate identity" in warns and "copy" in warns
        assert "readable by other users" in warns
        await pilot.press("b")
        await pilot.pause()
        await app.workers.wait_for_complete()  # the backup screen reads its warnings in a worker
        await pilot.pause()
        assert "Loose permissions" in flat_text(app)
        await pilot.press("ctrl+f")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert stat.S_IMODE(a.swarm_pem.stat().st_mode) == 0o600
        assert "Loose permissions" not in flat_text(app)


async def test_participation_n_skips_the_login(profiles):
    from core.identity.profiles import write_state

    profiles("main", network="gensyn-testnet")
    write_state("main", {"testnet_participation": False})
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock())
    async with app.run_test(size=(80, 24)) as pilot:
        # no login screen: N trains without the chain
        await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup warning", app)
        assert data.profile_state("main") == "needs_backup"


async def test_two_backups_with_the_proposed_name_both_land_and_a_mismatch_refocuses_the_first_field(
        profiles, tmp_path, monkeypatch):
    """Issue 20: the proposed file name was fixed, so a second backup from the TUI was refused; after a
    passphrase mismatch the focus stayed in the second field."""
    monkeypatch.setenv("HOME", str(tmp_path))
    profiles("main")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=Clock(), startup_flows=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "the backup screen", app)
        scr = app.screen
        proposed = scr.query_one("#path", Input).value
        assert proposed.startswith("~/swarmdeck-main-") and proposed.endswith("Z.sdbackup"), proposed
        scr.query_one("#pass1", Input).focus()
        await pilot.press(*"correct horse 1", "enter", *"correct horse 2", "enter")
        await pilot.pause()
        assert "differ" in flat_text(app)
        assert app.focused is scr.query_one("#pass1", Input)  # type it again from the first field
        for _ in range(2):
            scr.query_one("#pass1", Input).value = "correct horse 1"
            scr.query_one("#pass2", Input).value = "correct horse 1"
            await pilot.press("ctrl+b")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "Backup written and verified" in flat_text(app), flat_text(app)
    written = sorted(tmp_path.glob("swarmdeck-main-*.sdbackup"))
    assert len(written) == 2, written
