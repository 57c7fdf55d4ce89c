"""Login screen: URL, QR code, the ssh -L line over SSH, live status with what to do if stuck."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from core.i18n import t
from tui.widgets.common import translate_bindings
from tui.widgets.qr import QRCode

STEPS = ("waiting", "activated", "registered")
STALL_AFTER_S = {"waiting": 60.0, "signed_in": 60.0, "activated": 120.0}


class LoginScreen(Screen[str]):
    """Dismisses with the last status seen (waiting / signed_in / activated / registered)."""

    BINDINGS = [
        Binding("escape", "close", "keys.later"),
        Binding("enter", "done", "keys.continue"),
        Binding("r", "retry", "keys.retry"),
    ]

    def __init__(self, profile: str):
        super().__init__()
        translate_bindings(self)
        self.profile = profile
        self.status = "waiting"
        self._since = 0.0
        self.service_note: str | None = None

    def compose(self) -> ComposeResult:
        be = self.app.backend
        self.url = be.login_url(self.profile)
        self.port = be.login_port(self.profile)
        with Vertical(id="login"):
            with Horizontal(id="login-top"):
                yield QRCode(self.url, id="qr")
                with Vertical(id="login-text"):
                    yield Static(t("login.title", name=self.profile), classes="dialog-title")
                    yield Static(t("login.open"), classes="hint")
                    yield Static(Text(self.url, style="bold underline"), id="url")
                    yield Static("", id="login-status")
            yield Static(t("login.ssh_hint"), classes="hint", id="ssh-hint")
            yield Static("", id="ssh-line")
            yield Static("", id="login-stall", classes="hint")
        yield Footer()

    def on_mount(self) -> None:
        self._since = self.app.now()
        self._show_url(self.url, self.port)
        self._start_service()
        self.poll()
        if self.app.refresh_s > 0:
            self.set_interval(1.0, self.poll, name="login-poll")

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
            self.app.call_from_thread(self._service_failed, str(e))
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
        be = self.app.backend
        st = be.login_status(self.profile, registered=be.registered_from_events(self.profile))
        if st != self.status:
            self.status = st
            self._since = self.app.now()
        self._draw()

    def _draw(self) -> None:
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
            hint = t("login.stall.waiting", port=self.app.backend.login_port(self.profile))
        if self.service_note:
            hint = self.service_note + ("\n" + hint if hint else "")
        net = self.app.net_line() if hasattr(self.app, "net_line") else ""
        if net:
            hint = net + ("\n" + hint if hint else "")
        self.query_one("#login-stall", Static).update(hint)

    def action_retry(self) -> None:
        self._since = self.app.now()
        self._start_service()
        self.poll()

    def action_done(self) -> None:
        self.dismiss(self.status)

    def action_close(self) -> None:
        self.dismiss(self.status)
