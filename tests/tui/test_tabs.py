"""Profile tabs: numbered as shown, and keys 1..9 pick the tab with that number."""

from __future__ import annotations

from textual.widgets import TabbedContent

from core.identity import profiles as prof
from tests.helpers.tui import FrozenTelemetry, screen_text
from tui.app import make_app


def _labels(app) -> list[str]:
    tabs = app.screen.query_one("#tabs", TabbedContent)
    return [str(tabs.get_tab(p.id).label).rsplit(" ", 1)[0] for p in tabs.query("TabPane")]


async def test_tabs_are_numbered_as_shown_when_demo_peers_appear(profiles):
    """The local network creates demo peer profiles after start-up; a profile added then was
    numbered 4 next to 1 (keys 2 and 3 picked peers that have no tab)."""
    profiles("main")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for peer in ("local-peer-1", "local-peer-2"):  # what the network bring-up does meanwhile
            prof.create_profile(peer, identity=False, make_current=False)
        prof.create_profile("second", identity=False, make_current=False)
        app.add_profile("second")
        await pilot.pause()
        assert _labels(app) == ["1 main", "2 second"], screen_text(app)
        await pilot.press("1")
        await pilot.pause()
        assert app.profile == "main"
        await pilot.press("2")
        await pilot.pause()
        assert app.profile == "second"
