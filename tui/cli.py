"""The `swarmdeck` command: no arguments opens the TUI; subcommands for everything else.

Each command group lives in its own module under tui/commands/ and exposes
`register(subparsers)`; a handler takes the parsed args and returns an exit code.
SwarmdeckError is printed as what / where / fix without a traceback, in the user's language: the same
setting as the TUI (config `language = "auto"|"en"|"ru"`; auto follows LC_ALL / LC_MESSAGES / LANG).
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from core import __version__
from core.base.errors import SwarmdeckError
from tui import cli_help
from tui.model import i18n

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
    "tui.commands.swarm_cmd",     # swarm host|invite|join (a swarm across machines)
    "tui.commands.alerts_cmd",    # alerts add|list|remove|test
    "tui.commands.metrics_cmd",   # metrics serve|show|service install (Prometheus)
    "tui.commands.serve_cmd",     # serve (the TUI in a browser)
    "tui.commands.standing_cmd",  # standing [--json] (on-chain standing over days)
    "tui.commands.events_cmd",    # events [-f] [--json] (a profile's typed events; the fleet's stream)
    "tui.commands.fleet_cmd",     # fleet add|list|remove|status|start|stop|restart|logs|watch (over SSH)
]


def build_parser() -> argparse.ArgumentParser:
    """The whole parser tree, its help texts in the current language (i18n.set_language first)."""
    cli_help.install_argparse_gettext()
    p = argparse.ArgumentParser(
        prog="swarmdeck",
        description="Run and manage RL swarm nodes. With no command, opens the terminal UI.",
        epilog="Run 'swarmdeck COMMAND --help' for a command's options. Docs: README.md and docs/",
    )
    p.add_argument("-p", "--profile", help="profile to act on (default: the current profile)")
    p.add_argument("--version", action="version", version=f"swarmdeck {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    for cmd in sub.choices.values():
        _accept_profile_option(cmd)
    return cli_help.translate(p)


def _accept_profile_option(parser: argparse.ArgumentParser) -> None:
    """`-p NAME` works before and after every command: `swarmdeck -p a status` = `swarmdeck status -p a`.

    SUPPRESS as default keeps a `-p` given before the command when none follows it."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for a in subs:
        for child in a.choices.values():
            _accept_profile_option(child)
    if not subs and "-p" not in parser._option_string_actions:
        parser.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS,
                            help="profile to act on (default: the current profile)")


def configured_language() -> str:
    """The language the TUI would pick: config's `language`, else the locale. A config that does not
    load is no reason to fail here (the command itself reports it): the locale decides then."""
    try:
        from core.config.settings import load_config

        setting = load_config(create=False, strict=False).language
    except Exception:
        setting = None
    return i18n.detect_language(setting)


def main(argv: list[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
        return code
    except BrokenPipeError:
        # `swarmdeck standing --json | head`: the reader has all it wants. Quiet, like other CLI tools:
        # point stdout at /dev/null so the exit flush does not raise again, and exit as SIGPIPE would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _main(argv: list[str] | None = None) -> int:
    i18n.set_language(configured_language())
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            from tui.app import run_tui

            return run_tui(profile=args.profile)
        return int(args.func(args) or 0)
    except SwarmdeckError as e:
        print(f"swarmdeck: {e.render()}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(i18n.t("cli.interrupted"), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
