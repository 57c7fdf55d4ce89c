"""Small modal screens: confirmation, help (every binding), profile switcher, message."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from tui.model.i18n import t
from tui.widgets.common import translate_bindings


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for destructive actions (stop, restart). y / Enter = yes; n / Esc = no."""

    BINDINGS = [Binding("y", "answer(True)", "keys.yes"), Binding("n,escape", "answer(False)", "keys.no")]

    def __init__(self, question: str, detail: str = ""):
        super().__init__()
        translate_bindings(self)
        self.question, self.detail = question, detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-title")
            if self.detail:
                yield Static(self.detail)
            yield Button(t("common.yes_key"), id="yes", variant="error")
            yield Button(t("common.no_key"), id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, ev: Button.Pressed) -> None:
        self.dismiss(ev.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    """Every binding of the screen below (and the app's), generated, so it can't go stale."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "keys.close")]

    def __init__(self, rows: list[tuple[str, str]]):
        super().__init__()
        translate_bindings(self)
        self.rows = rows

    def compose(self) -> ComposeResult:
        txt = Text()
        for key, desc in self.rows:
            txt.append(f"{key:>12}  ", style="bold")
            txt.append(desc + "\n")
        txt.append("\n" + t("help.palette") + "\n" + t("help.quit_note"), style="dim")
        with Vertical(classes="dialog help"):
            yield Static(t("help.title"), classes="dialog-title")
            with VerticalScroll():
                yield Static(txt, id="help-body")

    def action_close(self) -> None:
        self.dismiss(None)


class SwitcherScreen(ModalScreen[str | None]):
    """All profiles with their state; Enter switches."""

    BINDINGS = [Binding("escape", "close", "keys.close")]

    def __init__(self, profiles: list[tuple[str, str]], current: str | None):
        super().__init__()
        translate_bindings(self)
        self.profiles, self.current = profiles, current

    def compose(self) -> ComposeResult:
        opts = []
        for i, (name, state) in enumerate(self.profiles, 1):
            mark = "▶" if name == self.current else " "
            label = Text(f"{mark} {i if i < 10 else ' '} {name:<20} ")
            label.append(t("state." + state), style=STATE_STYLE.get(state, ""))
            opts.append(Option(label, id=name))
        with Vertical(classes="dialog"):
            yield Static(t("switcher.title"), classes="dialog-title")
            yield OptionList(*opts, id="profiles")
            yield Static(t("switcher.hint"), classes="hint")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        names = [n for n, _ in self.profiles]
        if self.current in names:
            ol.highlighted = names.index(self.current)
        ol.focus()

    def on_option_list_option_selected(self, ev: OptionList.OptionSelected) -> None:
        self.dismiss(ev.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


STATE_STYLE = {"running": "bold green", "starting": "green", "preparing": "green", "stopping": "yellow", "stopped": "dim", "crashed": "bold red",
               "needs_login": "bold yellow", "needs_backup": "bold yellow",
               "damaged": "bold red"}
