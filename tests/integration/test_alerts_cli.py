"""`swarmdeck alerts add|list|test|remove` as a user runs them (the real CLI process): the URL goes in on
stdin, is stored 0600 and never printed; `alerts test` sends exactly one message to a real receiver."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from core.alerts import urls_path
from core.config.settings import AlertSettings
from tests.helpers.receiver import Receiver

SECRET = "TOKENabc123456789"


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", "alerts", *args], input=stdin, capture_output=True,
                          text=True, timeout=60)


def test_alerts_cli_add_list_test_remove():
    with Receiver() as rx, Receiver(status=500) as bad:
        r = cli("add", "-", stdin=rx.json_url(SECRET) + "\n")
        assert r.returncode == 0, r.stderr
        p = urls_path(AlertSettings())
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        r = cli("list")
        assert r.returncode == 0 and "1. json://…" in r.stdout and SECRET not in r.stdout + r.stderr
        r = cli("test")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "delivered" in r.stdout and SECRET not in r.stdout + r.stderr
        msgs = rx.wait_for(1)
        assert len(msgs) == 1 and msgs[0]["body"]["title"].startswith("swarmdeck test alert")
        # a URL that fails: exit 1, named by its scheme only
        assert cli("add", "-", stdin=bad.json_url(SECRET + "x") + "\n").returncode == 0
        r = cli("test")
        assert r.returncode == 1 and "FAILED" in r.stdout and SECRET not in r.stdout + r.stderr
        assert len(rx.messages) == 2
        assert cli("remove", "2").returncode == 0
        assert cli("test").returncode == 0
        # readable by others: refused with the fix
        os.chmod(p, 0o644)
        r = cli("test")
        assert r.returncode != 0 and f"chmod 600 {p}" in r.stderr and SECRET not in r.stderr
