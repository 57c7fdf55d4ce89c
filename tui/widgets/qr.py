"""A QR code drawn with half-block characters.

Each character cell carries two modules (upper half = foreground, lower = background), and
both colours are set explicitly (black on white, with a white quiet zone) so the code reads
the same on dark and light terminal themes and on 16-colour terminals.
"""

from __future__ import annotations

import segno
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

DARK, LIGHT = "black", "bright_white"


def qr_text(data: str, border: int = 2) -> Text:
    qr = segno.make(data, error="m")
    rows = [list(r) for r in qr.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    out = Text(no_wrap=True, overflow="crop")
    styles = {(a, b): Style(color=DARK if a else LIGHT, bgcolor=DARK if b else LIGHT)
              for a in (0, 1) for b in (0, 1)}
    for top, bottom in zip(rows[0::2], rows[1::2]):
        for a, b in zip(top, bottom):
            out.append("▀", styles[(1 if a else 0, 1 if b else 0)])
        out.append("\n")
    out.rstrip()
    return out


def qr_matrix(text: Text) -> list[list[int]]:
    """Decode the drawn Text back to modules (tests check what is on screen against segno)."""
    rows: list[list[int]] = []
    for line in text.split("\n"):
        top, bottom = [], []
        for span in sorted(line.spans, key=lambda s: s.start):
            st = span.style
            for _ in range(span.end - span.start):
                top.append(1 if st.color.name == DARK else 0)
                bottom.append(1 if st.bgcolor.name == DARK else 0)
        rows += [top, bottom]
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
