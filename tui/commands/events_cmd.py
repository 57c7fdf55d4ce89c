"""`swarmdeck events [--follow] [--json] [-n N] [-p NAME]`: a profile's typed events (events.jsonl).

The fleet reads a remote profile's dashboard through this over SSH (`events --follow --json`): one JSON
event per line, flushed per batch; nothing is sent while nothing happens (no heartbeat of our own: ssh's
keepalive notices a dead link). Never a secret: events carry none.
"""

from __future__ import annotations

import sys
import time

from core.base.paths import ProfilePaths
from core.events.reader import EventSource, tail_events
from core.usecases.profile_state import resolve_profile

POLL_S = 0.5


def _text(ev) -> str:
    d = ev.to_wire()
    body = " ".join(f"{k}={v}" for k, v in d.items() if k not in ("v", "type", "ts", "seq", "profile"))
    return f"{time.strftime('%H:%M:%S', time.localtime(ev.ts))} {ev.type} {body}"


def _follow_all(out) -> int:
    """--all: new events of every profile (each stamped with its profile's name), profiles made meanwhile too."""
    from dataclasses import replace

    from core.usecases.profile_state import profiles_on_disk

    sources: dict[str, EventSource] = {}
    try:
        while True:
            for name in profiles_on_disk():
                if name not in sources:
                    sources[name] = EventSource(ProfilePaths(name).events_file, history_bytes=0)
                    sources[name].poll()
            lines = []
            for name, src in sources.items():
                lines += [(ev if ev.profile else replace(ev, profile=name)).to_json() + "\n" for ev in src.poll()]
            if lines:
                out.write("".join(lines))
                out.flush()
            time.sleep(POLL_S)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


def cmd_events(args) -> int:
    if args.all:
        if not (args.follow and args.json):
            from core.base.errors import SwarmdeckError
            raise SwarmdeckError("--all goes with --follow --json", where="swarmdeck events --all",
                                 fix="swarmdeck events --follow --json --all")
        return _follow_all(sys.stdout)
    name = resolve_profile(getattr(args, "profile", None))
    path = ProfilePaths(name).events_file
    out = sys.stdout
    show = (lambda ev: ev.to_json()) if args.json else _text
    for ev in tail_events(path, max(0, args.lines)) if args.lines else []:
        out.write(show(ev) + "\n")
    out.flush()
    if not args.follow:
        return 0
    src = EventSource(path, history_bytes=0)
    src.poll()  # start at the end: history came from tail_events above
    try:
        while True:
            evs = src.poll()
            if evs:
                out.write("".join(show(ev) + "\n" for ev in evs))
                out.flush()
            time.sleep(POLL_S)
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


def register(sub) -> None:
    p = sub.add_parser("events", help="a profile's events (round, reward, state...); -f follows; --json for machines")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new events as they come")
    p.add_argument("--json", action="store_true", help="one JSON event per line")
    p.add_argument("-n", "--lines", type=int, default=20, help="events of history first (default 20)")
    p.add_argument("--all", action="store_true", help="with --follow --json: every profile's new events")
    p.set_defaults(func=cmd_events)
