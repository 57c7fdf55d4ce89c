"""Dashboard, tabs, switcher, help, palette: data from real event files, telemetry and clock frozen."""

from __future__ import annotations

from tests.helpers.tui import (FROZEN_NOW, FrozenTelemetry, assert_snapshot, node_history, screen_text, until,
                                write_events)
from tui.app import make_app
from tui.screens.dialogs import HelpScreen, SwitcherScreen
from tui.screens.main import MainScreen
from tui.widgets.reward_chart import RewardChart


def _app(**kw):
    kw.setdefault("telemetry", FrozenTelemetry())
    return make_app(refresh=0, now=lambda: FROZEN_NOW, startup_flows=False, **kw)


async def test_dashboard_shows_the_node_from_its_events_snapshot(profiles):
    profiles("main", "gpu1")
    write_events("main", node_history(6))
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        assert isinstance(main, MainScreen)
        d = main.dashboard("main")
        m = d.model
        assert (m.round, m.rounds_finished, m.registered) == (7, 6, True)
        assert m.submission_counts() == {"pending": 1, "landed": 7, "failed": 1, "skipped": 0}
        assert d.query_one("#rewards", RewardChart).points == [(r, 0.1 * r) for r in range(1, 7)]
        # the profile states come from a worker: the snapshot is of the screen once they are drawn
        await until(pilot, lambda: "needs login" in screen_text(app), 10, "the profile states", app)
        text = assert_snapshot(app, "dashboard_80x24")
        for needle in ("sly shaggy toucan", "round 7 / stage 0", "GPU0", "71°C", "N/A", "2 peers",
                       "agile tawny", "5s ago", "2m ago", "InvalidRoundNumber", "812.5 tok/s",
                       "chain 2.10", "No verified backup", "? Help"):
            assert needle in text, needle


async def test_dashboard_cpu_mode_explains_why_and_follows_new_events(profiles):
    profiles("main")
    write_events("main", node_history(2))
    app = _app(telemetry=FrozenTelemetry(cpu_mode=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        main = app.screen
        text = screen_text(app)
        assert "CPU mode: no NVIDIA driver found" in text and "Training runs on" in text
        write_events("main", [("round.finished", {"round": 3, "stage": 0, "reward": 0.9, "n_local": 4,
                                                  "n_external": 2}),
                              ("log", {"level": "warning", "message": "peer QmX timed out"})], t0=FROZEN_NOW)
        main.tick()
        await pilot.pause()
        m = main.dashboard().model
        assert m.rewards[3] == 0.9 and m.rounds_finished == 3
        assert "peer QmX timed out" in screen_text(app)


async def test_digits_brackets_and_switcher_change_profile(profiles):
    profiles("main", "gpu1", "gpu2")
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.profile == "main"
        await pilot.press("3")
        await pilot.pause()
        assert app.profile == "gpu2"
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert app.profile == "main"
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert app.profile == "gpu2"
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, SwitcherScreen)
        text = screen_text(app)
        assert "main" in text and "needs login" in text
        await pilot.press("home", "down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and app.profile == "gpu1"


async def test_help_lists_every_binding_and_q_quits_saying_nodes_keep_running(profiles):
    profiles("main")
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        body = str(app.screen.query_one("#help-body").render())
        for desc in ("Start", "Stop", "Restart", "Login", "Backup", "New profile", "Profiles",
                     "Previous profile", "Next profile", "Switch to profile N", "Help",
                     "Quit (nodes keep running)", "nodes keep running in the background"):
            assert desc in body, desc
        # every binding of the main screen and the app is listed
        for node in (main, app):
            for blist in node._bindings.key_to_bindings.values():
                for b in blist:
                    if b.description and not b.action.startswith("switch_tab"):
                        assert b.description in body
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_value == 0


async def test_command_palette_offers_the_main_actions(profiles):
    profiles("main")
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for want in ("Start node: main", "Stop node: main", "Restart node: main", "Sign in: main",
                     "Back up identity: main", "New profile", "Switch profile", "Keys", "Quit"):
            assert want in titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"switch prof")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SwitcherScreen)


async def test_russian_interface_from_config(profiles):
    from core.config.settings import load_config

    profiles("main")
    cfg = load_config()
    cfg.set("language", "ru")
    cfg.save()
    write_events("main", node_history(2))
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "Обучение" in text and "Пиры" in text and "Выход (узлы работают)" in text
        assert "Training" not in text


async def test_peers_panel_shows_what_the_fetch_cost_and_refused(profiles):
    """The DHT layer's per-fetch figures (rollouts.fetched: requests, bytes, rejected) reach the Peers panel."""
    profiles("main")
    write_events("main", node_history(2))
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        main = app.screen
        assert "gets" not in screen_text(app)  # no fetch yet: the panel shows the peer count only
        write_events("main", [("rollouts.fetched", {"round": 3, "peers": 2, "n_external": 4, "n_candidates": 9,
                                                    "rejected": 7, "requests": 10, "bytes": 117760,
                                                    "choosable": 5})], t0=FROZEN_NOW)
        main.tick()
        await pilot.pause()
        x = main.dashboard().model.exchange
        assert (x.round, x.taken, x.requests, x.rejected) == (3, 4, 10, 7)
        text = screen_text(app)
        assert "10 gets 115 KB" in text and "7 refused" in text


