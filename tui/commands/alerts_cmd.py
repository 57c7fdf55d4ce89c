"""`swarmdeck alerts add|list|remove|test`: where alerts go (apprise URLs, kept secret) and a test message."""

from __future__ import annotations

import getpass
import sys

from core.usecases import alerting
from tui.model.i18n import t


def _profile(args) -> str | None:
    return getattr(args, "profile", None)


def cmd_add(args) -> int:
    url = args.url
    if url in (None, "-"):
        # asked without echo (a bot token in the shell history or on screen is a leak)
        url = sys.stdin.readline().strip() if (url == "-" or not sys.stdin.isatty()) else \
            getpass.getpass(t("cli.alerts.ask_url")).strip()
    n, path = alerting.add(url, _profile(args))
    print(t("cli.alerts.added", n=n, path=path))
    return 0


def cmd_list(args) -> int:
    path, urls = alerting.listed(_profile(args))
    print(t("cli.alerts.listed", path=path) if urls else t("cli.alerts.none", path=path))
    for i, u in enumerate(urls, 1):
        print(f"  {i}. {u}")
    return 0


def cmd_remove(args) -> int:
    print(t("cli.alerts.removed", n=args.number, url=alerting.remove(args.number, _profile(args))))
    return 0


def cmd_test(args) -> int:
    results = alerting.send_test(_profile(args))
    bad = 0
    for u, ok in results:
        print(f"  {u}: {t('cli.alerts.delivered') if ok else t('cli.alerts.failed_one')}")
        bad += not ok
    if bad:
        print(t("cli.alerts.failed", bad=bad, n=len(results)), file=sys.stderr)
        return 1
    print(t("cli.alerts.sent", n=len(results)))
    return 0


def register(sub) -> None:
    p = sub.add_parser("alerts", help="alerts: where they go (apprise URLs) and a test message")
    s = p.add_subparsers(dest="alerts_cmd", metavar="ACTION", required=True)
    a = s.add_parser("add", help="add an apprise URL (asked without echo; '-' reads it from stdin)")
    a.add_argument("url", nargs="?", default=None, help="the URL (better: leave it out and paste it when asked)")
    a.set_defaults(func=cmd_add)
    s.add_parser("list", help="the URLs, redacted to their scheme").set_defaults(func=cmd_list)
    r = s.add_parser("remove", help="remove URL number N (see list)")
    r.add_argument("number", type=int)
    r.set_defaults(func=cmd_remove)
    s.add_parser("test", help="send one test message to every URL").set_defaults(func=cmd_test)
