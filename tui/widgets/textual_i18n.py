"""Textual's own strings in the user's language: its widgets' key bindings (the help screen lists them:
"Focus Next", "Copy selected text"...), the footer's "palette" key, and the command palette.

Textual declares these in English at class level. The catalog has each under `textual.<slug of the
English text>` ("Focus Next" -> textual.focus_next); `localize_textual()` gives every binding map a
translated copy, always made from the original English one, so switching the language back and forth
(tests run apps in both) never translates a translation. A text with no catalog entry stays as
Textual wrote it (a newer Textual's new binding is visible in English, never missing).
"""

from __future__ import annotations

import dataclasses
import re

from textual.binding import Binding, BindingsMap
from textual.command import CommandPalette
from textual.dom import DOMNode
from textual.widgets import _key_panel  # noqa: F401  (its classes' bindings are translated too)

from tui.model.i18n import current

_ORIGINAL: dict[type, BindingsMap] = {}


def textual_key(english: str) -> str:
    return "textual." + re.sub(r"[^a-z0-9]+", "_", english.lower()).strip("_")


def tr_textual(english: str) -> str:
    """Textual's English text in the current language (as it is when the catalog has no entry)."""
    key = textual_key(english)
    tr = current()
    return tr(key) if tr.has(key) else english


def _tr_binding(b: Binding) -> Binding:
    if not b.description or b.description.startswith("keys."):  # ours: tui.widgets.common.translate_bindings
        return b
    return dataclasses.replace(b, description=tr_textual(b.description),
                               tooltip=tr_textual(b.tooltip) if b.tooltip else b.tooltip)


def _translated(bm: BindingsMap) -> BindingsMap:
    return BindingsMap.from_keys({k: [_tr_binding(b) for b in bl] for k, bl in bm.key_to_bindings.items()})


def _subclasses(cls: type):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def localize_textual() -> None:
    """Translate the class-level bindings of every widget and screen class defined so far (instances
    created afterwards copy them)."""
    for cls in set(_subclasses(DOMNode)):
        mb = cls.__dict__.get("_merged_bindings")
        if mb is None:
            continue
        original = _ORIGINAL.setdefault(cls, mb)
        cls._merged_bindings = _translated(original)


def localize_instance(node: DOMNode) -> None:
    """Translate the bindings an instance holds that its class did not give it (the palette key the app
    adds in __init__). Call once per instance: a translation is not looked up again."""
    kb = node._bindings.key_to_bindings
    for key, blist in list(kb.items()):
        kb[key] = [_tr_binding(b) for b in blist]


class LocalizedCommandPalette(CommandPalette):
    """The command palette with its placeholder and its "no matches" line in the user's language."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("placeholder", tr_textual("Search for commands…"))
        super().__init__(*args, **kwargs)

    def _start_no_matches_countdown(self, search_value: str) -> None:
        super()._start_no_matches_countdown(search_value)
        timer = getattr(self, "_no_matches_timer", None)
        if timer is None:
            return
        # Textual's timer adds an English option; ours adds the same option in the user's language.
        timer.stop()
        from rich.align import Align
        from rich.text import Text
        from textual.command import CommandList
        from textual.widgets.option_list import Option

        def show() -> None:
            if search_value:
                self.query_one(CommandList).add_option(Option(
                    Align.center(Text(tr_textual("No matches found"), style="not bold")),
                    disabled=True, id=self._NO_MATCHES))
                self._list_visible = True
            else:
                self._list_visible = False

        self._no_matches_timer = self.set_timer(self._NO_MATCHES_COUNTDOWN, show)
