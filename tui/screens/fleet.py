"""The fleet view (key f, palette "Fleet"): every machine of `swarmdeck fleet` × its profiles, live.

core.fleet.live.FleetLive keeps the rows current from its own threads (a status poll per host, then the host's
event stream between polls); this screen only draws. States are words as well as colours (readable in
monochrome); a host that does not answer reads "unreachable since HH:MM" and is retried with backoff.
Enter opens a remote profile's dashboard (the local dashboard's widgets, fed by the remote event stream);
s / x / r start, stop, restart it over SSH, stop and restart after the same confirmation as locally.
"""

from __future__ import annotations

import threading
import time

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from core.base.errors import dict_part
from core.usecases import fleet
from tui.model.i18n import t, text
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.common import translate_bindings
from tui.widgets.dashboard import ProfileDashboard

STATE_STYLE = {"running": "bold green", "starting": "yellow", "stopping": "yellow", "stopped": "dim",
               "crashed": "bold red", "gave_up": "bold red", "unknown": "dim"}


def _num(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def _hhmm(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


class _Verbs:
    """s / x / r on a remote profile: the same confirmations as a local one, then the fleet use case in a thread."""

    def remote_target(self) -> tuple[str, str] | None:  # (host, profile)
        raise NotImplementedError

    def action_start(self) -> None:
        tgt = self.remote_target()
        if tgt:
            self._remote_control(*tgt, "start")

    def action_stop(self) -> None:
        self._confirm_remote("stop")

    def action_restart(self) -> None:
        self._confirm_remote("restart")

    def _confirm_remote(self, verb: str) -> None:
        tgt = self.remote_target()
        if not tgt:
            return
        host, profile = tgt

        def answered(yes: bool | None) -> None:
            if yes:
                self._remote_control(host, profile, verb)
            else:
                self.notify(t("node.cancelled", verb=t("verb." + verb)))

        self.app.push_screen(ConfirmScreen(t(f"fleet.confirm_{verb}", name=profile, host=host), t("confirm.detail")),
                             answered)

    def _remote_control(self, host: str, profile: str, verb: str) -> None:
        app = self.app  # the thread below has no Textual context

        def run() -> None:
            try:
                fleet.act(host, verb, profile)
            except Exception as e:  # SwarmdeckError: what/where/fix, shown as it is
                app.call_from_thread(self.notify, str(e), title=t("node.failed", verb=t("verb." + verb)),
                                     severity="error", timeout=15)
                return
            app.call_from_thread(self.notify, t("fleet.done", verb=t("verb." + verb), name=profile, host=host))
            app.call_from_thread(self.after_control)

        self.notify(t("fleet.sending", verb=t("verb." + verb), name=profile, host=host))
        threading.Thread(target=run, daemon=True, name="fleet-control").start()

    def after_control(self) -> None:
        pass


class FleetScreen(_Verbs, Screen[None]):
    BINDINGS = [
        Binding("escape,f", "close", "keys.close"),
        Binding("enter", "open", "keys.fleet_open"),
        Binding("s", "start", "keys.start"),
        Binding("x", "stop", "keys.stop"),
        Binding("r", "restart", "keys.restart"),
        Binding("g", "poll", "keys.fleet_poll"),
    ]

    def __init__(self, poll_s: float | None = None):
        super().__init__()
        translate_bindings(self)
        self.poll_s = poll_s
        self.live = None
        self.rows: list[tuple[str, str | None]] = []   # (host, profile or None) per table row

    def compose(self) -> ComposeResult:
        yield Static(t("fleet.title"), classes="dialog-title", id="fleet-title")
        yield DataTable(id="fleet-table", cursor_type="row", zebra_stripes=True)
        yield Static(t("fleet.loading"), id="fleet-note")
        yield Footer()

    def on_mount(self) -> None:
        self._app = self.app  # FleetLive's threads have no Textual context: they reach the app through this
        table = self.query_one(DataTable)
        for key, label in (("host", t("fleet.col_host")), ("profile", t("fleet.col_profile")),
                           ("state", t("fleet.col_state")), ("round", t("fleet.col_round")),
                           ("reward", t("fleet.col_reward")), ("peers", t("fleet.col_peers")),
                           ("gpu", t("fleet.col_gpu")), ("alerts", t("fleet.col_alerts"))):
            table.add_column(label, key=key)
        self._start()
        self.set_interval(5.0, self.redraw)  # "since" and "next try" move on their own

    @work(thread=True, group="fleet-start")
    def _start(self) -> None:
        from core.fleet.live import FleetLive
        from core.usecases import fleet

        try:
            hosts, settings = fleet.hosts(), fleet.fleet_settings()
        except Exception as e:
            self.app.call_from_thread(self._note, str(e))
            return
        if not hosts:
            self.app.call_from_thread(self._note, t("fleet.empty"))
            return
        live = FleetLive(hosts, settings, on_change=self._changed, poll_s=self.poll_s)
        self.live = live
        live.start()

    def _changed(self) -> None:  # from FleetLive's threads
        app = self._app
        if app.is_running and self.is_attached:
            try:
                app.call_from_thread(self.redraw)
            except Exception:  # the app is closing: nothing left to draw on
                pass

    def _note(self, text: str) -> None:
        self.query_one("#fleet-note", Static).update(Text(text))

    def on_unmount(self) -> None:
        if self.live is not None:
            self.live.stop()

    def redraw(self) -> None:
        if self.live is None:
            return
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        self.rows = []
        now = time.time()
        up = 0
        views = self.live.snapshot()
        for v in views:
            if v.reachable is None:
                table.add_row(v.name, "", Text(t("fleet.asking"), style="dim"), "", "", "", "", "")
                self.rows.append((v.name, None))
                continue
            if not v.reachable or (v.error and not v.profiles):
                since = _hhmm(v.down_since or now)
                word = t("fleet.unreachable_since", since=since) if not v.reachable else t("fleet.error")
                retry = max(0, int(v.next_try - now)) if v.next_try else 0
                what = text(dict_part(v.error, "what")) or ""  # the error's key, in the user's language
                table.add_row(v.name, "", Text(word, style="bold red"), "", "", "", "",
                              Text(t("fleet.retry_in", n=retry) + "  " + what[:80], style="dim"))
                self.rows.append((v.name, None))
                continue
            up += 1
            if not v.profiles:
                table.add_row(v.name, Text(t("fleet.no_profiles"), style="dim"), "", "", "", "", "", "")
                self.rows.append((v.name, None))
            for p in v.profiles.values():
                st = p.get("state") or "unknown"
                dev = fleet.gpu_text(p.get("gpu"))
                table.add_row(v.name, p["name"], Text(t("state." + st), style=STATE_STYLE.get(st, "")),
                              _num(p.get("round")), _num(p.get("last_reward"), ".3g"), _num(p.get("peers")), dev,
                              ", ".join(p.get("alerts") or []) or "-")
                self.rows.append((v.name, p["name"]))
        if self.rows:
            table.move_cursor(row=min(max(keep, 0), len(self.rows) - 1))
        self._note(t("fleet.summary", up=up, n=len(views)))

    def remote_target(self) -> tuple[str, str] | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        host, profile = self.rows[table.cursor_row]
        if profile is None:
            self.notify(t("fleet.pick_profile"))
            return None
        return host, profile

    def on_data_table_row_selected(self, ev: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        tgt = self.remote_target()
        if tgt:
            self.app.push_screen(RemoteDashboardScreen(*tgt))

    def action_poll(self) -> None:
        if self.live is not None:
            self.live.poll_now()

    def after_control(self) -> None:
        self.action_poll()

    def action_close(self) -> None:
        self.app.pop_screen()


class RemoteDashboardScreen(_Verbs, Screen[None]):
    """A remote profile's dashboard: the local dashboard widget, fed by `events --follow --json` over SSH."""

    BINDINGS = [
        Binding("escape", "close", "keys.close"),
        Binding("s", "start", "keys.start"),
        Binding("x", "stop", "keys.stop"),
        Binding("r", "restart", "keys.restart"),
    ]

    def __init__(self, host: str, profile: str):
        super().__init__()
        translate_bindings(self)
        self.host, self.profile = host, profile
        self.pending: list = []
        self.lock = threading.Lock()
        self.stream = None
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static(t("fleet.remote_title", name=self.profile, host=self.host), classes="dialog-title",
                     id="remote-title")
        yield ProfileDashboard(self.profile, id="remote-dash")
        yield Footer()

    def on_mount(self) -> None:
        self._open_stream()
        self.set_interval(0.5, self._drain)

    @work(thread=True, group="fleet-stream")
    def _open_stream(self) -> None:
        from core.fleet.live import RemoteStream
        from core.fleet.registry import get_host
        from core.usecases import fleet

        try:
            s = RemoteStream(get_host(self.host), self.profile, self._events, self._error, fleet.fleet_settings())
        except Exception as e:
            self._error(str(e))
            return
        self.stream = s
        s.start()

    def _events(self, evs: list) -> None:  # the stream's thread
        with self.lock:
            self.pending.extend(evs)
            self.error = ""

    def _error(self, msg: str) -> None:
        with self.lock:
            self.error = msg

    def _drain(self) -> None:
        with self.lock:
            evs, self.pending = self.pending, []
            err = self.error
        dash = self.query_one(ProfileDashboard)
        if evs:
            dash.model.apply_all(evs)
        dash.set_warnings([t("fleet.stream_error", error=err)] if err else [])
        st = dash.model.state if dash.model.state in ("running", "starting", "stopping", "stopped", "crashed",
                                                      "gave_up") else "unknown"
        dash.update_view(None, st)

    def remote_target(self) -> tuple[str, str] | None:
        return self.host, self.profile

    def on_unmount(self) -> None:
        if self.stream is not None:
            self.stream.stop()

    def action_close(self) -> None:
        self.app.pop_screen()
