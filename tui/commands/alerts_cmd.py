"""`swarmdeck alerts add|list|remove|test`: where alerts go (apprise URLs, kept secret) and a test message."""

from __future__ import annotations

import getpass
import sys

from core.usecases import alerting


def _profile(args) -> str | None:
    return getattr(args, "profile", None)


def cmd_add(args) -> int:
    url = args.url
    if url in (None, "-"):
        # asked without echo (a bot token in the shell history or on screen is a leak)
        url = sys.stdin.readline().strip() if (url == "-" or not sys.stdin.isatty()) else \
            getpass.getpass("apprise URL (not shown): ").strip()
    n, path = alerting.add(url, _profile(args))
    print(f"added alert URL #{n} to {path} (mode 600); send a test: swarmdeck alerts test")
    return 0


def cmd_list(args) -> int:
    path, urls = alerting.listed(_profile(args))
    print(f"alert URLs in {path}:" if urls else f"no alert URL in {path}: add one with 'swarmdeck alerts add'")
    for i, u in enumerate(urls, 1):
        print(f"  {i}. {u}")
    return 0


def cmd_remove(args) -> int:
    print(f"removed alert URL #{args.number} ({alerting.remove(args.number, _profile(args))})")
    return 0


def cmd_test(args) -> int:
    results = alerting.send_test(_profile(args))
    bad = 0
    for u, ok in results:
        print(f"  {u}: {'delivered' if ok else 'FAILED'}")
        bad += not ok
    if bad:
        print(f"{bad} of {len(results)} URL(s) failed: check the URL (swarmdeck alerts list, then "
              f"remove N and add it again) and that this machine reaches the service", file=sys.stderr)
        return 1
    print(f"test message sent to {len(results)} URL(s)")
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
