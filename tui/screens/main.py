"""The main screen: one tab per profile, each with its dashboard; the node verbs live here."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from core.hardware.telemetry import Snapshot as TelemetrySnapshot
from core.usecases.profile_state import ProfileView
from tui.backend import Duplicate
from tui.model.i18n import error_text, t
from tui.model.swarm import swarm_line
from tui.screens.dialogs import ConfirmScreen, HelpScreen, SwitcherScreen
from tui.screens.standing import StandingScreen
from tui.widgets.common import translate_bindings
from tui.widgets.dashboard import ProfileDashboard

STATE_MARK = {"running": "●", "starting": "◐", "preparing": "◐", "stopping": "◑", "stopped": "○", "crashed": "✗", "needs_login": "!", "needs_backup": "!", "damaged": "✗"}
SLOW_EVERY = 5  # ticks between the costlier checks (profile states, identity warnings, node pid)


class StatesLoaded(Message):
    """Profile states and identity warnings, read by a worker."""

    def __init__(self, views: dict[str, ProfileView], duplicates: list[Duplicate], error: str | None = None):
        super().__init__()
        self.views, self.duplicates, self.error = views, duplicates, error


class TickLoaded(Message):
    """New events and a telemetry sample of one profile, read by a worker."""

    def __init__(self, name: str, events: list, snap: TelemetrySnapshot | None, gpus: list[int],
                 error: str | None = None):
        super().__init__()
        self.name, self.events, self.snap, self.gpus, self.error = name, events, snap, gpus, error


class SwarmLoaded(Message):
    """The swarm status line of one profile, checked by a worker (core.usecases.swarm_status)."""

    def __init__(self, name: str, line: str):
        super().__init__()
        self.name, self.line = name, line


SWARM_EVERY_S = 30.0  # between swarm checks (one eth_call and a TCP connect per bootnode)


def pane_id(name: str) -> str:
    return "p-" + name


class MainScreen(Screen):
    BINDINGS = [
        Binding("s", "start", "keys.start"),
        Binding("x", "stop", "keys.stop"),
        # hidden from the 80-column footer (the warnings line names l and b); all are in `?` help
        Binding("r", "restart", "keys.restart", show=False),
        Binding("l", "login", "keys.login", show=False),
        Binding("b", "backup", "keys.backup", show=False),
        Binding("n", "new_profile", "keys.new_profile", show=False),
        Binding("p", "switcher", "keys.switcher"),
        Binding("left_square_bracket", "prev_tab", "keys.prev_tab", show=False),
        Binding("right_square_bracket", "next_tab", "keys.next_tab", show=False),
        *[Binding(str(i), f"switch_tab({i})", "keys.switch_tab", show=False) for i in range(1, 10)],
        Binding("t", "standing", "keys.standing", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)
        self._ticks = 0
        self.states: dict[str, str] = {}
        self.sources: dict = {}
        self._labels: dict[str, str] = {}
        self._gpus: dict[str, list[int]] = {}  # written by the tick worker only
        self.views: dict[str, ProfileView] = {}
        self._dups: list[Duplicate] = []
        self._states_busy = self._states_again = False
        self._tick_busy = self._tick_again = False

    # -- layout ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        names = self.app.profiles
        if not names:
            yield Static(t("main.no_profiles"), id="empty", classes="empty")
        with TabbedContent(id="tabs", initial=pane_id(self.app.profile) if self.app.profile else None):
            for i, name in enumerate(names, 1):
                with TabPane(self._label(i, name, "stopped"), id=pane_id(name)):
                    yield ProfileDashboard(name, now=self.app.now, id="dash-" + name)
        yield Footer()

    def _label(self, i: int, name: str, state: str) -> str:
        return f"{i} {name} {STATE_MARK.get(state, '?')}"

    def on_mount(self) -> None:
        self.refresh_states()
        if self.app.refresh_s > 0:
            self.set_interval(self.app.refresh_s, self.tick, name="dashboard-refresh")
            self.set_interval(SWARM_EVERY_S, self.refresh_swarm, name="swarm-check")
            self.call_after_refresh(self.refresh_swarm)
        self.tick()

    # -- data --------------------------------------------------------------------------
    @property
    def current(self) -> str | None:
        return self.app.profile

    def dashboard(self, name: str | None = None) -> ProfileDashboard | None:
        name = name or self.current
        if not name:
            return None
        try:
            return self.query_one("#dash-" + name, ProfileDashboard)
        except Exception:
            return None

    # Each refresh reads files and sockets (supervisor status, identity files, events.jsonl,
    # /proc for telemetry): a worker thread does it and posts the result; the handlers below
    # only draw. One refresh of each kind in flight at a time; a request meanwhile runs after it.
    def refresh_states(self) -> None:
        if self._states_busy:
            self._states_again = True
            return
        self._states_busy = True
        self._load_states(list(self.app.profiles))

    @work(thread=True, group="states")
    def _load_states(self, names: list[str]) -> None:
        be = self.app.backend
        try:
            views, dups = be.profile_views(names), be.duplicates()
        except Exception as e:  # a profile removed meanwhile, a damaged config: keep the last view
            self.post_message(StatesLoaded({}, [], error=error_text(e)))
            return
        self.post_message(StatesLoaded(views, dups))

    def _draw_warnings(self, name: str) -> None:
        """The warnings line of one dashboard, from the last states read and the network's progress
        (no I/O: the network line changes between reads and is drawn at once)."""
        d = self.dashboard(name)
        if d is None:
            return
        view = self.views.get(name)
        warns = []
        net = self.app.net_line() if name == self.current else ""
        if net:
            warns.append(net)
        if view is not None:
            # The login app refused the session key (stale / not activated): writes wait, training
            # goes on; l opens the sign-in screen. First, so the key stays on screen.
            again = view.signin_required
            if again:
                warns.insert(0, t("signin.banner", reason=again.get("reason") or ""))
            elif view.state == "needs_login":
                warns.append(t("warn.needs_login"))
            d.set_signin(again)
            bad = view.identity_problem
            if bad:  # first: the node cannot start, and the fix depends on whether a backup exists
                warns.insert(0, t("warn.identity_damaged", what=bad["what"], where=bad["where"]))
                warns.insert(1, t("warn.damaged_fix_backup", archive=bad["backup_archive"], name=name)
                             if bad.get("backup_archive") else t("warn.damaged_fix_no_backup", name=name))
            elif view.backup_verified_at is None and not view.demo_peer:
                warns.append(t("warn.no_backup"))
            for dup in self._dups:
                if name in dup.profiles:
                    warns.append(t("warn.duplicate", what=dup.what))
            if view.permission_problems:
                warns.append(t("warn.permissions", n=len(view.permission_problems)))
        d.set_warnings(warns)

    def redraw_warnings(self) -> None:
        for name in self.app.profiles:
            self._draw_warnings(name)

    def on_states_loaded(self, msg: "StatesLoaded") -> None:
        self._states_busy = False
        if msg.error is None:
            self._dups = msg.duplicates
        redraw = False
        for i, name in enumerate(self.app.profiles, 1):
            view = msg.views.get(name)
            if view is None:
                continue
            self.views[name] = view
            if name == self.current and self.states.get(name) != view.state:
                redraw = True  # the header drew the state known at the last tick: draw it again
            self.states[name] = view.state
            label = self._label(i, name, view.state)
            if self._labels.get(name) != label:  # setting a label re-lays out the screen: only on change
                self._labels[name] = label
                tabs = self.query_one("#tabs", TabbedContent)
                if tabs.query(f"#{pane_id(name)}"):
                    tabs.get_tab(pane_id(name)).label = label
            self._draw_warnings(name)
        cur = self.current
        if cur and cur in self.views:
            self.app.telemetry.set_node_pid(self.views[cur].node_pid)
        if redraw:
            self.tick()
        if self._states_again:
            self._states_again = False
            self.refresh_states()

    def tick(self) -> None:
        """One refresh: telemetry sample + new events of the visible profile (read in a worker)."""
        self._ticks += 1
        if self._ticks % SLOW_EVERY == 0:
            self.refresh_states()
        name = self.current
        if name is None or self.dashboard(name) is None:
            return
        if self._tick_busy:
            self._tick_again = True
            return
        self._tick_busy = True
        self._load_tick(name)

    @work(thread=True, group="tick")
    def _load_tick(self, name: str) -> None:
        be = self.app.backend
        try:
            src = self.sources.get(name)
            if src is None:
                src = self.sources[name] = be.event_source(name)
            events = src.poll()
            snap = self.app.telemetry.sample()
            pinned = self._gpus.get(name)
            if pinned is None:
                pinned = self._gpus[name] = list(be.profile_gpus(name))
        except Exception as e:
            self.post_message(TickLoaded(name, [], None, [], error=error_text(e)))
            return
        self.post_message(TickLoaded(name, events, snap, pinned))

    def on_tick_loaded(self, msg: "TickLoaded") -> None:
        self._tick_busy = False
        d = self.dashboard(msg.name)
        if d is not None and msg.snap is not None:
            if msg.events:
                d.model.apply_all(msg.events)
            snap = msg.snap
            if msg.gpus and snap.gpus:  # two GPUs, two profiles: each dashboard shows its own GPU(s)
                snap.gpus = [g for g in snap.gpus if g.index in msg.gpus] or snap.gpus
            d.update_view(snap, self.states.get(msg.name, "stopped"))
        if self._tick_again:
            self._tick_again = False
            self.tick()

    # -- the swarm status line (network I/O: a worker) -----------------------------------
    def refresh_swarm(self) -> None:
        name = self.current
        if name and self.dashboard(name) is not None:
            self._load_swarm(name)

    @work(thread=True, exclusive=True, group="swarm")
    def _load_swarm(self, name: str) -> None:
        try:
            line = swarm_line(self.app.backend.swarm_status(name))
        except Exception as e:  # a damaged profile: the line says why, the dashboard goes on
            line = f"{t('swarmline.label')}: {error_text(e)}"
        self.post_message(SwarmLoaded(name, line))

    def on_swarm_loaded(self, msg: "SwarmLoaded") -> None:
        d = self.dashboard(msg.name)
        if d is not None:
            d.set_swarm(msg.line)

    # -- tabs --------------------------------------------------------------------------
    def on_tabbed_content_tab_activated(self, ev: TabbedContent.TabActivated) -> None:
        pid = ev.pane.id or ""
        if pid.startswith("p-"):
            self.app.profile = pid[2:]
            self.app.sub_title = self.app.profile
            self.refresh_states()
            self.tick()
            if self.app.refresh_s > 0:
                self.refresh_swarm()
            self.app.profile_opened(self.app.profile)

    def select(self, name: str) -> None:
        if name in self.app.profiles:
            self.query_one("#tabs", TabbedContent).active = pane_id(name)

    def action_switch_tab(self, i: int) -> None:
        if 1 <= i <= len(self.app.profiles):
            self.select(self.app.profiles[i - 1])

    def _step(self, delta: int) -> None:
        names = self.app.profiles
        if names and self.current in names:
            self.select(names[(names.index(self.current) + delta) % len(names)])

    def action_next_tab(self) -> None:
        self._step(1)

    def action_prev_tab(self) -> None:
        self._step(-1)

    def action_switcher(self) -> None:
        rows = [(n, self.states.get(n, "stopped")) for n in self.app.profiles]

        def chosen(name: str | None) -> None:
            if name:
                self.select(name)

        self.app.push_screen(SwitcherScreen(rows, self.current), chosen)

    # -- node verbs --------------------------------------------------------------------
    def action_start(self) -> None:
        if self.current:
            self._control(self.current, "start")

    def action_stop(self) -> None:
        self._confirm("stop")

    def action_restart(self) -> None:
        self._confirm("restart")

    def _confirm(self, verb: str) -> None:
        name = self.current
        if not name:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._control(name, verb)
            else:
                self.notify(t("node.cancelled", verb=t("verb." + verb)))

        self.app.push_screen(ConfirmScreen(t(f"confirm.{verb}", name=name), t("confirm.detail")), answered)

    @work(thread=True, exclusive=True, group="control")
    def _control(self, name: str, verb: str) -> None:
        try:
            self.app.backend.control(name, verb)
        except Exception as e:  # SwarmdeckError carries what/where/fix; show it, don't crash
            self.app.call_from_thread(self.notify, error_text(e), title=t("node.failed", verb=t("verb." + verb)),
                                      severity="error", timeout=10)
            return
        self.app.call_from_thread(self.notify, t("node.done", verb=t("verb." + verb), name=name))
        self.app.call_from_thread(self.refresh_states)

    # -- other screens -----------------------------------------------------------------
    def action_login(self) -> None:
        if self.current:
            self.app.open_login(self.current)

    def action_backup(self) -> None:
        if self.current:
            self.app.open_backup(self.current)

    def action_new_profile(self) -> None:
        self.app.open_wizard(first_run=False)

    def action_standing(self) -> None:
        self.app.push_screen(StandingScreen(list(self.app.profiles)))

    def help_rows(self) -> list[tuple[str, str]]:
        rows: list[tuple[str, str]] = []
        seen = set()
        for node in (self, self.app):
            for key, blist in node._bindings.key_to_bindings.items():
                for b in blist:
                    if b.description and (b.action, b.description) not in seen and not b.action.startswith("switch_tab"):
                        seen.add((b.action, b.description))
                        rows.append((self.app.get_key_display(b), b.description))
        rows.append(("1…9", t("keys.switch_tab")))
        return rows

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_rows()))
