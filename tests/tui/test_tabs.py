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


async def test_tab_numbers_stay_the_same_in_the_next_session(profiles):
    """Issue 20: demo peers made during the first session got tabs 2 and 3 in the next one, so key 2
    opened another profile than before. Own profiles keep their numbers; demo peers come after them."""
    profiles("main")
    first = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with first.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for peer in ("local-peer-1", "local-peer-2"):  # the local network's bring-up, meanwhile
            prof.create_profile(peer, identity=False, make_current=False)
        prof.create_profile("second", identity=False, make_current=False)  # then `n`: a second own profile
        first.add_profile("second")
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        assert first.profile == "second"
        before = _labels(first)
    assert before == ["1 main", "2 second"]
    nxt = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with nxt.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert _labels(nxt)[:2] == before, _labels(nxt)
        assert _labels(nxt)[2:] == ["3 local-peer-1", "4 local-peer-2"]
        await pilot.press("2")
        await pilot.pause()
        assert nxt.profile == "second"
