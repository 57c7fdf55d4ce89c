"""A QR code drawn with block characters whose shape carries the modules.

Each character cell holds two modules, one above the other: the glyph's ink marks the light
modules (█ both, ▀ upper, ▄ lower, space neither), so the code needs no colour at all and
reads under NO_COLOR and on monochrome terminals, where the usual light ink on a dark
background gives the normal polarity. Where colours exist, white ink on black is set explicitly
as RGB values (a terminal theme remaps the named palette colours, not these), so any theme shows
the same code. The quiet zone is light (ink).

Without colour the terminal's own foreground is the ink: on a light background the code above is
drawn inverted. `inverted=True` draws the other polarity (ink marks the dark modules, the quiet zone
is blank, i.e. the light background): the login screen's `i` switches, and says so (issue 20).
"""

from __future__ import annotations

import segno
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

INK, PAPER = "#ffffff", "#000000"  # light modules are ink; dark modules the background (RGB: no theme remaps it)
GLYPH = {(1, 1): "█", (1, 0): "▀", (0, 1): "▄", (0, 0): " "}  # (upper light, lower light) -> glyph
LIGHT_OF = {g: k for k, g in GLYPH.items()}


def qr_text(data: str, border: int = 2, inverted: bool = False) -> Text:
    qr = segno.make(data, error="m")
    # 1 = drawn with ink: the light modules (normal), or the dark ones (inverted, for light backgrounds)
    rows = [[(1 if m else 0) if inverted else (0 if m else 1) for m in r]
            for r in qr.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([0 if inverted else 1] * len(rows[0]))  # the quiet zone goes on below
    style = Style(color=PAPER, bgcolor=INK) if inverted else Style(color=INK, bgcolor=PAPER)
    out = Text(no_wrap=True, overflow="crop")
    pairs = list(zip(rows[0::2], rows[1::2]))
    for i, (top, bottom) in enumerate(pairs):
        out.append("".join(GLYPH[(a, b)] for a, b in zip(top, bottom)), style)
        if i < len(pairs) - 1:
            out.append("\n")  # no trailing strip: the inverted code's blank quiet zone is part of it
    return out


def qr_matrix(lines: list[str]) -> list[list[int]]:
    """Modules (1 = dark) read back from the drawn characters alone, as a monochrome terminal shows them."""
    rows: list[list[int]] = []
    for line in lines:
        cells = [LIGHT_OF[c] for c in line]
        rows += [[1 - a for a, _ in cells], [1 - b for _, b in cells]]
    return rows


class QRCode(Static):
    DEFAULT_CSS = "QRCode { width: auto; height: auto; }"

    def __init__(self, data: str, **kw):
        super().__init__(qr_text(data), **kw)
        self.data = data
        self.inverted = False

    def set_data(self, data: str) -> None:
        if data != self.data:
            self.data = data
            self.update(qr_text(data, inverted=self.inverted))

    def toggle_inverted(self) -> None:
        self.inverted = not self.inverted
        self.update(qr_text(self.data, inverted=self.inverted))
