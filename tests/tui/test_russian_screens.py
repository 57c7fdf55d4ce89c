"""Every screen in Russian shows no English, and every layout holds in both languages.

Each screen is driven through the real app (Textual Pilot), with real profiles, event files written the
way the node writes them now (message keys), and the real catalogs. Two checks:

- `english_runs(text)`: the runs of Latin-letter words left on the screen once the allowlist is taken
  out (product and model names, commands, paths, ids, units). Russian must leave none.
- `cut_off(app)`: widgets whose text needs more lines than their box has, or boxes outside their
  parent: a fixed-height panel pushed over by a long translation is a failure. Checked at 100x30
  and 160x50, English and Russian.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widget import Widget
from textual.widgets import Input, Static

from core.base.i18n import M
from core.events.types import LogEvent, NodeMode
from core.hardware.telemetry import Telemetry
from core.usecases.standing import DayRow, Delta, ProfileStanding, Standing
from tests.helpers.tui import FROZEN_NOW, FrozenTelemetry, node_history, screen_text, until, write_events
from tui.app import make_app
from tui.backend import CoreBackend
from tui.screens.backup import BackupScreen
from tui.screens.dialogs import ConfirmScreen, HelpScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.screens.standing import StandingScreen
from tui.screens.swarm import SwarmScreen
from tui.screens.wizard import WizardScreen

# Words and names that stay as they are in any language: the product, models, commands and their
# arguments, protocols and units, key names, and the demo data's generated peer names.
ALLOWED_WORDS = {
    "swarmdeck", "swarm", "qwen", "instruct", "gpu", "gpus", "cpu", "ram", "vram", "rss", "nvidia", "nvml", "lora",
    "hugging", "face", "dht", "rpc", "url", "ssh", "tmux", "qr", "svg", "ctrl", "esc", "enter", "tab", "y", "n",
    "peer", "id", "local", "gensyn", "testnet", "custom", "fp", "bf", "bit", "nf", "tok", "s", "kb", "gib", "mb",
    "pem", "libnvidia", "ml", "hf", "scrypt", "modal", "login", "rl", "yarn", "orgid", "anvil", "multiaddr",
    "p", "ip", "tcp", "localhost", "http", "https", "auto", "int", "bitsandbytes", "cuda", "nf4", "jsonl",
    "sdbackup", "mkdir", "user", "name", "path", "archive", "new", "network", "profile", "backup", "identity",
    "restore", "start", "stop", "status", "invite", "host", "join", "addr", "public",
    "sly", "shaggy", "toucan", "agile", "tawny", "owl", "quick", "grey", "wolf",  # generated peer names
    "invalidroundnumber",  # the coordinator contract's revert reason, as the chain gives it
    "tiny", "demo", "root", "evm", "ipv", "utc", "shift", "escape", "space", "home", "end", "pageup", "pagedown", "up", "down", "left", "right",  # key names
    "main", "gpu1", "gp", "default", "myswarm", "alice", "x", "b", "q", "t", "l", "r", "c", "k", "f", "d", "i",
}
# Whole tokens that are ids, paths, commands or numbers with units, removed before looking for words.
ALLOWED_PATTERNS = [
    r"'swarmdeck [^']*'", r"`[^`]*`", r"swarmdeck [a-z-]+( [a-z-]+)?( -[-\w]+( \S+)?)*",
    r"https?://\S+", r"(?<![\w.])(~|\.)?/[\w./~+-]*", r"\b[\w.-]+/[\w.-]+\b", r"\bQm\w+", r"…\w+", r"\b0x[0-9a-fA-F…]+",
    r"\b[\w-]+\.(pem|json|toml|log|sdbackup|jsonl)\b", r"\bhf_\S*", r"\^[a-z]", r"\b\d+[a-zA-Z]+\b",
]


def english_runs(text: str) -> list[str]:
    """Runs of Latin words (2+ letters, or any allowlisted) that are not in the allowlist."""
    for pat in ALLOWED_PATTERNS:
        text = re.sub(pat, " ", text)
    # a word cut by an ellipsis ("libnvidi…"): allowed when an allowed word starts with it
    text = re.sub(r"([A-Za-z]+)…", lambda m: " " if any(w.startswith(m.group(1).lower()) for w in ALLOWED_WORDS)
                  else m.group(1), text)
    bad = []
    for run in re.findall(r"[A-Za-z][A-Za-z'’-]*(?:[ ,.:;()]+[A-Za-z][A-Za-z'’-]*)*", text):
        words = [w for w in re.findall(r"[A-Za-z]+", run) if w.lower() not in ALLOWED_WORDS]
        if words:
            bad.append(run)
    return bad


def assert_russian(app, where: str) -> str:
    text = screen_text(app)
    bad = english_runs(text)
    assert bad == [], f"{where}: English on a Russian screen: {bad}\n{text}"
    return text


def _in_scroll(w: Widget) -> bool:
    return any(isinstance(a, ScrollableContainer) for a in w.ancestors_with_self if isinstance(a, Widget))


def cut_off(app) -> list[str]:
    """Widgets whose content does not fit the box they got (outside any scrolling container), and
    boxes that stick out of the screen. An Input scrolls its own text; it is checked for its box only."""
    scr = app.screen
    screen_region = scr.region
    out = []
    for w in scr.walk_children(Widget):
        if not w.display or not w.visible or _in_scroll(w):
            continue
        r = w.region
        if r.area and not screen_region.contains_region(r):
            out.append(f"{w!r} at {r} is outside the screen {screen_region}")
        if isinstance(w, Static) and not isinstance(w, Input):
            box = w.content_region
            if box.width <= 0:
                continue
            need = _lines_needed(app, w, box.width)
            if need > box.height:
                out.append(f"{w!r} needs {need} lines, has {box.height}: {str(w.render())[:80]!r}")
    return out


def _lines_needed(app, w: Static, width: int) -> int:
    """Lines the widget's text takes at this width (a trailing line break adds none; a no-wrap widget
    takes one line per line, cut with "…" by design)."""
    rendered = w.render()
    plain = getattr(rendered, "plain", None)
    plain = str(rendered) if plain is None else plain
    lines = plain.rstrip("\n ").split("\n") if plain.strip() else []
    if w.styles.text_wrap == "nowrap":
        return len(lines)
    return sum(max(1, len(Text(line).wrap(app.console, width))) for line in lines)


class StillBackend(CoreBackend):
    """The real backend, but the swarm line and standing read no chain (none runs in this test):
    they return what a reachable chain would, so the screens show their full text."""

    def standing(self, names):
        day = [DayRow(day=f"2026-09-{d:02d}", rounds=10 * d, reward=0.5 * d, chain_total=1.5 * d) for d in (20, 21)]
        return Standing(profiles=[ProfileStanding(
            name="main", network="local", peer_id="QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            display_name="sly shaggy toucan", registered=True, total_reward=12.5, wins=3, votes=7, rank=2,
            leaderboard_size=10, chain_round=40, last_round=38, behind=2,
            deltas={"hour": Delta(0.5, 1, FROZEN_NOW - 3600), "day": Delta(4.0, 2, FROZEN_NOW - 86400),
                    "week": Delta(None, None, None)}, history=day)],
            best="main", read_at=FROZEN_NOW, backoff_waits=[1.0])

    def swarm_invites(self):
        return []


def keyed_history() -> list[tuple[str, dict]]:
    """node_history, with the text events as the node writes them now (message keys)."""
    ev = [e for e in node_history(6) if e[0] not in ("log", "node.mode")]
    mode = NodeMode(mode="4bit", device="cuda", reason=M("train.mode_auto", reason=M(
        "hw.rec_vram", gib=24, model="Qwen2.5-1.5B-Instruct", quant="4bit")))
    line = LogEvent(level="info", message=M(
        "event.round_done", round=20, reward=0.5, n_local=4, n_external=4, peers=2, seconds=3.2,
        outcome=M("event.loss", loss=0.125)))
    warn = LogEvent(level="warning", message=M("event.signin_wait", reason="401", command="swarmdeck login -p main"))
    return ev + [(e.type, e.fields_dict()) for e in (mode, line, warn)]


class CpuTelemetry(FrozenTelemetry):
    """CPU mode with the reason this machine's real telemetry gives (no NVIDIA driver here)."""

    def __init__(self):
        super().__init__(cpu_mode=True)
        real = Telemetry()
        self.reason = real.cpu_mode_reason
        real.close()

    def sample(self):
        return dataclasses.replace(super().sample(), cpu_mode_reason=self.reason or M("hw.no_driver_lib"))


