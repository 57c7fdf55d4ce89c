"""`swarmdeck fleet add|list|remove|status|start|stop|restart|logs|watch`: the machines you run nodes on, over SSH.

All of it is core.usecases.fleet (the TUI's fleet view calls the same functions). docs/fleet.md explains
what crosses the wire (the fixed command set) and the security model (keys only, our own known_hosts).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time

from core.base.systemd import user_unit
from core.usecases import fleet


def _ask_key(keys) -> bool:
    from tui.model.i18n import t

    print(t("cli.fleet.first_contact"))
    for k in keys:
        print(f"  {k.keytype:<22} {k.fingerprint}")
    print(t("cli.fleet.compare"))
    print(t("cli.fleet.trust") + " ", end="", flush=True)
    answer = sys.stdin.readline()  # a script may answer on stdin; no input at all is a no
    if not answer:
        print("\n" + t("cli.fleet.no_answer"), file=sys.stderr)
    return answer.strip().lower() in ("y", "yes")


def cmd_add(args) -> int:
    res = fleet.add(args.name, args.target, identity=args.identity, swarmdeck=args.swarmdeck,
                    accept_new=args.accept_new, confirm=_ask_key)
    from tui.model.i18n import t

    if args.accept_new and not res["known_before"]:
        print(t("cli.fleet.accepted", fingerprints=", ".join(res["fingerprints"])))
    print(t("cli.fleet.added", name=res["name"], target=res["target"], version=res["version"], rtt=res["rtt_ms"],
            n=len(res["profiles"]), profiles=", ".join(res["profiles"]) or t("cli.fleet.none_yet")))
    print("  " + t("cli.fleet.see_all"))
    return 0


def cmd_list(args) -> int:
    from tui.model.i18n import t

    hs = fleet.hosts()
    if not hs:
        print(t("cli.fleet.no_hosts_identity"))
    for h in hs:
        extra = "  " + t("cli.fleet.key", path=h.identity) if h.identity else ""
        sd = f"  swarmdeck {h.swarmdeck}" if h.swarmdeck != "swarmdeck" else ""
        print(f"{h.name:<16} {h.target}{extra}{sd}")
    return 0


def cmd_remove(args) -> int:
    from tui.model.i18n import t

    h = fleet.remove(args.name)
    print(t("cli.fleet.removed", name=h.name, target=h.target))
    return 0


def _fmt(v, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def _state_word(state) -> str:
    from tui.model.i18n import current, t

    return t("state." + state) if state and current().has("state." + state) else str(state)


def render_text(st: dict) -> str:
    from core.base.errors import dict_part
    from tui.model.i18n import t, text

    if not st["hosts"]:
        return t("cli.fleet.no_hosts")
    lines = []
    for h in st["hosts"]:
        if h["reachable"] and not h["error"]:
            lines.append(f"{h['name']:<14} " + t("cli.fleet.reachable", rtt=_fmt(h["rtt_ms"], ".0f"), version=h["version"]))
        else:
            e = h["error"] or {}
            word = t("cli.fleet.unreachable" if not h["reachable"] else "cli.fleet.error")
            lines.append(f"{h['name']:<14} {word}: {text(dict_part(e, 'what'))}")
            if e.get("fix"):
                lines.append(f"{'':<14}   " + t("cli.status.fix", fix=text(dict_part(e, "fix"))))
        for p in h["profiles"]:
            dev = fleet.gpu_text(p.get("gpu"))
            alerts = ",".join(p["alerts"]) or "-"
            lines.append("  " + t("cli.fleet.profile_line", name=f"{p['name']:<14}", state=f"{_state_word(p['state']):<9}",
                                  round=f"{_fmt(p['round']):<6}", reward=f"{_fmt(p['last_reward'], '.3g'):<6}",
                                  peers=f"{_fmt(p['peers']):<4}", device=f"{dev:<12}", alerts=alerts))
        if h["reachable"] and not h["profiles"] and not h["error"]:
            lines.append("  " + t("fleet.no_profiles"))
    lines.append(t("cli.fleet.summary", n=len(st["hosts"]), seconds=st["seconds"]))
    return "\n".join(lines)


def cmd_status(args) -> int:
    st = fleet.status(args.hosts or None)
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
    else:
        print(render_text(st))
    return 0 if all(h["reachable"] and not h["error"] for h in st["hosts"]) else 3


def _verb(verb: str):
    def run(args) -> int:
        out = fleet.act(args.host, verb, args.remote_profile, now=getattr(args, "now", False),
                        lines=getattr(args, "lines", 100))
        sys.stdout.write(out)
        return 0
    return run


def cmd_watch(args) -> int:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())

    def note(msg: str) -> None:
        from tui.model.i18n import text

        print(f"{time.strftime('%H:%M:%S')} {text(msg)}", flush=True)

    return fleet.watch(args.interval, stop=done, note=note)


def unit_text(interval: float | None) -> str:
    # this module alone, not the whole CLI: less resident memory for a process that runs for weeks
    from pathlib import Path
    import shlex

    every = f" --interval {interval:g}" if interval else ""
    root = Path(__file__).resolve().parents[2]
    return user_unit("swarmdeck fleet watchtower (alerts when a machine of the fleet goes dark)",
                     f"{shlex.quote(sys.executable)} -m tui.commands.fleet_cmd watch{every}", str(root))


def cmd_service_install(args) -> int:
    from tui.commands import write_user_unit
    from tui.model.i18n import t

    unit = write_user_unit("swarmdeck-fleet-watch.service", unit_text(args.interval))
    print(t("cli.fleet.wrote", path=str(unit)))
    print(t("cli.fleet.enable"))
    print("  systemctl --user daemon-reload")
    print("  systemctl --user enable --now swarmdeck-fleet-watch.service")
    print(t("cli.fleet.alerts_go"))
    return 0


def register(sub) -> None:
    p = sub.add_parser("fleet", help="other machines you run nodes on, over SSH: status, control, watchtower")
    s = p.add_subparsers(dest="fleet_cmd", metavar="ACTION", required=True)
    a = s.add_parser("add", help="add a machine (checks SSH, its host key and the swarmdeck there first)")
    a.add_argument("name", help="a short name for the machine (letters, digits, - and _)")
    a.add_argument("target", help="[user@]host[:port] or a Host alias from ~/.ssh/config")
    a.add_argument("--identity", metavar="FILE", help="the SSH private key to log in with (default: ssh's own)")
    a.add_argument("--swarmdeck", default="swarmdeck", metavar="PATH",
                   help="the swarmdeck command on that machine (default: swarmdeck on its PATH)")
    a.add_argument("--accept-new", action="store_true", help="trust the host key on first contact without asking")
    a.set_defaults(func=cmd_add)
    s.add_parser("list", help="the machines of the fleet").set_defaults(func=cmd_list)
    r = s.add_parser("remove", help="remove a machine from the fleet")
    r.add_argument("name")
    r.set_defaults(func=cmd_remove)
    st = s.add_parser("status", help="every machine and its profiles (asked in parallel)")
    st.add_argument("hosts", nargs="*", help="only these machines")
    st.add_argument("--json", action="store_true", help="machine-readable (never a secret)")
    st.set_defaults(func=cmd_status)
    for verb, what in (("start", "start"), ("stop", "stop (gracefully)"), ("restart", "restart"),
                       ("logs", "show the log of")):
        v = s.add_parser(verb, help=f"{what} a profile's node on a machine of the fleet")
        v.add_argument("host")
        v.add_argument("remote_profile", metavar="PROFILE")
        if verb in ("stop", "restart"):
            v.add_argument("--now", action="store_true", help="kill at once (no checkpoint)")
        if verb == "logs":
            v.add_argument("-n", "--lines", type=int, default=100)
        v.set_defaults(func=_verb(verb))
    w = s.add_parser("watch", help="the watchtower: poll every machine, alert when one goes dark (foreground)")
    w.add_argument("--interval", type=float, default=None, metavar="S",
                   help="seconds between polls (default [fleet] poll_seconds)")
    w.set_defaults(func=cmd_watch)
    v = s.add_parser("service", help="run `fleet watch` as a systemd user service")
    vs = v.add_subparsers(dest="service_cmd", metavar="ACTION", required=True)
    i = vs.add_parser("install", help="write swarmdeck-fleet-watch.service")
    i.add_argument("--interval", type=float, default=None, metavar="S")
    i.set_defaults(func=cmd_service_install)


def main(argv: list[str] | None = None) -> int:
    """`python -m tui.commands.fleet_cmd watch ...`: the watchtower without loading the whole CLI."""
    from tui.commands import run_group

    return run_group("fleet", register, argv)


if __name__ == "__main__":
    sys.exit(main())
