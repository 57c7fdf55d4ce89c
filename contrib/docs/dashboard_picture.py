"""Make docs/dashboard.svg: the dashboard as the app itself saves it (ctrl+s, tui/screenshot.py).

    .venv/bin/python -m contrib.docs.dashboard_picture [OUT.svg]

Runs the real TUI headless (Textual's Pilot) in a throw-away SWARMDECK_HOME with one signed-in, backed-up
profile on the local network and a recorded node history (tests/helpers/tui.py: rounds, rewards, peers,
submissions), presses ctrl+s and copies the SVG the app wrote. CPU mode telemetry, frozen clock.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path


async def _shoot(out: Path) -> None:
    from core.config.settings import load_config
    from core.identity import profiles as prof
    from tests.helpers.tui import FROZEN_NOW, FrozenTelemetry, node_history, screen_text, until, write_events
    from tui.app import make_app
    from tui.screenshot import screenshot_dir

    cfg = load_config()
    if "default" in cfg.profile_names():
        cfg.remove_profile("default")
        cfg.set_current_profile("")
        cfg.save()
    from core.identity.backup import create_backup
    from tests.helpers.identity import signed_in

    signed_in("alpha")  # a signed-in profile with a verified backup: the dashboard a user sees day to day
    prof.use_profile("alpha")
    backups = Path(os.environ["SWARMDECK_HOME"]) / "backups"
    backups.mkdir()
    create_backup("alpha", backups, "a docs picture passphrase", scrypt_n=2**12)
    history = [(k, {"mode": "fp32", "device": "cpu", "reason": "no GPU: the local demo model", "model": "demo"} if k == "node.mode" else d)
               for k, d in node_history(12)]
    write_events("alpha", history)
    app = make_app(refresh=0, now=lambda: FROZEN_NOW, startup_flows=False, telemetry=FrozenTelemetry(cpu_mode=True))
    async with app.run_test(size=(110, 32)) as pilot:
        await until(pilot, lambda: "stopped" in screen_text(app), 30,
                    "the profile state", app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screenshot_dir().exists() and list(screenshot_dir().glob("*.svg")), 30,
                    "the screenshot", app)
        [svg] = list(screenshot_dir().glob("*.svg"))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, out)
    print(f"wrote {out}")


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard.svg").resolve()
    home = tempfile.mkdtemp(prefix="swarmdeck-docs-picture-")
    os.environ.update(SWARMDECK_HOME=home, HOME=home, TZ="UTC", LANG="C.UTF-8")
    os.environ.pop("LC_ALL", None)
    os.environ.pop("LC_MESSAGES", None)
    try:
        asyncio.run(_shoot(out))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
