"""Journey 1 in the TUI on the REAL local network: wizard (local) -> login screen (real login
service, signed in over HTTP as the page does) -> backup warning -> "remind later" -> the node
starts on its own under a real supervisor (tiny model) -> the dashboard shows a finished round.

Also: the network's bring-up error reaches the screen with its fix (stub backend, no processes).
"""

from __future__ import annotations

import time

import pytest
from textual.widgets import Input

import core.supervisor as daemon
from core.identity import profiles
from core.chain.devnet import free_port
from core.base.errors import ChainError
from core.login.service import running_service
from core.base.paths import ProfilePaths
from tests.helpers.http import sign_in
from tests.helpers.journey import our_processes, small_local_network, stop_everything
from tests.helpers.tui import FrozenTelemetry, flat_text, rounds_charted, until
from tui.backend import CoreBackend

data = CoreBackend()
from tui.app import make_app
from tui.screens.backup import BackupScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.screens.wizard import WizardScreen



@pytest.mark.timeout(300)
async def test_first_run_on_the_real_local_network_ends_in_a_running_node():
    small_local_network("default")
    login_port = free_port()
    app = make_app(refresh=0.5, telemetry=FrozenTelemetry(cpu_mode=True), orchestrate=True)
    seen_progress: list[str] = []
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            scr = app.screen
            assert isinstance(scr, WizardScreen) and scr.wizard.values["network"] == "local"
            await pilot.press("ctrl+n")  # local network
            await until(pilot, lambda: scr.wizard.step == "hardware", 10, "hardware step")
            await pilot.press("ctrl+n")
            await until(pilot, lambda: scr.wizard.step == "hf", 10, "hf step")
            await pilot.press("ctrl+n")
            await until(pilot, lambda: scr.wizard.step == "ports", 10, "ports step")
            scr.query_one("#login_port", Input).value = str(login_port)
            await pilot.press("ctrl+n")
            await until(pilot, lambda: scr.wizard.step == "confirm", 10, "confirm step")
            await pilot.press("ctrl+n")
            await until(pilot, lambda: isinstance(app.screen, LoginScreen), 20, "login screen", app)
            assert profiles.load_profile("default").settings.model == "auto"  # tiny model in CPU mode

            # the page's sign-in, over HTTP against the real login service the screen started
            paths = ProfilePaths("default")
            await until(pilot, lambda: running_service(paths) is not None, 30, "login service", app)
            url = running_service(paths).url
            assert str(login_port) in url and url in flat_text(app)
            sign_in(url, "ada@example.org")

            def activated() -> bool:
                text = flat_text(app)
                if "Local network:" in text:
                    seen_progress.append(text)
                return app.screen.status == "activated" and "Session key activated" in text

            await until(pilot, activated, 20, "activated on the login screen", app)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, BackupScreen), 10, "backup warning", app)
            assert daemon.supervisor_pid(paths) is None  # nothing runs before the flows are done
            await pilot.press("escape")  # remind me later
            await until(pilot, lambda: isinstance(app.screen, MainScreen), 10, "dashboard", app)

            def progress() -> bool:
                text = flat_text(app)
                if "Local network:" in text:
                    seen_progress.append(text)
                return False

            dash = app.screen.dashboard("default")
            await until(pilot, lambda: progress() or (dash.model.rounds_finished >= 1 and dash.model.peer_id
                                                      and dash.model.peers), 240, "a finished round", app)
            m = dash.model
            text = flat_text(app)
            assert m.display_name and m.display_name in text
            assert rounds_charted(text) >= 1, text  # the training chart draws the finished round
            assert m.peers and any(p.name for p in m.peers)  # the demo peer, seen over the DHT
            assert m.mode and m.device == "cpu"
            assert m.submissions, "no submission reached the dashboard"
            assert daemon.supervisor_pid(paths) is not None  # under its own supervisor
            assert profiles.read_state("default").get("autostart", True) is not False
            assert seen_progress, "the local network's progress never showed"
            assert any("demo peer local-peer-1" in s or "local chain" in s for s in seen_progress), seen_progress[:2]
            await pilot.press("q")
        # quitting the TUI leaves the node running
        assert daemon.supervisor_pid(ProfilePaths("default")) is not None
    finally:
        leftovers = stop_everything(["default"])
    assert not leftovers, f"processes survived the test: {leftovers}"


async def test_network_failure_is_shown_with_its_fix(profiles, monkeypatch):
    profiles("me", network="local")
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50123 192.0.2.10 22")  # a plain SSH session

    class Broken(CoreBackend):  # the real backend, except the network bring-up, which fails as a missing anvil would
        @staticmethod
        def ensure_network(name, step=None):
            step("net.chain", seconds="30")
            raise ChainError("the local chain did not come up", where="anvil",
                             fix="run `just setup` (npm parts: anvil)")

        @staticmethod
        def autostart(name, step=None):
            return "needs_sign_in"

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False, orchestrate=True, backend=Broken())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.net_status and app.net_status[2] == "error", 10, "the error", app)
        await pilot.pause()
        text = flat_text(app)
        assert "✗ Local network: the local network did not come up: the local chain did not come up" in text
        assert app.net_status[2] == "error" and "just setup" in app.net_status[1]["error"]
        notes = [n.message for n in app._notifications]
        assert any("keep running after you log out" in n and "tmux" in n for n in notes), notes
        assert any("just setup" in n for n in notes), notes  # the fix, in the error toast too
        assert not our_processes()


async def test_autostart_failure_is_shown_with_its_fix(profiles):
    from core.base.errors import IdentityError

    profiles("me", network="gensyn-testnet")

    class Refuses(CoreBackend):  # the real backend; the start is refused as a duplicate identity would be
        @staticmethod
        def autostart(name, step=None):
            step("net.node", name=name)
            raise IdentityError("profile 'me' shares its swarm.pem with profile 'old'", where="swarm.pem",
                                fix="archive one of them: swarmdeck profile archive old")

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False, orchestrate=True, backend=Refuses())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.net_status and app.net_status[2] == "error", 10, "the error", app)
        await pilot.pause()
        text = flat_text(app)
        assert "✗ Could not start the node of me: profile 'me' shares its swarm.pem" in text
        assert "Local network" not in text  # a testnet profile: no local network talk
        assert any("swarmdeck profile archive old" in n.message for n in app._notifications)
        assert not our_processes()


async def test_quit_does_not_wait_for_a_slow_bring_up(profiles):
    import threading

    profiles("me", network="local")
    release = threading.Event()

    class Slow(CoreBackend):
        @staticmethod
        def ensure_network(name, step=None):
            step("net.bootnode", name="local-peer-1")
            release.wait(60)  # a first start building the model on a slow machine

        @staticmethod
        def autostart(name, step=None):
            return "needs_sign_in"

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False, orchestrate=True, backend=Slow())
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "waiting for local-peer-1 to become the bootnode" in flat_text(app), 30,
                         "progress", app)
            t_quit = time.monotonic()
            await pilot.press("q")
        # the bring-up would hold it 60 s: the quit must not wait for it (generous for a loaded CI box)
        assert time.monotonic() - t_quit < 30
    finally:
        release.set()
