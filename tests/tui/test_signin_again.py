"""The "sign in again" state (core.identity.signin) on the dashboard and in tui.backend, from the real state.json."""

from __future__ import annotations

from core.identity import files as identity
from core.identity import signin
from core.base.paths import ProfilePaths
from tests.helpers.tui import FROZEN_NOW, FrozenTelemetry, flat_text, node_history, until, write_events
from tui.backend import CoreBackend

data = CoreBackend()
from tui.app import make_app
from tui.screens.main import MainScreen

REASON = "session key missing or not activated (HTTP 500 api key not found)"


def _signed_in(name: str) -> None:
    """The login files a finished sign-in leaves (an activated session key)."""
    d = ProfilePaths(name).identity_dir
    identity.write_user_data(d, "org-1", "0x" + "ab" * 20, "user-1", "kim@example.org")
    identity.append_user_api_key(d, "org-1", {"publicKey": "0x" + "cd" * 20, "privateKey": "0x" + "11" * 32,
                                              "createdAt": "2025-01-01T00:00:00Z", "activated": True})


def test_data_says_sign_in_again_with_the_command(profiles):
    profiles("main", network="local", backend="modal-login")
    _signed_in("main")
    assert data.signin_required("main") is None and not data.needs_login("main")
    signin.mark_required("main", REASON, "http://127.0.0.1:3000")
    got = data.signin_required("main")
    assert got["reason"] == REASON and got["fix"] == "swarmdeck login -p main" and got["since"]
    assert data.needs_login("main") and data.profile_state("main") == "needs_login"
    signin.clear("main")
    assert data.signin_required("main") is None and not data.needs_login("main")


async def test_dashboard_shows_sign_in_again_and_the_key(profiles):
    profiles("main", network="local", backend="modal-login")
    _signed_in("main")
    write_events("main", node_history(3))
    signin.mark_required("main", REASON, "http://127.0.0.1:3000")
    app = make_app(refresh=0, now=lambda: FROZEN_NOW, startup_flows=False, telemetry=FrozenTelemetry())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        main.tick()
        await until(pilot, lambda: "Sign in again (press l)" in flat_text(app), 10, "the banner", app)
        text = flat_text(app)
        assert "api key not found" in text and "writes wait for a new sign-in" in text
        assert "Not signed in: press l" not in text  # one message, the precise one
        # l is the key that opens the sign-in screen
        assert any(b.action == "login" for b in main._bindings.key_to_bindings.get("l", []))
        # a write landed again (or a new sign-in): the banner goes on the next refresh
        signin.clear("main")
        main.refresh_states()
        main.tick()
        await until(pilot, lambda: "Sign in again" not in flat_text(app), 10, "the banner to go", app)
        assert "writes wait for a new sign-in" not in flat_text(app)


async def test_russian_banner(profiles):
    from core.config.settings import load_config

    profiles("main", network="local", backend="modal-login")
    cfg = load_config()
    cfg.set("language", "ru")
    cfg.save()
    _signed_in("main")
    signin.mark_required("main", REASON)
    app = make_app(refresh=0, now=lambda: FROZEN_NOW, startup_flows=False, telemetry=FrozenTelemetry())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.screen.tick()
        await until(pilot, lambda: "Войдите снова (нажмите l)" in flat_text(app), 10, "the Russian banner", app)
