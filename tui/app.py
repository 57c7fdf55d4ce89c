"""The Textual app: `make_app(...)` builds it for the CLI and the tests alike; `run_tui` runs it.

Nodes run under their own supervisors, never inside the TUI: quitting (q) leaves them running.
The app holds shared services (backend: tui.backend.Backend, telemetry, clock) that screens use; tests
inject a frozen clock/telemetry and refresh=0 (no timers) for snapshots.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import TabbedContent, TabPane

from tui.model import i18n
from tui.model.i18n import error_text, t
from core.hardware.telemetry import Telemetry
from tui.model.wizard import Wizard
from tui.backend import Backend, CoreBackend
from tui.screens.backup import BackupScreen
from tui.screens.dialogs import HelpScreen
from tui.screens.login import LoginScreen, read_login_facts
from tui.screens.main import MainScreen, pane_id
from tui.screens.swarm import SwarmScreen
from tui.screens.wizard import WizardScreen
from tui.screenshot import save_svg
from tui.widgets.common import translate_bindings
from tui.widgets.textual_i18n import LocalizedCommandPalette, localize_instance, localize_textual
from tui.widgets.dashboard import ProfileDashboard


class SwarmdeckApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "swarmdeck"
    BINDINGS = [
        Binding("q", "quit", "keys.quit"),
        Binding("question_mark", "help", "keys.help"),
        Binding("f", "fleet", "keys.fleet", show=False),  # in the help (?) and the palette; the footer is full
        # priority: also on dialogs (a modal screen hides the app's other bindings); tui.screenshot
        Binding("ctrl+s", "save_svg", "keys.screenshot", show=False, priority=True),
    ]

    def __init__(self, profile: str | None = None, *, backend=None, telemetry=None,
                 refresh: float | None = None, language: str | None = None,
                 now: Callable[[], float] = time.time, startup_flows: bool = True, orchestrate: bool = False):
        self.backend: Backend = backend if backend is not None else CoreBackend()
        lang = i18n.detect_language(language or self._configured_language())
        i18n.set_language(lang)
        localize_textual()  # Textual's own binding texts, before any widget copies them
        super().__init__()
        translate_bindings(self)
        localize_instance(self)  # the palette key the app adds in __init__
        self.lang = lang
        self.now = now
        self.refresh_s = self.backend.refresh_seconds() if refresh is None else refresh
        ts = self.backend.tui_settings()
        self.chart_rounds, self.log_lines = int(ts.chart_rounds), int(ts.log_lines)
        self.backup_warning = bool(ts.backup_warning)
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        self.profiles: list[str] = self.backend.list_profiles()
        if profile is not None and profile not in self.profiles:
            from core.base.errors import ProfileError
            raise ProfileError(f"no profile named {profile!r}", where="-p/--profile",
                               fix="see 'swarmdeck profile list', or run 'swarmdeck' to create one")
        self.profile: str | None = profile or self.backend.current_profile()
        self.startup_flows = startup_flows
        self.backup_reminded: set[str] = set()  # "remind later" lasts for this TUI session
        # orchestrate: bring the local network up and auto-start nodes (core.usecases.node_control decides what);
        # `swarmdeck` turns it on, tests of single screens leave it off
        self.orchestrate = orchestrate
        self.net_status: tuple[str, dict, str] | None = None  # (i18n key, params, progress|error)
        self._flows_pending: set[str] = set()  # profiles whose first screens (wizard/login/backup) are open

    def _configured_language(self) -> str | None:
        try:
            return self.backend.language_setting()
        except Exception:
            return None

    # -- startup -----------------------------------------------------------------------
    def on_mount(self) -> None:
        self.sub_title = self.profile or ""
        self.push_screen(MainScreen())
        if self.orchestrate and self.backend.bare_ssh():  # the environment only
            self.notify(t("app.ssh_note"), timeout=20)
        if not self.profiles:
            self.open_wizard(first_run=True)
        elif self.profile:
            self._first_screen(self.profile)

    # The checks below read the profile's files (state.json, identity, backup record): in workers, so
    # the UI thread never waits on the disk; the screen they call for opens back on the UI thread.
    @work(thread=True, group="startup")
    def _first_screen(self, name: str) -> None:
        setup = self.backend.needs_setup(name)
        self._from_thread(self._open_first_screen, name, setup)

    def _open_first_screen(self, name: str, needs_setup: bool) -> None:
        if needs_setup:
            # first run: the example config's profile, never set up: the wizard sets it up in place
            self._flows_pending.add(name)
            self.open_wizard(first_run=True, configure=name)
        elif self.startup_flows:
            self.run_flows(name)
        else:
            self._opened(name)

    def run_flows(self, name: str) -> None:
        """Login first, then the backup warning (before the first registration), then the dashboard;
        the local network comes up meanwhile, and the node starts when the flows are done."""
        self._flows_pending.add(name)
        self.bring_up(name)
        self._flow_checks(name)

    @work(thread=True, group="startup")
    def _flow_checks(self, name: str) -> None:
        login = self.backend.needs_login(name)
        verified_at = None if login else self.backend.backup_verified_at(name)
        self._from_thread(self._next_flow, name, login, verified_at)

    def _next_flow(self, name: str, needs_login: bool, verified_at: str | None) -> None:
        if needs_login:
            self.open_login(name, then_backup=True)
        elif self.backup_warning and verified_at is None and name not in self.backup_reminded:
            self.open_backup(name, then_start=True)
        else:
            self.flows_finished(name)

    def flows_finished(self, name: str) -> None:
        self._flows_pending.discard(name)
        self.start_if_wanted(name)

    def profile_opened(self, name: str) -> None:
        """The TUI shows this profile (start-up or tab switch): network up; node started if wanted."""
        if self.orchestrate:
            self._opened_if_set_up(name)

    @work(thread=True, group="startup")
    def _opened_if_set_up(self, name: str) -> None:
        if not self.backend.needs_setup(name):
            self._from_thread(self._opened, name)

    def _opened(self, name: str) -> None:
        if not self.orchestrate:
            return
        self.bring_up(name)
        if name not in self._flows_pending:
            self.start_if_wanted(name)

    # -- orchestration (daemon threads: never block the UI) ---------------------------------
    def bring_up(self, name: str) -> None:
        if not self.orchestrate:
            return
        self._background(self._bring_up, name)

    def start_if_wanted(self, name: str) -> None:
        if not self.orchestrate:
            return
        self._background(self._autostart, name)

    def _background(self, fn, *args) -> None:
        """A daemon thread, not a Textual worker: the app waits for its workers on exit, and `q`
        must not wait minutes for a bring-up (what it started runs detached and keeps going)."""
        import threading

        threading.Thread(target=fn, args=args, daemon=True, name=f"swarmdeck-{fn.__name__}").start()

    def _from_thread(self, fn, *args) -> None:
        if not self.is_running:
            return
        try:
            self.call_from_thread(fn, *args)
        except Exception:  # the app is closing or closed: nothing left to show it on
            pass

    def _step(self, key: str, **params) -> None:
        self._from_thread(self.set_net_status, (key, params, "progress"))

    def _bring_up(self, name: str) -> None:
        try:
            if not self.backend.is_local(name):
                return
            res = self.backend.ensure_network(name, self._step)
        except Exception as e:  # SwarmdeckError says what/where/fix: shown until the next try
            self._from_thread(self.set_net_status, ("net.failed", {"error": error_text(e)}, "error"))
            self._from_thread(lambda: self.notify(t("net.failed", error=error_text(e)), title=t("net.failed_title"),
                                                  severity="error", timeout=20))
            return
        self._from_thread(self.set_net_status, None)
        if res and res.get("started"):
            self._from_thread(lambda: self.notify(t("net.up"), title=t("net.failed_title")))

    def _autostart(self, name: str) -> None:
        try:
            decision = self.backend.autostart(name, self._step)
        except Exception as e:  # stays on the dashboard with its fix until the next try
            self._from_thread(self.set_net_status, ("net.autostart_failed", {"name": name, "error": error_text(e)}, "error"))
            self._from_thread(lambda: self.notify(t("net.autostart_failed", name=name, error=error_text(e)),
                                                  severity="error", timeout=20))
            return
        self._from_thread(self._clear_progress)  # e.g. a peer started on the way, then nothing to do
        if decision == "start":
            self._from_thread(lambda: self.notify(t("net.autostarted", name=name), timeout=8))
            main = self.main_screen()
            if main is not None:
                self._from_thread(main.refresh_states)

    def _clear_progress(self) -> None:
        if self.net_status and self.net_status[2] == "progress":
            self.set_net_status(None)

    def set_net_status(self, status: tuple[str, dict, str] | None) -> None:
        self.net_status = status
        main = self.main_screen()
        if main is not None:
            main.redraw_warnings()
            main.refresh_states()
        for s in self.screen_stack:
            if isinstance(s, LoginScreen):
                s.poll()

    def net_line(self) -> str:
        """The local network's progress or error for the status panels ("" when nothing to say)."""
        if not self.net_status:
            return ""
        key, params, kind = self.net_status
        label = "" if key in ("net.node", "net.autostart_failed") else t("net.label") + ": "  # the node's own
        return ("✗ " if kind == "error" else "… ") + label + t(key, **params)

    def main_screen(self) -> MainScreen | None:
        for s in self.screen_stack:
            if isinstance(s, MainScreen):
                return s
        return None

    # -- flows -------------------------------------------------------------------------
    def open_wizard(self, first_run: bool = False, configure: str | None = None) -> None:
        """The setup wizard: a new profile, or (configure=NAME) set up an existing, untouched one.
        The hardware probe (NVML, CUDA) and the other profiles' ports are read in a worker."""
        self._wizard_inputs(first_run, configure, [p for p in self.profiles if p != configure])

    @work(thread=True, group="wizard", exclusive=True)
    def _wizard_inputs(self, first_run: bool, configure: str | None, others: list[str]) -> None:
        hardware = self.backend.hardware()
        ports = {self.backend.login_port(p) for p in others}
        self.call_from_thread(self._show_wizard, hardware, ports, first_run, configure, others)

    def _show_wizard(self, hardware, taken_ports: set, first_run: bool, configure: str | None,
                     others: list[str]) -> None:
        wiz = Wizard(hardware, name=configure, existing_profiles=others,
                     ask_name=configure is None, taken_ports=taken_ports)

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
            else:
                self._flows_pending.discard(name)

        self.push_screen(WizardScreen(wiz, first_run=first_run, configure_existing=configure is not None), done)

    def add_profile(self, name: str) -> None:
        # self.profiles is what the tabs show, in order: keys 1..9 and the labels number that list.
        # Profiles made since start-up (the local network's demo peers) get no tab here, so they
        # must not enter the list either (the new tab was numbered 4 after 1 with 2, 3 unseen).
        if name in self.profiles:
            return
        self.profiles.append(name)
        main = self.main_screen()
        if main is None:
            return
        for s in main.query("#empty"):
            s.remove()
        tabs = main.query_one("#tabs", TabbedContent)
        i = self.profiles.index(name) + 1
        self.profile = name

        async def add_tab() -> None:  # select once the pane is mounted: its dashboard is drawn on activation
            await tabs.add_pane(TabPane(main._label(i, name, "stopped"),
                                        ProfileDashboard(name, now=self.now, id="dash-" + name), id=pane_id(name)))
            main.select(name)

        self.call_later(add_tab)

    def open_login(self, name: str, then_backup: bool = False) -> None:
        def done(status: str | None) -> None:
            main = self.main_screen()
            if main:
                main.refresh_states()
            if then_backup and self.backup_warning:
                self._backup_check(name)
            else:
                self.flows_finished(name)  # signed in now: the node may start

        self._open_login(name, done)

    @work(thread=True, group="login-open")
    def _open_login(self, name: str, done) -> None:
        facts = read_login_facts(self.backend, name)  # config reads stay off the UI thread
        self._from_thread(lambda: self.push_screen(LoginScreen(name, facts), done))

    @work(thread=True, group="startup")
    def _backup_check(self, name: str) -> None:
        self._from_thread(self._after_login, name, self.backend.backup_verified_at(name))

    def _after_login(self, name: str, verified_at: str | None) -> None:
        if verified_at is None:
            self.open_backup(name, then_start=True)
        else:
            self.flows_finished(name)  # signed in now: the node may start

    def open_backup(self, name: str, then_start: bool = False) -> None:
        def done(result: str | None) -> None:
            if result != "verified":
                self.backup_reminded.add(name)
                self.notify(t("backup.reminder_kept"), severity="warning")
            main = self.main_screen()
            if main:
                main.refresh_states()
            if then_start:
                self.flows_finished(name)

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

    def action_command_palette(self) -> None:
        """Textual's palette, with its placeholder in the user's language."""
        if self.use_command_palette and not LocalizedCommandPalette.is_open(self):
            self.push_screen(LocalizedCommandPalette(id="--command-palette"))

    def action_swarm(self) -> None:
        self.push_screen(SwarmScreen())

    def action_fleet(self) -> None:
        from tui.screens.fleet import FleetScreen

        if not isinstance(self.screen, FleetScreen):
            self.push_screen(FleetScreen())

    def action_save_svg(self) -> None:
        """The current screen (dialogs included) as SVG, written by a thread; the notification names the file."""
        save_svg(self, self.profile)

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
        yield SystemCommand(t("palette.swarm"), t("palette.swarm_help"), self.action_swarm)
        yield SystemCommand(t("palette.fleet"), t("palette.fleet_help"), self.action_fleet)
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

    backend = CoreBackend()
    if backend.tui_settings().color == "mono":
        os.environ["NO_COLOR"] = "1"  # Textual drops all colour when NO_COLOR is set
    # SWARMDECK_TUI_AUTO=0: a bare dashboard (no local network bring-up, no node auto-start)
    app = make_app(profile, backend=backend, orchestrate=os.environ.get("SWARMDECK_TUI_AUTO", "1") != "0")
    try:
        rc = app.run()
    finally:
        app.telemetry.close()
    if app.profiles:
        print(t("app.quit_note"))
    return int(rc or 0)