def _app(language: str, **kw):
    kw.setdefault("telemetry", FrozenTelemetry())
    kw.setdefault("backend", StillBackend())
    return make_app(refresh=0, now=lambda: FROZEN_NOW, startup_flows=False, language=language, **kw)


async def _shown(pilot, app, cls, what):
    await until(pilot, lambda: isinstance(app.screen, cls), 15, what, app)
    await app.workers.wait_for_complete()
    await pilot.pause()


SIZES = [(100, 30), (160, 50)]


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_dashboard_and_its_dialogs(profiles, language, size):
    profiles("main", "gpu1")
    write_events("main", keyed_history())
    ru = language == "ru"
    checks = []

    def check(where):
        text = assert_russian(app, where) if ru else screen_text(app)
        checks.append((where, cut_off(app)))
        return text

    for cpu in (False, True):
        app = _app(language, telemetry=CpuTelemetry() if cpu else FrozenTelemetry())
        async with app.run_test(size=size) as pilot:
            await _shown(pilot, app, MainScreen, "the dashboard")
            await until(pilot, lambda: app.screen.dashboard("main").model.rounds_finished == 6, 10, "events", app)
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = check(f"dashboard cpu={cpu}")
            if ru:
                assert "раунд 20: награда 0.500" in " ".join(text.split())
            if cpu:
                continue
            await pilot.press("question_mark")
            await _shown(pilot, app, HelpScreen, "help")
            help_text = check("help")
            if ru:
                assert "Следующее поле" in help_text and "Копировать выделенное" in help_text
            await pilot.press("escape")
            await pilot.press("ctrl+p")
            await until(pilot, lambda: "Поиск команд" in screen_text(app) if ru else "Search" in screen_text(app),
                        10, "the palette", app)
            check("palette")
            await pilot.press(*"9797")  # no command matches: the palette says so in the language
            nothing = "Ничего не найдено" if ru else "No matches found"
            await until(pilot, lambda: nothing in screen_text(app), 10, "no matches", app)
            check("palette, no matches")
            await pilot.press("escape")
            await pilot.press("x")
            await _shown(pilot, app, ConfirmScreen, "stop confirmation")
            check("stop confirmation")
            await pilot.press("n")
            await pilot.press("t")
            await _shown(pilot, app, StandingScreen, "standing")
            await until(pilot, lambda: "★" in screen_text(app) or "(*)" in screen_text(app), 10, "standing body", app)
            check("standing")
            await pilot.press("escape")
            app.action_swarm()
            await _shown(pilot, app, SwarmScreen, "swarm")
            check("swarm")
            await pilot.press("escape")
            await pilot.press("b")
            await _shown(pilot, app, BackupScreen, "backup")
            check("backup")
            # a core error in the backup screen: verify a file that does not exist
            app.screen.query_one("#path", Input).value = "/nonexistent/i18n-test.sdbackup"
            app.screen.query_one("#pass1", Input).value = "correct horse 1"
            await pilot.press("ctrl+k")
            await until(pilot, lambda: "✗" in screen_text(app), 15, "the error", app)
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = check("backup error")
            if ru:
                assert "архива резервной копии не существует" in " ".join(text.split())
    assert [c for c in checks if c[1]] == []


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_wizard_every_step(language, size):
    ru = language == "ru"
    app = make_app(refresh=0, telemetry=CpuTelemetry(), startup_flows=False, language=language,
                   backend=StillBackend())
    problems = []
    async with app.run_test(size=size) as pilot:
        await _shown(pilot, app, WizardScreen, "the first-run wizard")
        scr = app.screen
        seen = []
        for _ in range(8):
            await pilot.pause()
            seen.append(scr.wizard.step)
            text = assert_russian(app, f"wizard {scr.wizard.step}") if ru else screen_text(app)
            problems += [(scr.wizard.step, p) for p in cut_off(app)]
            if scr.wizard.step == "confirm":
                break
            if scr.wizard.step == "ports":
                # a wrong answer: the wizard's error, in the language
                scr.query_one("#login_port", Input).value = "80"
                await pilot.press("ctrl+n")
                await pilot.pause()
                err = assert_russian(app, "wizard error") if ru else screen_text(app)
                assert ("привилегированный порт" if ru else "privileged port") in " ".join(err.split())
                scr.query_one("#login_port", Input).value = "3105"
            await pilot.press("ctrl+n")
        assert seen[-1] == "confirm" and "hardware" in seen
        if ru:
            assert "случайный" in text  # the DHT port 0, in words
    assert problems == []


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_login_screen(profiles, monkeypatch, language):
    profiles("main", network="local", login_port=3998)
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.7 50123 192.0.2.10 22")
    monkeypatch.setenv("USER", "alice")

    class NoService(StillBackend):  # the screen before the service answers (no process started)
        @staticmethod
        def ensure_login_service(name):
            return ("http://localhost:3998", 3998)

    problems = []
    for size in SIZES:
        app = make_app(refresh=0, telemetry=FrozenTelemetry(), now=lambda: FROZEN_NOW, backend=NoService(),
                       language=language)
        async with app.run_test(size=size) as pilot:
            await _shown(pilot, app, LoginScreen, "the login screen")
            if language == "ru":
                assert_russian(app, "login")
            problems += cut_off(app)
    assert problems == []
