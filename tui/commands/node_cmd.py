"""Node commands: start, stop, restart, logs, service install. All are clients of the supervisor."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from core import supervisor
from core.base.systemd import user_unit
from core.base.paths import ProfilePaths
from core.usecases import node_control
from core.usecases.profile_state import resolve_profile


def _profile_name(args) -> str:
    return resolve_profile(getattr(args, "profile", None))


def _describe(st: dict) -> str:
    bits = [f"state {st.get('state')}"]
    if st.get("child_pid"):
        bits.append(f"node pid {st['child_pid']}")
    if st.get("round") is not None:
        bits.append(f"round {st['round']}")
    if st.get("restarts"):
        bits.append(f"{st['restarts']} restart(s)")
    if st.get("reason") and st.get("state") not in ("running",):
        bits.append(st["reason"])
    return ", ".join(bits)


def cmd_start(args) -> int:
    name = _profile_name(args)
    if args.foreground:
        return node_control.run_foreground(name, reset_downshift=args.reset_downshift)
    res = node_control.start(name, reset_downshift=args.reset_downshift)
    st = res.status
    if res.already_running:
        print(f"profile {name}: already running under supervisor pid {st['supervisor_pid']} ({_describe(st)}).")
    else:
        print(f"profile {name}: started in the background (supervisor pid {st['supervisor_pid']}, {_describe(st)}).")
    print(f"  follow it: swarmdeck logs -f -p {name}    stop it: swarmdeck stop -p {name}")
    if node_control.bare_ssh():
        print("  You are in a plain SSH session: the node keeps running after you log out.\n"
              f"  Reattach later with `swarmdeck -p {name}` (the dashboard) or `swarmdeck logs -f -p {name}`;\n"
              "  to keep a shell too, run swarmdeck inside tmux (`tmux new -s swarm`, reattach: `tmux attach -t swarm`).")
    return 0


def cmd_stop(args) -> int:
    name = _profile_name(args)
    res = node_control.stop(name, now=args.now)
    if not res.was_running:
        print(f"profile {name}: not running.")
        return 0
    how = "killed" if args.now else "stopped"
    extra = f" ({res.exit_reason})" if res.exit_reason else ""
    print(f"profile {name}: node {how}{extra}; supervisor exited.")
    return 0


def cmd_restart(args) -> int:
    name = _profile_name(args)
    res = node_control.restart(name, now=args.now)
    if not res.was_running:
        print(f"profile {name}: was not running; started (supervisor pid {res.supervisor_pid}).")
        return 0
    print(f"profile {name}: restarted (node pid {res.child_pid}).")
    return 0


def cmd_logs(args) -> int:
    name = _profile_name(args)
    paths = ProfilePaths(name)
    source = "supervisor" if args.supervisor else "node"
    try:
        for line in supervisor.ControlClient(paths).logs(n=max(0, min(args.lines, supervisor.LOGS_MAX)), follow=args.follow, source=source):
            print(line, flush=True)
    except supervisor.NotRunning:
        path = Path(paths.log_dir) / f"{source}.log"
        for line in supervisor.tail_file(path, args.lines):
            print(line)
        if args.follow:
            print(f"(profile {name} is not running; nothing to follow. Start it: swarmdeck start -p {name})",
                  file=sys.stderr)
    except KeyboardInterrupt:
        return 0
    return 0


def unit_text(name: str) -> str:
    cmd = shutil.which("swarmdeck")
    exec_start = (shlex.quote(cmd) if cmd else f"{shlex.quote(sys.executable)} -m tui.cli") + \
        f" start --foreground -p {shlex.quote(name)}"
    root = Path(supervisor.PROJECT_ROOT)
    return user_unit(f"swarmdeck node (profile {name})", exec_start, str(root),
                     exec_stop=exec_start.replace(" start --foreground", " stop"), kill_mode="mixed",
                     stop_timeout_s=120,
                     comment="The supervisor stops the node gracefully on SIGTERM; systemd kills leftovers after the timeout.")


def _linger_enabled(user: str) -> bool | None:
    if Path(f"/var/lib/systemd/linger/{user}").exists():
        return True
    try:
        out = subprocess.run(["loginctl", "show-user", user, "-p", "Linger"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip().endswith("yes")


def cmd_service_install(args) -> int:
    name = _profile_name(args)
    from tui.commands import write_user_unit

    unit = write_user_unit(f"swarmdeck-{name}.service", unit_text(name))
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "$USER"
    print(f"wrote {unit}")
    print("enable and start it:")
    print("  systemctl --user daemon-reload")
    print(f"  systemctl --user enable --now swarmdeck-{name}.service")
    if supervisor.supervisor_pid(ProfilePaths(name)):
        print(f"  (profile {name} is running now; stop it first: swarmdeck stop -p {name})")
    linger = _linger_enabled(user)
    if linger is not True:
        state = "off" if linger is False else "unknown (loginctl not available)"
        print(f"lingering for {user} is {state}: without it systemd stops your user services when you log out.")
        print(f"  enable it: sudo loginctl enable-linger {user}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def prof(p: argparse.ArgumentParser) -> None:
        p.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS, help="profile (default: current)")

    p = sub.add_parser("start", help="start the profile's node in the background (or attach if running)")
    prof(p)
    p.add_argument("--foreground", action="store_true", help="run the supervisor in this terminal (systemd, tmux)")
    p.add_argument("--reset-downshift", action="store_true", help="forget OOM step-downs; use the profile's settings")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("stop", help="stop the node gracefully (checkpoint first), then its supervisor")
    prof(p)
    p.add_argument("--now", action="store_true", help="kill at once (no checkpoint)")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("restart", help="restart the node (graceful)")
    prof(p)
    p.add_argument("--now", action="store_true", help="kill instead of a graceful stop")
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("logs", help="show the node's log (tail; -f follows)")
    prof(p)
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--lines", type=int, default=50, help="lines of history (default 50)")
    p.add_argument("--supervisor", action="store_true", help="the supervisor's own log instead of the node's")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("service", help="run a profile as a systemd user service")
    ssub = p.add_subparsers(dest="service_cmd", metavar="ACTION", required=True)
    q = ssub.add_parser("install", help="write a systemd user unit for the profile")
    prof(q)
    q.set_defaults(func=cmd_service_install)
