"""`swarmdeck config path|validate|reset`."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone

from tui.model.i18n import M, t


def register(sub) -> None:
    p = sub.add_parser("config", help="show, check or reset the config file",
                       description="config.toml holds every setting (profiles, networks, TUI). "
                       "It is created from config.example.toml on first run.")
    csub = p.add_subparsers(dest="config_cmd", metavar="ACTION", required=True)
    q = csub.add_parser("path", help="print the config file's path (creating it from the example on first run)")
    q.set_defaults(func=cmd_path)
    q = csub.add_parser("validate", help="check the config and list every problem with its line")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.add_argument("file", nargs="?", help="file to check (default: the config in use)")
    q.set_defaults(func=cmd_validate)
    q = csub.add_parser("reset", help="move the current config aside (kept as a .bak file) and start from the example")
    q.set_defaults(func=cmd_reset)


def cmd_path(args) -> int:
    from core.config.settings import ensure_config

    path, created = ensure_config()
    print(path)
    if created:
        print(t("cli.config.created"), flush=True)
    return 0


def cmd_validate(args) -> int:
    from pathlib import Path

    from core.config.settings import Problem, ensure_config, validate_text
    from core.base.errors import ConfigError

    if args.file:
        path = Path(args.file)
    else:
        path, _ = ensure_config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(M("err.config.missing"), where=str(path), fix=M("err.config.check_path")) from None
    except UnicodeDecodeError:
        text = None
    problems = ([Problem(str(path), None, "", M("config.p.not_utf8"))] if text is None
                else validate_text(text, str(path))[1])
    if args.json:
        print(json.dumps({"file": str(path), "ok": not problems, "problems": [p.to_dict() for p in problems]},
                         indent=2))
    elif problems:
        n = len(problems)
        print(t("cli.config.problems_one" if n == 1 else "cli.config.problems", path=path, n=n))
        for p in problems:
            print(f"  {p.render()}")
    else:
        print(t("cli.config.ok", path=path))
    return 1 if problems else 0


def cmd_reset(args) -> int:
    from core.config.settings import config_path, ensure_config

    path = config_path()
    if path.exists():
        bak = path.with_name(f"{path.name}.bak-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}")
        os.rename(path, bak)
        print(t("cli.config.moved", bak=bak))
    ensure_config()
    print(t("cli.config.wrote", path=path))
    print(t("cli.config.reset_note"))
    return 0
