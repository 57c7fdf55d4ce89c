"""The setup wizard through the UI: first run happy path, back, cancel, validation, `n` new profile."""

from __future__ import annotations

import stat

from textual.widgets import Input, Select

from core.base.constants import local_cpu_model
from core.config.settings import load_config
from core.base.paths import ProfilePaths
from core.identity.profiles import read_state
from tests.helpers.tui import FrozenTelemetry, screen_text, until
from tui.app import make_app
from tui.backend import CoreBackend
from tui.screens.main import MainScreen
from tui.screens.wizard import WizardScreen

TOKEN = "hf_" + "Zq7" * 11


async def first_run_wizard(pilot, app) -> None:
    """The example config's profile needs setting up: the start-up check (a worker) opens the wizard."""
    await until(pilot, lambda: isinstance(app.screen, WizardScreen), 10, "the first-run wizard", app)
    await until(pilot, lambda: "Setup" in screen_text(app), 10, "the wizard's first step drawn", app)


def _app(**kw):
    return make_app(refresh=0, telemetry=FrozenTelemetry(), startup_flows=False, **kw)


async def test_first_run_wizard_happy_path_sets_up_the_profile(tmp_path):
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await first_run_wizard(pilot, app)
        scr = app.screen
        assert isinstance(scr, WizardScreen) and scr.wizard.step == "network"
        assert "Setup 1/5: network" in screen_text(app)  # participation is asked only for the testnet
        # keyboard only: move to "gensyn-testnet"; Enter picks it and goes on (as the Next button says)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert scr.wizard.values["network"] == "gensyn-testnet"
        assert scr.wizard.step == "participation"
        assert "Would you like to connect to the Testnet?" in screen_text(app)
        await pilot.press("enter")  # Y is the default, as in the seed: "or just press Enter"
        await pilot.pause()
        assert scr.wizard.step == "hardware"
        assert "Recommended:" in screen_text(app)
        scr.query_one("#quant", Select).value = "4bit"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert scr.wizard.step == "hf"
        await pilot.press(*TOKEN)
        await pilot.press("tab")
        await pilot.press(*"alice/swarm-adapter")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert scr.wizard.step == "ports"
        scr.query_one("#login_port", Input).value = "3105"
        await pilot.press("enter")  # Enter in a field = Next
        await pilot.pause()
        assert scr.wizard.step == "confirm"
        text = screen_text(app)
        assert "gensyn-testnet" in text and "4bit" in text and "3105" in text
        assert TOKEN not in text and "(a token is stored" in text
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
    cfg = load_config()
    s = cfg.profile_settings("default")
    assert (s.network, s.quant, s.login_port, s.hf_repo) == ("gensyn-testnet", "4bit", 3105, "alice/swarm-adapter")
    tok = ProfilePaths("default").secrets_dir / "hf_token"
    assert tok.read_text().strip() == TOKEN
    assert stat.S_IMODE(tok.stat().st_mode) == 0o600
    assert TOKEN not in cfg.path.read_text()
    assert read_state("default")["testnet_participation"] is True
    assert ProfilePaths("default").swarm_pem.exists()


async def test_wizard_back_keeps_answers_and_errors_keep_the_step():
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await first_run_wizard(pilot, app)
        scr = app.screen
        await pilot.press("ctrl+n")  # local
        await pilot.pause()
        assert scr.wizard.step == "hardware"
        scr.query_one("#quant", Select).value = "8bit"
        await pilot.press("ctrl+n", "ctrl+n")
        await pilot.pause()
        assert scr.wizard.step == "ports"
        scr.query_one("#login_port", Input).value = "80"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert scr.wizard.step == "ports"
        assert "privileged port" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert scr.wizard.step == "hf"
        await pilot.press("escape")
        await pilot.pause()
        assert scr.wizard.step == "hardware"
        assert scr.query_one("#quant", Select).value == "8bit"


async def test_cancelling_the_first_run_wizard_exits_and_changes_nothing():
    before = None
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await first_run_wizard(pilot, app)
        before = load_config().path.read_text()
        await pilot.press("ctrl+n")
        await pilot.pause()
        await pilot.press("ctrl+x")
        await pilot.pause()
    assert app.return_value == 1
    assert load_config().path.read_text() == before
    assert not ProfilePaths("default").swarm_pem.exists()


