"""Screenshots: the current screen as SVG (Textual's export_screenshot), saved under the data dir.

The SVG is rendered on the UI thread (it reads the compositor) and written by a thread, so the UI
thread does no file I/O; the notification names the file.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from core.base import paths
from tui.model.i18n import error_text, t


def screenshot_dir() -> Path:
    return paths.data_dir() / "screenshots"


def screenshot_path(profile: str | None, now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if now is None else now))
    return screenshot_dir() / f"swarmdeck-{profile or 'app'}-{stamp}.svg"


def _unique(path: Path) -> Path:
    n, out = 1, path
    while out.exists():
        n += 1
        out = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return out


def save_svg(app, profile: str | None) -> None:
    try:
        svg = app.export_screenshot(title=f"swarmdeck {profile or ''}".strip())
    except Exception as e:  # no driver (closing): nothing to show it on either
        app.notify(t("shot.failed", error=error_text(e)), severity="error")
        return

    def write() -> None:
        try:
            d = screenshot_dir()
            d.mkdir(parents=True, exist_ok=True)
            path = _unique(screenshot_path(profile))
            path.write_text(svg, encoding="utf-8")
            msg, sev = t("shot.saved", path=str(path)), "information"
        except OSError as e:
            msg, sev = t("shot.failed", error=f"{e.strerror or e} ({getattr(e, 'filename', '') or screenshot_dir()})"), "error"
        try:
            app.call_from_thread(app.notify, msg, severity=sev, timeout=10)
        except Exception:
            pass

    threading.Thread(target=write, name="swarmdeck-screenshot", daemon=True).start()
