"""Two processes creating profiles at once lose nothing (moved from tests/unit: it starts processes)."""

from __future__ import annotations

from pathlib import Path

from core.config import settings as config


def test_concurrent_profile_creation_loses_nothing():
    """Two processes adding profiles at once: the config lock prevents lost updates."""
    import subprocess
    import sys

    config.load_config()  # first-run creation outside the race
    code = ("import sys; from core.identity import profiles\n"
            "for i in range(6): profiles.create_profile(f'{sys.argv[1]}{i}', identity=False)\n")
    repo = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, pfx], cwd=repo) for pfx in ("a", "b")]
    assert [p.wait(120) for p in procs] == [0, 0]
    names = set(config.load_config().profile_names())
    assert {f"{x}{i}" for x in "ab" for i in range(6)} <= names
