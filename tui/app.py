"""The Textual app: `make_app(...)` builds it for the CLI and the tests alike; `run_tui` runs it.

Nodes run under their own supervisors, never inside the TUI: quitting (q) leaves them running.
The app holds shared services (backend = tui.data, telemetry, clock) that screens use; tests
inject a frozen clock/telemetry and refresh=0 (no timers) for snapshots.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from core import i18n
from core.i18n import t
from core.telemetry import Telemetry
from core.wizard import Wizard
from tui import data as default_backend
from tui.screens.backup import BackupScreen
from tui.screens.dialogs import HelpScreen
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen, pane_id
from tui.screens.wizard import WizardScreen
from tui.widgets.common import translate_bindings
from tui.widgets.dashboard import ProfileDashboard


class SwarmdeckApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "swarmdeck"
    BINDINGS = [
        Binding("q", "quit", "keys.quit"),
        Binding("question_mark", "help", "keys.help"),
    ]

    def __init__(self, profile: str | None = None, *, backend=None, telemetry=None,
                 refresh: float | None = None, language: str | None = None,
                 now: Callable[[], float] = time.time, startup_flows: bool = True):
        self.backend = backend or default_backend
        lang = i18n.detect_language(language or self._configured_language())
        i18n.set_language(lang)
        super().__init__()
        translate_bindings(self)
        self.lang = lang
        self.now = now
        self.refresh_s = self.backend.refresh_seconds() if refresh is None else refresh
        try:
            ts = self.backend.tui_settings()
            self.chart_rounds, self.log_lines = int(ts.chart_rounds), int(ts.log_lines)
            self.backup_warning = bool(ts.backup_warning)
        except Exception:  # a test backend without settings
            self.chart_rounds, self.log_lines, self.backup_warning = 100, 500, True
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.profiles: list[str] = self.backend.list_profiles()
        if profile is not None and profile not in self.profiles:
            from core.errors import ProfileError
            raise ProfileError(f"no profile named {profile!r}", where="-p/--profile",
                               fix="see 'swarmdeck profile list', or run 'swarmdeck' to create one")
        self.profile: str | None = profile or self.backend.current_profile()
        self.startup_flows = startup_flows
        self.backup_reminded: set[str] = set()  # "remind later" lasts for this TUI session

    def _configured_language(self) -> str | None:
        try:
            return self.backend.language_setting()
        except Exception:
            return None

    # -- startup -----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.sub_title = self.profile or ""
        self.push_screen(MainScreen())
        if not self.profiles:
            self.open_wizard(first_run=True)
        elif self.profile and self.backend.needs_setup(self.profile):
            # first run: the example config's profile, never set up: the wizard sets it up in place
            self.open_wizard(first_run=True, configure=self.profile)
        elif self.startup_flows and self.profile:
            self.run_flows(self.profile)

    def run_flows(self, name: str) -> None:
        """Login first, then the backup warning (before the first registration), then the dashboard."""
        be = self.backend
        if be.needs_login(name):
            self.open_login(name, then_backup=True)
        elif self.backup_warning and be.backup_verified_at(name) is None and name not in self.backup_reminded:
            self.open_backup(name)

    def main_screen(self) -> MainScreen | None:
        for s in self.screen_stack:
            if isinstance(s, MainScreen):
                return s
        return None

    # -- flows -------------------------------------------------------------------------
    def open_wizard(self, first_run: bool = False, configure: str | None = None) -> None:
        """The setup wizard: a new profile, or (configure=NAME) set up an existing, untouched one."""
        others = [p for p in self.profiles if p != configure]
        wiz = Wizard(self.backend.hardware(), name=configure, existing_profiles=others,
                     ask_name=configure is None, taken_ports={self.backend.login_port(p) for p in others})

        def done(name: str | None) -> None:
            if name is None:
                if first_run:
                    self.exit(1, message=t("wizard.cancelled_first_run"))
                else:
                    self.notify(t("wizard.cancelled"))
                return
            if configure is None:
                self.add_profile(name)
            self.notify(t("wizard.created", name=name))
            main = self.main_screen()
            if main:
                main.refresh_states()
            if self.startup_flows:
                self.run_flows(name)

        self.push_screen(WizardScreen(wiz, first_run=first_run, configure_existing=configure is not None), done)

    def add_profile(self, name: str) -> None:
        self.profiles = self.backend.list_profiles()
        if name not in self.profiles:
            self.profiles.append(name)
        main = self.main_screen()
        if main is None:
            return
        for s in main.query("#empty"):
            s.remove()
        tabs = main.query_one("#tabs", TabbedContent)
        i = self.profiles.index(name) + 1
        tabs.add_pane(TabPane(main._label(i, name, "stopped"),
                              ProfileDashboard(name, now=self.now, id="dash-" + name), id=pane_id(name)))
        self.profile = name
        self.call_after_refresh(main.select, name)

    def open_login(self, name: str, then_backup: bool = False) -> None:
        def done(status: str | None) -> None:
            main = self.main_screen()
            if main:
                main.refresh_states()
            if then_backup and self.backup_warning and self.backend.backup_verified_at(name) is None:
                self.open_backup(name)

        self.push_screen(LoginScreen(name), done)

    def open_backup(self, name: str) -> None:
        def done(result: str | None) -> None:
            if result != "verified":
                self.backup_reminded.add(name)
                self.notify(t("backup.reminder_kept"), severity="warning")
            main = self.main_screen()
            if main:
                main.refresh_states()

        self.push_screen(BackupScreen(name), done)

    # -- global actions ----------------------------------------------------------------
    def action_help(self) -> None:
        main = self.screen if isinstance(self.screen, MainScreen) else None
        if isinstance(self.screen, HelpScreen):
            return
        if main is not None:
            rows = main.help_rows()
        else:
            rows = _rows_for(self.screen, self)
        self.push_screen(HelpScreen(rows))

    async def action_quit(self) -> None:
        self.exit(0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        main = self.main_screen()
        if main is not None and self.profile:
            for verb in ("start", "stop", "restart", "login", "backup"):
                yield SystemCommand(t(f"palette.{verb}", name=self.profile), t(f"palette.{verb}_help"),
                                    getattr(main, f"action_{verb}"))
        if main is not None:
            yield SystemCommand(t("palette.new_profile"), t("palette.new_profile_help"), main.action_new_profile)
            yield SystemCommand(t("palette.switch"), t("palette.switch_help"), main.action_switcher)
        yield SystemCommand(t("palette.help"), t("palette.help_help"), self.action_help)
        yield SystemCommand(t("palette.quit"), t("palette.quit_help"), self.action_quit)


def _rows_for(screen: Screen, app: App) -> list[tuple[str, str]]:
    rows = []
    for node in (screen, app):
        for blist in node._bindings.key_to_bindings.values():
            for b in blist:
                if b.description:
                    rows.append((app.get_key_display(b), b.description))
    return rows


def make_app(profile: str | None = None, **kw) -> SwarmdeckApp:
    """The one factory used by `swarmdeck` and by the tests."""
    return SwarmdeckApp(profile, **kw)


def run_tui(profile: str | None = None) -> int:
    import os

    try:
        if default_backend.tui_settings().color == "mono":
            os.environ["NO_COLOR"] = "1"  # Textual drops all colour when NO_COLOR is set
    except Exception:
        pass
    app = make_app(profile)
    try:
        rc = app.run()
    finally:
        app.telemetry.close()
    if app.profiles:
        print(t("app.quit_note"))
    return int(rc or 0)