async def test_n_creates_a_second_profile_in_a_new_tab(profiles):
    profiles("main")
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("n")
        await pilot.pause()
        scr = app.screen
        assert isinstance(scr, WizardScreen) and scr.wizard.step == "name"
        inp = scr.query_one("#name", Input)
        inp.value = "main"
        await pilot.press("enter")
        await pilot.pause()
        assert "already exists" in screen_text(app)
        inp.value = "gpu1"
        await pilot.press("enter")
        await pilot.pause()
        for _ in range(5):
            await pilot.press("ctrl+n")
            await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.profiles == ["main", "gpu1"] and app.profile == "gpu1"
        assert "2 gpu1" in screen_text(app)
        await pilot.press("1")
        await pilot.pause()
        assert app.profile == "main"
    assert ProfilePaths("gpu1").swarm_pem.exists()


async def test_n_then_cancel_creates_nothing(profiles):
    profiles("main")
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert app.profiles == ["main"]
    assert load_config().profile_names() == ["main"]


async def test_wizard_hardware_and_summary_snapshots(profiles):
    from tui.model.wizard import Hardware
    from tests.helpers.tui import assert_snapshot

    profiles("main")

    class FixedHardware(CoreBackend):  # the hardware report differs per machine; the snapshot needs one
        @staticmethod
        def hardware():
            return Hardware(gpus=[{"index": 0, "name": "NVIDIA GeForce RTX 4090", "vram_gib": 24.0}], ram_gib=62.7,
                            recommended_model="Qwen/Qwen2.5-1.5B-Instruct", recommended_quant="4bit",
                            notes=["24 GiB of GPU memory: Qwen2.5-1.5B-Instruct in 4bit"])

    app = _app(backend=FixedHardware())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        app.screen.query_one("#name", Input).value = "gpu1"
        await pilot.press("enter", "ctrl+n")
        await pilot.pause()
        assert app.screen.wizard.step == "hardware"
        assert_snapshot(app, "wizard_hardware_80x24")
        await pilot.press("ctrl+n", "ctrl+n", "ctrl+n")
        await pilot.pause()
        assert app.screen.wizard.step == "confirm"
        assert_snapshot(app, "wizard_confirm_80x24")


async def test_cpu_local_wizard_recommends_the_demo_model_everywhere_enter_goes_on_and_choices_show_without_colour(
        profiles):
    """Issue 20: step 2 recommended Qwen2.5-0.5B while the summary said demo model; Enter on that step opened
    the model list; the radio choices looked identical without colour (`▐●▌` on every line)."""
    from tui.model.wizard import Hardware

    profiles("main")

    class CpuOnly(CoreBackend):
        @staticmethod
        def hardware():
            return Hardware(gpus=[], ram_gib=7.7, cpu_mode_reason="no NVIDIA driver found",
                            recommended_model="Qwen/Qwen2.5-0.5B-Instruct", recommended_quant="fp32")

    app = _app(backend=CpuOnly())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, WizardScreen), 10, "the wizard", app)
        scr = app.screen
        scr.query_one("#name", Input).value = "cpu1"
        await pilot.press("enter")
        await until(pilot, lambda: scr.wizard.step == "network", 10, "the network step", app)
        await pilot.pause()
        text = screen_text(app)  # plain text: what a terminal without colour shows
        assert text.count("(•)") == 1 and text.count("( )") >= 2, text
        assert "(•) " + "Local" in text or "(•) local" in text.lower(), text
        await pilot.press("enter")  # local
        await until(pilot, lambda: scr.wizard.step == "hardware", 10, "the hardware step", app)
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        local = local_cpu_model()  # demo; the test suite runs the tiny one (SWARMDECK_LOCAL_MODEL)
        assert f"Recommended: {local}:" in text and "Qwen" not in text.split("Recommended:")[1].split(",")[0], text
        assert scr.query_one("#model", Select).value == local
        assert app.focused is scr.query_one("#model", Select)
        await pilot.press("enter")  # goes on with the recommendation, does not open the list
        await until(pilot, lambda: scr.wizard.step != "hardware", 10, "the next step", app)
        while scr.wizard.step != "confirm":
            await pilot.press("ctrl+n")
            await pilot.pause()
        text = " ".join(screen_text(app).split())
        assert ("local demo model" if local == "demo" else "tiny local model") in text and "Qwen" not in text, text
