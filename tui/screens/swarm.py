"""Swarm across machines (command palette: "Swarm: host / invite / join"): host a swarm here (its
public address and name), the invite of each swarm this machine hosts (text + QR code) with its
host's parts (state, uptime, restarts, alerts: the lines of `swarm status`, refreshed every 10 s), and
joining a swarm by pasting its invite.

Everything that reads files or the network runs in a worker (tui.backend: core.usecases.swarm_hosting,
the same calls as `swarmdeck swarm host` / `swarm invite` / `swarm join`); the handlers only draw.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.model.i18n import error_text, t
from tui.model.swarm import host_status_lines
from tui.widgets.common import translate_bindings
from tui.widgets.qr import qr_text


class InvitesLoaded(Message):
    def __init__(self, invites: list[tuple[str, str]], error: str | None = None, status: dict | None = None):
        super().__init__()
        self.invites, self.error = invites, error
        self.status = status or {}  # name -> host_status (its parts, alerts, backup); absent when unreadable


class Joined(Message):
    def __init__(self, result: dict | None, error: str | None = None):
        super().__init__()
        self.result, self.error = result, error


class Hosted(Message):
    def __init__(self, invite: str | None, error: str | None = None):
        super().__init__()
        self.invite, self.error = invite, error


class SwarmScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "keys.close")]

    def __init__(self):
        super().__init__()
        translate_bindings(self)
        self._joining = False
        self._hosting = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help", id="swarm"):
            yield Static(t("swarm.title"), classes="dialog-title")
            with VerticalScroll():
                yield Static(t("swarm.loading"), id="swarm-invites")
                yield Static(t("swarm.host_label"))
                yield Input(placeholder=t("swarm.host_addr_placeholder"), id="swarm-host-addr")
                yield Input(placeholder=t("swarm.host_name_placeholder"), id="swarm-host-name")
                yield Static("", id="swarm-host-result")
                yield Static(t("swarm.join_label"))
                yield Input(placeholder=t("swarm.invite_placeholder"), id="swarm-invite")
                yield Input(placeholder=t("swarm.profile_placeholder"), id="swarm-profile")
                yield Static("", id="swarm-join-result")
            yield Static(t("swarm.close"), classes="dim")

    def on_mount(self) -> None:
        self._load()
        self.set_interval(10.0, self._load)  # the parts' states move (a restart, a bootnode down)

    @work(thread=True, exclusive=True, group="swarm-invites")
    def _load(self) -> None:
        try:
            invites = self.app.backend.swarm_invites()
        except Exception as e:  # SwarmdeckError carries what/where/fix
            self.post_message(InvitesLoaded([], error=error_text(e)))
            return
        status = {}
        for name, _ in invites:
            try:
                status[name] = self.app.backend.swarm_host_status(name)
            except Exception:  # noqa: BLE001 - the invite still shows; `swarm status` gives the error
                pass
        self.post_message(InvitesLoaded(invites, status=status))

    def on_invites_loaded(self, msg: InvitesLoaded) -> None:
        body = Text()
        if msg.error:
            body.append("✗ " + msg.error)
        elif not msg.invites:
            body.append(t("swarm.none_hosted"))
        for name, invite in msg.invites:
            body.append(t("swarm.invite_of", name=name) + "\n", style="bold")
            if invite.startswith("swarmdeck-invite1."):
                body.append(invite + "\n")
                body.append_text(qr_text(invite, border=1))
                body.append("\n")
            else:
                body.append("✗ " + invite + "\n")
            if name in msg.status:
                body.append("\n".join(host_status_lines(msg.status[name])) + "\n\n")
        self.query_one("#swarm-invites", Static).update(body)

    def on_input_submitted(self, ev: Input.Submitted) -> None:
        if ev.input.id in ("swarm-host-addr", "swarm-host-name"):
            self._submit_host()
            return
        invite = self.query_one("#swarm-invite", Input).value.strip()
        if self._joining:
            return
        if not invite:
            self.query_one("#swarm-join-result", Static).update(Text("✗ " + t("swarm.invite_missing")))
            self.query_one("#swarm-invite", Input).focus()
            return
        self._joining = True
        self.query_one("#swarm-join-result", Static).update(t("swarm.joining"))
        self._join(invite, self.query_one("#swarm-profile", Input).value.strip() or None)

    @work(thread=True, exclusive=True, group="swarm-join")
    def _join(self, invite: str, profile: str | None) -> None:
        try:
            self.post_message(Joined(self.app.backend.swarm_join(invite, profile)))
        except Exception as e:
            self.post_message(Joined(None, error=error_text(e)))

    def on_joined(self, msg: Joined) -> None:
        self._joining = False
        out = self.query_one("#swarm-join-result", Static)
        if msg.error is not None:
            out.update(Text("✗ " + msg.error))
            return
        r = msg.result or {}
        out.update(Text(t("swarm.joined", network=r.get("network", "?"), profile=r.get("profile", "?"),
                          address=r.get("address", "?"))))

    def _submit_host(self) -> None:
        addr_field = self.query_one("#swarm-host-addr", Input)
        addr = addr_field.value.strip()
        if self._hosting:
            return
        if not addr:  # Enter with nothing typed: say what is missing instead of doing nothing
            self.query_one("#swarm-host-result", Static).update(Text("✗ " + t("swarm.host_addr_missing")))
            addr_field.focus()
            return
        self._hosting = True
        self.query_one("#swarm-host-result", Static).update(t("swarm.hosting"))
        self._host(self.query_one("#swarm-host-name", Input).value.strip() or "myswarm", addr)

    @work(thread=True, exclusive=True, group="swarm-host")
    def _host(self, name: str, addr: str) -> None:
        try:
            self.post_message(Hosted(self.app.backend.swarm_host(name, addr)))
        except Exception as e:
            self.post_message(Hosted(None, error=error_text(e)))

    def on_hosted(self, msg: Hosted) -> None:
        self._hosting = False
        out = self.query_one("#swarm-host-result", Static)
        out.update(Text("✗ " + msg.error) if msg.error is not None else t("swarm.hosted"))
        if msg.error is None:
            self._load()  # the new swarm's invite and QR code

    def action_close(self) -> None:
        self.dismiss(None)
