"""Standing over days (key t on the dashboard): every profile's on-chain totals, rank, deltas and history.

The chain and events.jsonl are read by a worker (tui.backend: core.usecases.standing); the handlers
only draw. r reads again; Esc closes.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.model.i18n import error_text, t
from tui.model.standing import render_text
from tui.widgets.common import translate_bindings


class StandingLoaded(Message):
    def __init__(self, text: str, error: str | None = None):
        super().__init__()
        self.text, self.error = text, error


class StandingScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,t", "close", "keys.close"), Binding("r", "reload", "keys.retry")]

    def __init__(self, names: list[str]):
        super().__init__()
        translate_bindings(self)
        self.names = names
        self._busy = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help", id="standing"):
            yield Static(t("standing.title"), classes="dialog-title")
            with VerticalScroll():
                yield Static(t("standing.loading"), id="standing-body")
            yield Static(t("standing.close"), classes="dim")

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        if self._busy:
            return
        self._busy = True
        self.query_one("#standing-body", Static).update(t("standing.loading"))
        self._load(list(self.names))

    @work(thread=True, exclusive=True, group="standing")
    def _load(self, names: list[str]) -> None:
        try:
            st = self.app.backend.standing(names)
            self.post_message(StandingLoaded(render_text(st)))
        except Exception as e:  # SwarmdeckError carries what/where/fix
            self.post_message(StandingLoaded("", error=error_text(e)))

    def on_standing_loaded(self, msg: StandingLoaded) -> None:
        self._busy = False
        self.query_one("#standing-body", Static).update(Text(msg.text if msg.error is None else "✗ " + msg.error))

    def action_close(self) -> None:
        self.dismiss(None)
