"""The `swarmdeck` command: no arguments opens the TUI; subcommands for everything else.

Each command group lives in its own module under tui/commands/ and exposes
`register(subparsers)`; a handler takes the parsed args and returns an exit code.
SwarmdeckError is printed as what / where / fix without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from core import __version__
from core.base.errors import SwarmdeckError

# Order here is the order in --help.
COMMAND_MODULES = [
    "tui.commands.node_cmd",      # start, stop, restart, status, logs, service
    "tui.commands.login_cmd",     # login
    "tui.commands.profile_cmd",   # profile new|list|use|rename|archive|import
    "tui.commands.identity_cmd",  # identity show|backup|restore|verify
    "tui.commands.config_cmd",    # config validate|path
    "tui.commands.doctor_cmd",    # doctor
    "tui.commands.status_cmd",    # status [--json]
    "tui.commands.network_cmd",   # network up (the embedded local network)
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="swarmdeck",
        description="Run and manage RL swarm nodes. With no command, opens the terminal UI.",
        epilog="Run 'swarmdeck COMMAND --help' for a command's options. Docs: README.md",
    )
    p.add_argument("-p", "--profile", help="profile to act on (default: the current profile)")
    p.add_argument("--version", action="version", version=f"swarmdeck {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # command group not built yet
                continue
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from tui.app import run_tui

            return run_tui(profile=args.profile)
        return int(args.func(args) or 0)
    except SwarmdeckError as e:
        print(f"swarmdeck: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
