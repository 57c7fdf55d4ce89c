"""Start / stop / restart from the dashboard through a real supervisor (fake node child),
with confirmation for the destructive verbs; events flow into the dashboard."""

from __future__ import annotations

import pytest

from tests.integration.daemon_support import Rig
from tests.helpers.tui import FrozenTelemetry, flat_text, until
from tui.backend import CoreBackend

data = CoreBackend()
from tui.app import make_app
from tui.screens.dialogs import ConfirmScreen


@pytest.fixture
def rig(monkeypatch):
    r = Rig(monkeypatch, name="main")
    r.configure("--rate", "2", "--round-every", "0.3")
    yield r
    leftovers = r.cleanup()
    assert not leftovers, f"processes survived the test: {leftovers}"




async def test_start_then_stop_with_confirmation(profiles, rig):
    profiles("main")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        await pilot.press("s")  # start needs no confirmation
        await until(pilot, lambda: data.node_state("main") == "running", what="node running")
        main.refresh_states()  # read in a worker, drawn when it lands
        await until(pilot, lambda: main.states.get("main") == "running", what="tab state running")

        def dash_round():
            main.tick()
            return (main.dashboard().model.round or 0) >= 2

        await until(pilot, dash_round, what="rounds on the dashboard")
        assert "running" in flat_text(app)

        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "Stop the node of profile 'main'?" in flat_text(app)
        await pilot.press("n")  # declined: nothing happens
        await pilot.pause()
        assert data.node_state("main") == "running"

        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: data.node_state("main") == "stopped", what="node stopped")
        main.refresh_states()
        await until(pilot, lambda: main.states["main"] in ("needs_login", "stopped"), what="tab state stopped")
