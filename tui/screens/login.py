"""Login screen: URL, QR code, the ssh -L line over SSH, live status with what to do if stuck.

Local network: swarmdeck's own login service. Public testnet (any network that is not local): the
official modal-login app through core.login.modal_app: ask for its directory (or clone it, after
a yes), then build and start it with its steps shown, then the same URL / QR / ssh -L display,
then wait for the browser sign-in and the activation. Everything slow runs in a thread worker
that stops when the screen goes away; the app itself keeps running for the node.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Static

from core.base.errors import SwarmdeckError
from tui.model.i18n import error_text, t
from tui.screens.dialogs import ConfirmScreen
from tui.widgets.common import translate_bindings
from tui.widgets.qr import QRCode

if TYPE_CHECKING:
    from core.usecases.signin import ClonePlan

STEPS = ("waiting", "activated", "registered")
STALL_AFTER_S = {"waiting": 60.0, "signed_in": 60.0, "activated": 120.0}
# the official app's phases: locate (reading the configured app dir) -> none (no app dir yet) -> clone
# -> prepare -> wait -> done; error from any
APP_BUSY = ("clone", "prepare", "wait")
# ANSI colour/cursor sequences and other control characters in build output (never drawn raw)
_CONTROL_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]|[\x00-\x08\x0b-\x1f\x7f]")
# one clone / build / start per profile at a time, across screens: a screen closed during a build
# and opened again waits for the old run to wind down instead of running yarn beside it
_APP_LOCKS: dict[str, threading.Lock] = {}


def _app_lock(profile: str) -> threading.Lock:
    return _APP_LOCKS.setdefault(profile, threading.Lock())


def _acquire(lock: threading.Lock, stop: threading.Event) -> bool:
    while not lock.acquire(timeout=0.2):
        if stop.is_set():
            return False
    return True


@dataclass(frozen=True)
class LoginFacts:
    """What the screen is built from, read from the profile's config before it is pushed (in a
    worker: the UI thread reads no files)."""

    url: str
    port: int
    network: str
    kind: str  # local | testnet | custom


def read_login_facts(backend, name: str) -> LoginFacts:
    """Blocking (config reads): call from a worker."""
    port = backend.login_port(name)
    try:
        net_name, kind, _ = backend.network_kind(name)
        url = backend.login_url(name)
    except SwarmdeckError:  # the profile's network is unreadable: the local page, where it will listen
        net_name, kind, url = "", "local", f"http://localhost:{port}"
    return LoginFacts(url, port, net_name, kind)


class LoginScreen(Screen[str]):
    """Dismisses with the last status seen (waiting / signed_in / activated / registered)."""

    BINDINGS = [
        Binding("escape", "close", "keys.later"),
        Binding("enter", "done", "keys.continue"),
        Binding("r", "retry", "keys.retry"),
        Binding("c", "clone", "keys.clone"),  # official app only (check_action)
        Binding("i", "invert_qr", "keys.invert_qr"),  # a light-background terminal without colour
    ]
    AUTO_FOCUS = ""  # testnet: "c" must reach the screen; Tab (or a click) goes to the path field

    class AppProgress(Message):
        """From the official-app worker thread (post_message is thread-safe and never blocks)."""

        def __init__(self, run: int, kind: str, **data):
            super().__init__()
            self.run, self.kind, self.data = run, kind, data

    def __init__(self, profile: str, facts: LoginFacts):
        super().__init__()
        translate_bindings(self)
        self.profile = profile
        self.facts = facts
        self.url, self.port = facts.url, facts.port
        self.official = facts.kind != "local"  # the network signs in with the official modal-login app
        self.status = "waiting"
        self._since = 0.0
        self.service_note: str | None = None
        # official app: its configured dir is read first (on_mount's worker); until then no
        # question is asked and nothing can be cloned
        self.phase = "locate" if self.official else "none"
        self.steps: list[tuple[str, str]] = []  # (step, text) on screen now
        self.seen_steps: list[str] = []  # every step of this screen, in order (also for tests)
        self.app_line = ""  # the latest build output line
        self.error: SwarmdeckError | None = None
        self.app_info = None
        self._run = 0
        self._stop = threading.Event()

    def compose(self) -> ComposeResult:
        net_name = self.facts.network
        with Vertical(id="login"):
            with Horizontal(id="login-top"):
                yield QRCode(self.url, id="qr")
                with Vertical(id="login-text"):
                    yield Static(t("login.title", name=self.profile), classes="dialog-title")
                    yield Static(t("login.open"), classes="hint", id="login-open")
                    yield Static(Text(self.url, style="bold underline"), id="url")
                    yield Static(t("login.qr_invert_hint"), classes="hint", id="qr-hint")
                    yield Static("", id="login-status")
            if self.official:
                with Vertical(id="app-setup"):
                    yield Static(t("login.app.pick", network=net_name, name=self.profile), id="app-pick")
                    yield Input(placeholder=t("login.app.path_placeholder"), id="app-path")
                    yield Static("", id="app-error", classes="error")
                    yield Button(t("login.app.clone_button"), id="app-clone")
                    yield Static(t("login.app.or_import", name=self.profile), classes="hint", id="app-import")
            yield Static(t("login.ssh_hint"), classes="hint", id="ssh-hint")
            yield Static("", id="ssh-line")
            yield Static("", id="login-stall", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self._since = self.app.now()
        if self.official:
            self._app_begin()
        else:
            self._show_url(self.url, self.port)
            self._start_service()
        self.poll()
        if self.app.refresh_s > 0:
            self.set_interval(1.0, self.poll, name="login-poll")

    def on_unmount(self) -> None:
        self._stop.set()  # the worker stops waiting (and a build in progress is cancelled)

    def _show_url(self, url: str, port: int) -> None:
        self.url, self.port = url, port
        self.query_one("#url", Static).update(Text(url, style="bold underline"))
        self.query_one("#qr", QRCode).set_data(url)
        ssh = self.app.backend.ssh_tunnel_line(port)
        self.query_one("#ssh-line", Static).update(Text(ssh or "", style="bold"))
        self.query_one("#ssh-line").display = self.query_one("#ssh-hint").display = bool(ssh)

    @work(thread=True, exclusive=True, group="login-service")
    def _start_service(self) -> None:
        try:
            res = self.app.backend.ensure_login_service(self.profile)
        except Exception as e:
            self.app.call_from_thread(self._service_failed, error_text(e))
            return
        if res is None:  # not a local network: the official login app serves the page
            self.app.call_from_thread(self._official)
        else:
            self.app.call_from_thread(self._show_url, *res)

    def _official(self) -> None:
        self.service_note = t("login.official", name=self.profile)
        self._draw()

    def _service_failed(self, msg: str) -> None:
        self.service_note = "✗ " + msg
        self._draw()

    def poll(self) -> None:
        self._draw()  # the stall hint follows the clock; the files are read in a worker
        self._read_status()

    @work(thread=True, exclusive=True, group="login-poll")
    def _read_status(self) -> None:
        be = self.app.backend
        registered = be.registered_from_events(self.profile)
        # the official app's status follows its steps (a stale key on disk is not a sign-in)
        st = None if self.official else be.login_status(self.profile, registered=registered)
        self.app._from_thread(self._status_read, st, registered)

    def _status_read(self, st: str | None, registered: bool) -> None:
        if not self.is_attached:
            return
        if st is None:
            if self.status == "activated" and registered:
                self.status = "registered"
        elif st != self.status:
            self.status = st
            self._since = self.app.now()
        self._draw()

    def _draw(self) -> None:
        if self.official:
            self._draw_app()
            return
        txt = Text()
        # how many steps are done: the next one shows "…" (in progress), later ones nothing
        done = {"waiting": 0, "signed_in": 0, "activated": 2, "registered": 3}[self.status]
        for i, step in enumerate(STEPS):
            if i < done:
                txt.append("✔ ", style="bold green")
            elif i == done:
                txt.append("… ", style="bold yellow")
            else:
                txt.append("  ")
            txt.append(t(f"login.status.{step}") + "\n", style="bold" if i == done else "")
        if self.status == "signed_in":
            txt.append(t("login.status.signed_in") + "\n", style="yellow")
        self.query_one("#login-status", Static).update(txt)
        stalled = self.app.now() - self._since > STALL_AFTER_S.get(self.status, 1e9)
        hint = ""
        if self.status == "registered":
            hint = t("login.done")
        elif self.status == "activated":
            hint = t("login.stall.activated") if stalled else t("login.next_register")
        elif stalled:
            hint = t("login.stall.waiting", port=self.port)
        if self.service_note:
            hint = self.service_note + ("\n" + hint if hint else "")
        net = self.app.net_line()
        if net:
            hint = net + ("\n" + hint if hint else "")
        self.query_one("#login-stall", Static).update(hint)

    def action_retry(self) -> None:
        self._since = self.app.now()
        if self.official:
            self._app_begin()
        else:
            self._start_service()
        self.poll()

    # -- the official modal-login app (public testnet) -----------------------------------------
    def action_invert_qr(self) -> None:
        self.query_one("#qr", QRCode).toggle_inverted()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        official = self.official
        if action == "clone":
            return official and self.phase == "none"
        if action == "retry" and official:
            return self.phase not in ("locate", "clone", "prepare")  # work in progress: nothing to retry yet
        return True

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        running = phase in ("wait", "done")
        for sel in ("#qr", "#login-open", "#url", "#qr-hint"):
            self.query_one(sel).display = running
        if running:
            self._show_url(self.url, self.port)
        else:
            self.query_one("#ssh-line").display = self.query_one("#ssh-hint").display = False
        setup = self.query_one("#app-setup")
        setup.display = phase == "none"
        if phase != "none" and self.focused is not None and setup in self.focused.ancestors_with_self:
            self.set_focus(None)  # a hidden field must not keep taking Enter, r and q
        self.query_one("#login-status").display = phase != "none"
        self.refresh_bindings()
        self._draw()

    def _new_run(self) -> tuple[int, threading.Event]:
        self._stop.set()  # a worker still running from before stops and its messages are dropped
        self._run += 1
        self._stop = threading.Event()
        self.error, self.app_line, self.app_info = None, "", None
        return self._run, self._stop

    def _app_begin(self, path: str | None = None) -> None:
        """Use the configured app dir (ask for one when there is none), or first save the one typed
        in (checked in the worker), then build, start, wait."""
        run, stop = self._new_run()
        self.steps = []
        self.query_one("#app-error", Static).update("")
        self._set_phase("locate")  # the app dir is saved / read (and checked) in the worker
        self._app_flow(run, stop, False, path)

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if ev.input.id != "app-path":
            return
        ev.stop()
        path = ev.value.strip()
        if not path:
            self.query_one("#app-error", Static).update(Text("✗ " + t("login.app.empty_path")))
            return
        self._app_begin(path)

    def _show_path_error(self, e: SwarmdeckError) -> None:
        what, _, fix = e.localized()
        txt = Text("✗ " + what, style="bold")
        if fix:
            txt.append("\n" + t("login.app.fix", fix=fix), style="")
        self.query_one("#app-error", Static).update(txt)

    def on_button_pressed(self, ev: Button.Pressed) -> None:
        if ev.button.id == "app-clone":
            ev.stop()
            self.action_clone()

    def action_clone(self) -> None:
        if not (self.official and self.phase == "none"):
            return
        self._read_clone_plan()

    @work(thread=True, exclusive=True, group="login-clone-plan")
    def _read_clone_plan(self) -> None:
        try:
            plan = self.app.backend.login_app_clone_plan(self.profile)  # config read, a look at the disk
        except SwarmdeckError as e:
            self.app._from_thread(self._show_path_error, e)
            return
        self.app._from_thread(self._ask_clone, plan)

    def _ask_clone(self, plan: ClonePlan) -> None:
        if not self.is_attached or self.phase != "none":
            return

        def answered(yes: bool | None) -> None:
            if not yes or self.phase != "none":
                return
            run, stop = self._new_run()
            self.steps = []
            self._set_phase("clone")
            self._app_flow(run, stop, True)

        if plan.exists:  # cloned before: reused, nothing is downloaded
            answered(True)
            return
        self.app.push_screen(ConfirmScreen(t("login.app.consent", repo=plan.repo, commit=plan.commit[:8],
                                             dest=plan.dest)), answered)

    @work(thread=True, exclusive=True, group="login-app")
    def _app_flow(self, run: int, stop: threading.Event, clone: bool, path: str | None = None) -> None:
        be, name = self.app.backend, self.profile

        def say(kind: str, **data) -> None:
            if not stop.is_set():
                self.post_message(self.AppProgress(run, kind, **data))

        def progress(step: str, **params) -> None:
            say("step", step=step, params=params)

        try:
            if clone:
                if not self._clone(be, name, progress, stop):
                    return
            else:
                if path is not None:
                    try:  # checked (the app, not another profile's) before it is saved
                        be.use_login_app(name, path)
                    except SwarmdeckError as e:
                        say("ask_dir", error=e, typed=True)
                        return
                try:
                    if be.login_app_dir(name) is None:
                        say("ask_dir")
                        return
                except SwarmdeckError as e:  # configured, but gone or not the app: ask again, saying why
                    say("ask_dir", error=e)
                    return
            say("phase", phase="prepare")
            lock = _app_lock(name)
            if not _acquire(lock, stop):
                return
            try:
                app = be.start_login_app(name, progress=progress, stop=stop)
            finally:
                lock.release()
            if stop.is_set():
                return
            say("running", app=app)
            be.wait_login_app(name, app, progress=progress, stop=stop)
        except SwarmdeckError as e:
            say("error", error=e)
        except Exception as e:  # an OS error or a bug: shown with its type, never a dead screen
            say("error", error=SwarmdeckError(f"{type(e).__name__}: {e}"))

    def _clone(self, be, name: str, progress, stop: threading.Event) -> bool:
        """The clone runs in a daemon thread of its own (git cannot be told to stop midway): closing
        the screen or quitting does not wait minutes for it; a clone opened again waits for it and
        then reuses what it fetched. True when done, False when stopped; raises its error."""
        done, box = threading.Event(), {}

        def run() -> None:
            lock = _app_lock(name)
            try:
                with lock:
                    box["dir"] = be.clone_login_app(name, progress=progress)
            except BaseException as e:  # handed to the worker, which shows it
                box["error"] = e
            finally:
                done.set()

        threading.Thread(target=run, daemon=True, name=f"swarmdeck-clone-{name}").start()
        while not done.wait(0.2):
            if stop.is_set():
                return False
        if "error" in box:
            raise box["error"]
        return True

    def on_login_screen_app_progress(self, m: LoginScreen.AppProgress) -> None:
        if m.run != self._run:
            return  # from a run that was replaced (r) or cancelled
        if m.kind == "step":
            self._app_step(m.data["step"], m.data["params"])
        elif m.kind == "phase":
            self._set_phase(m.data["phase"])
        elif m.kind == "ask_dir":
            if m.data.get("error") is not None:
                self._show_path_error(m.data["error"])
            self._set_phase("none")
            if m.data.get("typed"):  # the path typed in was refused: the field again, to mend it
                self.query_one("#app-path", Input).focus()
        elif m.kind == "running":
            app = self.app_info = m.data["app"]
            self.url, self.port = app.url, app.port
            self.app_line = ""
            # the build steps are done: one line says where the app runs (the page is what matters now)
            self.steps = [("url", t("login.app.url", url=app.url))]
            self.seen_steps.append("url")
            self._set_phase("wait")
        elif m.kind == "error":
            self.error = m.data["error"]
            self._set_phase("error")

    def _app_step(self, step: str, params: dict) -> None:
        if "line" in params:  # build output: the latest line, shown dimmed under the step
            line = _CONTROL_RE.sub("", str(params["line"])).strip()
            width = max(20, self.size.width - 6)
            self.app_line = line if len(line) <= width else line[:width - 1] + "…"
            self._draw()
            return
        self.app_line = ""
        self.seen_steps.append(step)
        if self.steps and self.steps[-1][0].startswith("wait_"):
            self.steps.pop()  # "waiting for X" is done once X is there: its result line replaces it (80x24)
        self.steps.append((step, t(f"login.app.{step}", **params)))
        if step == "files":
            self.status = "signed_in"
        elif step == "activated":
            self.status = "activated"
            self._since = self.app.now()
            self._set_phase("done")
            return
        self._draw()

    def _draw_app(self) -> None:
        txt = Text()
        for i, (_, label) in enumerate(self.steps):
            last = i == len(self.steps) - 1
            if not last or self.phase == "done":
                txt.append("✔ ", style="bold green")
            elif self.phase == "error":
                txt.append("✗ ", style="bold red")
            else:
                txt.append("… ", style="bold yellow")
            txt.append(label + "\n", style="bold" if last and self.phase in APP_BUSY else "")
        if self.app_line and self.phase in ("clone", "prepare"):
            txt.append("  " + self.app_line + "\n", style="dim")
        if self.phase == "error" and self.error is not None:
            what, where, fix = self.error.localized()
            txt.append("✗ " + what + "\n", style="bold red")
            if where:
                txt.append("  " + where + "\n", style="dim")
            if fix:
                txt.append(t("login.app.fix", fix=fix) + "\n")
            txt.append(t("login.app.retry"), style="bold")
        self.query_one("#login-status", Static).update(txt)
        hint = t("login.done") if self.phase == "done" else ""
        net = self.app.net_line()
        if net:
            hint = net + ("\n" + hint if hint else "")
        self.query_one("#login-stall", Static).update(hint)

    def action_done(self) -> None:
        self.dismiss(self.status)

    def action_close(self) -> None:
        self.dismiss(self.status)