async def test_dashboard_shows_what_the_swarm_gave_per_round_and_per_peer(profiles):
    """The swarm panel: the newest round's useful groups by origin, the 20-round view, and per peer
    the groups taken and refused; new rounds move all three (real event files, Pilot)."""
    from tui.widgets.dashboard import gave_lines

    profiles("main")
    write_events("main", node_history(6))
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        main = app.screen
        text = screen_text(app)
        assert "Round 6: 2 own + 4 peers, 0 refused" in text
        assert "6 rounds, peers 62%: rising faster" in text  # 24 of 39 useful groups came from peers
        # per peer: 6 rounds x 3 groups from A, x 1 from B; B's one group refused in round 3
        row_a = next(ln for ln in text.splitlines() if "agile tawny" in ln)
        row_b = next(ln for ln in text.splitlines() if "quick grey" in ln)
        assert row_a.split("│")[-2].split()[-3:] == ["18", "0", "—"]
        assert row_b.split("│")[-2].split()[-3:] == ["6", "1", "—"]
        # two flat rounds where peers gave a lot and one of them was refused twice
        B = "QmPeerB2222222222222222222222222222222222222"
        write_events("main", [("round.finished", {"round": r, "stage": 0, "reward": 0.6, "n_local": 4,
                                                  "n_external": 3, "useful_own": 1, "useful_peers": 3,
                                                  "refused": 2, "taken_from": {B: 3}, "refused_from": {B: 2}})
                              for r in (7, 8)], t0=FROZEN_NOW)
        main.tick()
        await pilot.pause()
        m = main.dashboard().model
        assert m.gain.last().round == 8 and m.gain.taken_from[B] == 12 and m.gain.refused_from[B] == 5
        text = screen_text(app)
        assert "Round 8: 1 own + 3 peers, 2 refused" in text
        assert gave_lines(m)[1] in text and gave_lines(m)[2] in text
        row_b = next(ln for ln in text.splitlines() if "quick grey" in ln)
        assert row_b.split("│")[-2].split()[-3:] == ["12", "5", "—"]


async def test_a_model_build_shows_a_bar_with_steps_and_time_left_then_the_model_is_named(profiles):
    """Issue 20: during a (re)build of the demo model the dashboard showed only a log line; the
    node's model.build events now draw a bar with steps and the time left, in the UI's language."""
    profiles("main")
    write_events("main", [("node.state", {"state": "starting"}),
                          ("node.state", {"state": "preparing", "reason": "loading the model"}),
                          ("model.build", {"model": "demo", "step": 300, "steps": 800, "elapsed_s": 60.0,
                                           "eta_s": 100.0})])
    app = _app(telemetry=FrozenTelemetry(cpu_mode=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "Building the demo model: step 300/800" in text and "1 min 40 s left" in text, text
        assert "████░░░░░░░░ 1 min" in text  # 300 of 800: 4 of 12 cells
        write_events("main", [("node.mode", {"mode": "fp32", "device": "cpu", "reason": "no GPU", "model": "demo"}),
                              ("node.state", {"state": "running"}),
                              ("round.finished", {"round": 1, "stage": 0, "reward": 0.25, "n_local": 4,
                                                  "n_external": 0})], t0=FROZEN_NOW)
        app.screen.tick()
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert "Building" not in text and "model demo" in text, text


async def test_a_damaged_identity_shows_on_the_dashboard_with_the_fix_for_its_case(profiles, tmp_path):
    """Issue 20: a damaged swarm.pem showed as "needs backup"; the error came only after s, and its fix
    assumed a backup exists. Now: the tab says so, the dashboard names the error and the fix for the case."""
    from core.base.paths import ProfilePaths
    from core.identity.backup import create_backup
    from core.usecases import node_control
    from tui.screens.main import MainScreen

    profiles("nobak", "withbak")
    create_backup("withbak", tmp_path, "a long enough passphrase", scrypt_n=2**12)
    for name in ("nobak", "withbak"):
        pem = ProfilePaths(name).swarm_pem
        pem.write_bytes(pem.read_bytes()[:100])
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "Identity damaged" in screen_text(app) and "identity damaged" in screen_text(app),
                    20, "the damaged identity (warning and state)", app)
        text = " ".join(screen_text(app).split())
        assert "not a valid libp2p identity" in text and "No backup of it exists" in text, text
        assert "profile archive nobak" in text and "needs backup" not in text
        assert isinstance(app.screen, MainScreen)
        await pilot.press("2")
        await until(pilot, lambda: "identity restore" in " ".join(screen_text(app).split()), 20, "the restore fix", app)
        text = " ".join(screen_text(app).split())
        assert ".sdbackup" in text and "No backup of it exists" not in text, text
    # `s` / swarmdeck start is refused with the same case's fix
    for name, want in (("nobak", "no backup of it exists"), ("withbak", "identity restore")):
        try:
            node_control.check_can_start(name)
            raise AssertionError("a damaged identity must not start")
        except Exception as e:
            assert want in str(getattr(e, "fix", "")), (name, e)
