"""The login screen's QR code scans without colour: the glyphs alone carry the modules.

What is on screen (the characters of the QR widget's cells, as a NO_COLOR or monochrome
terminal shows them) is drawn into an image and decoded with zbar (Debian zbar-tools)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import segno
from PIL import Image

from tests.helpers.tui import FrozenTelemetry, screen_text, until
from tui.backend import CoreBackend

data = CoreBackend()
from tui.app import make_app
from tui.screens.login import LoginScreen
from tui.widgets.qr import qr_matrix, qr_text

ZBARIMG = shutil.which("zbarimg")
needs_zbar = pytest.mark.skipif(ZBARIMG is None, reason="zbarimg missing: apt-get install zbar-tools (just setup)")
URL = "http://localhost:3999"


def _decode(modules: list[list[int]], path, scale: int = 8) -> str:
    """Draw modules (1 = dark) as a monochrome dark-theme terminal shows them and decode with zbar."""
    h, w = len(modules), len(modules[0])
    img = Image.new("L", ((w + 8) * scale, (h + 8) * scale), 255)
    px = img.load()
    for y, row in enumerate(modules):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    for dx in range(scale):
                        px[(x + 4) * scale + dx, (y + 4) * scale + dy] = 0
    img.save(path)
    out = subprocess.run([ZBARIMG, "--raw", "-q", str(path)], capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


def test_glyphs_alone_give_back_segnos_modules():
    for url in (URL, "https://example.org/a/rather/long/path?with=query&and=more"):
        lines = qr_text(url, border=0).plain.split("\n")
        want = [[1 if m else 0 for m in r] for r in segno.make(url, error="m").matrix_iter(scale=1, border=0)]
        got = qr_matrix(lines)
        assert got[:len(want)] == want
        assert all(not any(r) for r in got[len(want):])  # the padding row is light (quiet zone)


@needs_zbar
async def test_the_login_screens_qr_decodes_with_no_colour(profiles, monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    profiles("main", network="local", login_port=3999)

    class NoService(CoreBackend):  # the screen as it is before the service answers (no process started)
        @staticmethod
        def ensure_login_service(name):
            return (URL, 3999)

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), backend=NoService())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        r = app.screen.query_one("#qr").region
        lines = [ln.ljust(80) for ln in screen_text(app).split("\n")]
        cells = [ln[r.x:r.x + r.width] for ln in lines[r.y:r.y + r.height]]
    assert _decode(qr_matrix(cells), tmp_path / "screen-qr.png") == URL


def _as_light_terminal_shows(lines: list[str]) -> list[list[int]]:
    """Modules (1 = dark) as a light-background terminal without colour shows the glyphs: the ink is the
    terminal's dark foreground, the rest its light background."""
    return [[1 - m for m in row] for row in qr_matrix(lines)]


@needs_zbar
def test_a_light_background_terminal_decodes_the_inverted_drawing(tmp_path):
    """Issue 20: the QR decoded only when drawn light-on-dark; on a light-background terminal without
    colour it is inverted. `i` on the login screen draws the other polarity, which decodes there."""
    normal = qr_text(URL).plain.split("\n")
    inverted = qr_text(URL, inverted=True).plain.split("\n")
    assert _decode(qr_matrix(normal), tmp_path / "dark-terminal.png") == URL          # dark background
    assert _decode(_as_light_terminal_shows(inverted), tmp_path / "light-terminal.png") == URL
    # the quiet zone is the light background in both: blank cells around the inverted code
    assert set(inverted[0]) == {" "} and all(ln[0] == " " and ln[-1] == " " for ln in inverted)
    assert qr_text(URL).spans and "#ffffff" in str(qr_text(URL).spans[0].style).lower()  # RGB, not palette names


@needs_zbar
async def test_i_on_the_login_screen_inverts_the_qr(profiles, monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    profiles("main", network="local", login_port=3999)

    class NoService(CoreBackend):
        @staticmethod
        def ensure_login_service(name):
            return (URL, 3999)

    app = make_app(refresh=0, telemetry=FrozenTelemetry(), backend=NoService())
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), 10, "the login screen", app)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        r = app.screen.query_one("#qr").region
        lines = [ln.ljust(80) for ln in screen_text(app).split("\n")]
        cells = [ln[r.x:r.x + r.width] for ln in lines[r.y:r.y + r.height]]
    assert _decode(_as_light_terminal_shows(cells), tmp_path / "light-screen-qr.png") == URL
