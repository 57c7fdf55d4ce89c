"""The TUI's swarm screen (palette "Swarm: invite / join"): the hosted swarm's invite with its QR code
and its host's parts, and joining from a pasted invite, refused with the core's clear error and nothing written. A real
host process (embedded anvil + coordinator + guard) runs for the test and is stopped after it."""

from __future__ import annotations

from textual.css.query import NoMatches
from textual.widgets import Input, Static

from core.chain.devnet import free_port
from core.config import settings as _config
from core.hosting import invite as _invite
from core.usecases import swarm_hosting as sh
from tests.helpers.tui import FrozenTelemetry, until
from tui.app import make_app
from tui.screens.swarm import SwarmScreen


def _text(app, wid: str) -> str:
    try:
        return str(app.screen.query_one(wid, Static).render())
    except NoMatches:  # the screen is still composing
        return ""


async def test_swarm_screen_shows_the_invite_and_refuses_a_bad_join(profiles):
    profiles("alpha")
    try:
        res = sh.host("tswarm", public_addr="192.0.2.1", round_seconds=5, rpc_port=free_port(), dht_port=free_port())
        app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.pause()
            app.action_swarm()
            await until(pilot, lambda: isinstance(app.screen, SwarmScreen)
                        and "swarmdeck-invite1." in _text(app, "#swarm-invites"), 20, "the invite", app)
            shown = _text(app, "#swarm-invites")
            assert res["invite"] in shown.replace("\n", "") and "▀" in shown  # the string and its QR code
            assert _invite.decode(res["invite"]).name == "tswarm"
            # the host's parts under its invite, with the words of `swarm status` (issue 19: the screen
            # showed none): the host line, then the bootnode part running with its uptime and restarts
            await until(pilot, lambda: "tswarm: host running" in _text(app, "#swarm-invites")
                        and any(ln.strip().startswith("bootnode") and "running" in ln and "restarts 0" in ln
                                for ln in _text(app, "#swarm-invites").splitlines()), 20, "the parts' states", app)

            before = _config.config_path().read_text()
            inp = app.screen.query_one("#swarm-invite", Input)
            inp.value = "hello"
            inp.focus()
            await pilot.press("enter")
            await until(pilot, lambda: "not a swarmdeck invite" in _text(app, "#swarm-join-result"), 10,
                        "the refusal", app)
            inp.value = res["invite"]  # valid, but its RPC (192.0.2.1, TEST-NET) cannot be reached from here
            app.screen.query_one("#swarm-profile", Input).value = "joiner"
            await pilot.press("enter")
            await until(pilot, lambda: "does not answer" in _text(app, "#swarm-join-result"), 40,
                        "the unreachable-RPC refusal", app)
            assert _config.config_path().read_text() == before
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, SwarmScreen)
    finally:
        sh.stop_host("tswarm")


async def test_hosting_from_the_tui_refuses_a_loopback_address_with_the_fix(profiles):
    profiles("alpha")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        app.action_swarm()
        await until(pilot, lambda: "no swarm" in _text(app, "#swarm-invites"), 20, "the empty invite list", app)
        addr = app.screen.query_one("#swarm-host-addr", Input)
        addr.value = "127.0.0.1"
        addr.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "cannot be dialled" in _text(app, "#swarm-host-result"), 20, "the refusal", app)
        assert "LAN or public address" in _text(app, "#swarm-host-result")
    assert sh.hosted() == []  # nothing was set up


async def test_enter_with_an_empty_host_address_or_invite_says_what_is_missing(profiles):
    """Issue 20: Enter with an empty host address did nothing and said nothing."""
    profiles("alpha")
    app = make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.pause()
        app.action_swarm()
        await until(pilot, lambda: "no swarm" in _text(app, "#swarm-invites"), 20, "the empty invite list", app)
        app.screen.query_one("#swarm-host-name", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: "address first" in _text(app, "#swarm-host-result"), 10, "the hint", app)
        assert app.focused is app.screen.query_one("#swarm-host-addr", Input)
        app.screen.query_one("#swarm-invite", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: "Paste an invite first" in _text(app, "#swarm-join-result"), 10, "the hint", app)
    assert sh.hosted() == []
