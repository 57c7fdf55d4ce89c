"""A QR code drawn with block characters whose shape carries the modules.

Each character cell holds two modules, one above the other: the glyph's ink marks the light
modules (█ both, ▀ upper, ▄ lower, space neither), so the code needs no colour at all and
reads under NO_COLOR and on monochrome terminals, where the usual light ink on a dark
background gives the normal polarity. Where colours exist, light ink on black is set
explicitly, so light terminal themes show the same code. The quiet zone is light (ink).
"""

from __future__ import annotations

import segno
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

INK, PAPER = "bright_white", "black"  # light modules are ink; dark modules are the background
GLYPH = {(1, 1): "█", (1, 0): "▀", (0, 1): "▄", (0, 0): " "}  # (upper light, lower light) -> glyph
LIGHT_OF = {g: k for k, g in GLYPH.items()}


def qr_text(data: str, border: int = 2) -> Text:
    qr = segno.make(data, error="m")
    rows = [[0 if m else 1 for m in r] for r in qr.matrix_iter(scale=1, border=border)]  # 1 = light
    if len(rows) % 2:
        rows.append([1] * len(rows[0]))  # the quiet zone goes on below
    style = Style(color=INK, bgcolor=PAPER)
    out = Text(no_wrap=True, overflow="crop")
    for top, bottom in zip(rows[0::2], rows[1::2]):
        out.append("".join(GLYPH[(a, b)] for a, b in zip(top, bottom)), style)
        out.append("\n")
    out.rstrip()
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

    def set_data(self, data: str) -> None:
        if data != self.data:
            self.data = data
            self.update(qr_text(data))
