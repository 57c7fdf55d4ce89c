"""The CLI's command groups, one module each (`register(subparsers)` adds a group's parser)."""

from __future__ import annotations

import sys
from typing import Callable


def run_group(group: str, register: Callable, argv: list[str] | None = None) -> int:
    """`python -m tui.commands.X_cmd ARGS`: one command group without loading the whole CLI (what the
    systemd units of `metrics serve` and `fleet watch` run). Errors print as the CLI prints them."""
    import argparse

    from core.base.errors import SwarmdeckError

    ap = argparse.ArgumentParser(prog="swarmdeck")
    register(ap.add_subparsers(dest="command"))
    args = ap.parse_args([group, *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except SwarmdeckError as e:
        print(f"swarmdeck: {e.render()}", file=sys.stderr)
        return e.exit_code


def write_user_unit(filename: str, text: str):
    """Write a systemd user unit (`service install`, `swarm host --systemd`) where `systemctl --user`
    reads it: $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user. Returns its path."""
    import os
    from pathlib import Path

    unit_dir = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"
    unit_dir.mkdir(parents=True, exist_ok=True)
    unit = unit_dir / filename
    unit.write_text(text)
    return unit
