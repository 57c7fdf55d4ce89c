"""`swarmdeck login [-p NAME]`: start the profile's sign-in page if needed, show the URL, a QR code
and (over SSH) the exact tunnel command, then wait until the session key is activated.

On the local network the page is swarmdeck's own login service. On the public testnet it is the
official modal-login app: give its directory once with --app (an rl-swarm checkout or its
modal-login/ dir), or let swarmdeck clone the pinned public version with --clone. swarmdeck then
sets its .env, runs yarn install/build when needed and yarn start on a free port, copies the two
credential files it writes into the profile (and keeps them), and waits for activation."""

from __future__ import annotations

import argparse
import sys
import time

from core.base.errors import SwarmdeckError
from core.identity import files as identity
from core.identity import signin
from core.login import hints, modal_app
from core.login.service import stop_service
from core.usecases import signin as signin_flow
from core.usecases.profile_state import resolved_profile
from tui.model.i18n import M, t


def register(sub) -> None:
    p = sub.add_parser("login", help="sign in this profile (local login service, URL + QR + SSH tunnel hint)",
                       description=__doc__)
    p.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS, help="profile to sign in")
    p.add_argument("--no-wait", action="store_true", help="print the URL and return without waiting")
    p.add_argument("--timeout", type=float, default=0, help="give up waiting after SECONDS (0 = wait until Ctrl-C)")
    p.add_argument("--no-qr", action="store_true", help="do not print the QR code")
    p.add_argument("--app", metavar="PATH", help="testnet: the official modal-login app's directory (remembered)")
    p.add_argument("--clone", action="store_true",
                   help="testnet: clone the official app (rl-swarm at a pinned commit) for this profile")
    p.add_argument("-y", "--yes", action="store_true", help="agree to --clone without asking")
    p.add_argument("--again", action="store_true", help="sign in again even when signed in (a new session key)")
    p.add_argument("--stop", action="store_true",
                   help="stop this profile's sign-in page (the official app or the local login service) and exit; "
                        "the node needs it for its chain writes, so stop the node first")
    p.set_defaults(func=run)


def run(args) -> int:
    prof = resolved_profile(getattr(args, "profile", None))
    if args.stop:
        stopped = [what for what, fn in (("app", modal_app.stop_app), ("service", stop_service)) if fn(prof.paths)]
        key = {("app", "service"): "cli.login.stopped_both", ("app",): "cli.login.stopped_app",
               ("service",): "cli.login.stopped_service"}.get(tuple(stopped), "cli.login.none_running")
        print(t(key, name=repr(prof.name)))
        return 0
    info = identity.read_login(prof.paths.identity_dir)
    stale = signin.required(prof.name)
    if info is not None and info.activated and not stale and not args.again:
        print(t("cli.login.already", name=repr(prof.name), who=info.email or info.org_id, address=info.address))
        return 0
    if stale:
        print(t("login.app.again", reason=stale["reason"]))
    net = prof.network
    if net.kind != "local":
        return _official_app(prof, args)
    stale_key = signin.refused_key(prof.name, again=args.again)
    port = int(prof.settings.login_port)
    svc = signin_flow.ensure_login_service(prof.name)
    print(t("cli.login.service", name=repr(prof.name), url=svc.url))
    if svc.port != port:
        print(t("cli.login.port_moved", port=port, actual=svc.port))
    if not svc.started:
        print(t("cli.login.already_running", pid=svc.pid))
    _show_page(svc.url, svc.port, qr=not args.no_qr, how=t("cli.login.how_email"))
    if args.no_wait:
        return 0
    print(t("cli.login.waiting_service"), flush=True)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    while True:
        try:
            info = identity.read_login(prof.paths.identity_dir)
        except SwarmdeckError:
            info = None  # a file being written right now: look again
        if info is not None and info.activated and not (stale_key and info.api_public_key == stale_key):
            signin.clear(prof.name)
            print(t("cli.login.signed_in", who=info.email or info.org_id, address=info.address))
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print(t("cli.login.timeout", seconds=f"{args.timeout:g}", name=prof.name), file=sys.stderr)
            return 1
        time.sleep(0.5)


def _show_page(url: str, port: int, *, qr: bool, how: str) -> None:
    """The sign-in page's URL, its QR code, and over SSH the tunnel line to run on the laptop."""
    if qr:
        print()
        print(hints.qr_text(url), end="")
    tunnel = hints.ssh_tunnel_command(port)
    if tunnel:
        print(t("cli.login.ssh"))
        print(f"  {tunnel}")
        print(t("cli.login.ssh_open", url=url))
    else:
        print(t("cli.login.open", url=url, how=how))


class _Progress:
    """Prints each step once; build output lines overwrite one status line on a terminal."""

    def __init__(self):
        self.tty = sys.stdout.isatty()
        self._line = False

    def __call__(self, step: str, **kw) -> None:
        if "line" in kw:
            if self.tty:
                print("\r\033[K  " + kw["line"][:100], end="", flush=True)
                self._line = True
            return
        if self._line:
            print("\r\033[K", end="")
            self._line = False
        print(t(f"login.app.{step}", **kw), flush=True)


def _official_app(prof, args) -> int:
    """The public-testnet sign-in through the official modal-login app."""
    say = _Progress()
    if args.app:
        signin_flow.use_app_dir(prof.name, args.app)  # checked (not another profile's) before it is saved
    elif prof.settings.login_app:
        signin_flow.use_app_dir(prof.name, prof.settings.login_app)
    elif args.clone:
        plan = signin_flow.clone_plan(prof.name)
        if not plan.exists:
            question = t("login.app.consent", repo=plan.repo, commit=plan.commit[:8], dest=plan.dest)
            if not args.yes:
                if not sys.stdin.isatty():
                    raise SwarmdeckError(M("err.login.clone_consent"), where=str(plan.dest),
                                         fix=M("err.login.clone_consent_fix", name=prof.name))
                if input(question + " [y/N] ").strip().lower() not in ("y", "yes", "д", "да"):
                    print(t("cli.login.nothing_cloned"))
                    return 1
        signin_flow.clone_app(prof.name, progress=say)
    else:
        print(t("login.app.none", network=prof.network.name, name=prof.name))
        print(t("cli.login.or_import", name=prof.name))
        return 1
    prof = resolved_profile(prof.name)  # the clone changed its settings
    app = modal_app.ensure_running(prof, progress=say)
    say("url", url=app.url)
    if app.port != int(prof.settings.login_port):
        print(t("cli.login.app_port_moved", port=prof.settings.login_port, actual=app.port))
    _show_page(app.url, app.port, qr=not args.no_qr, how=t("cli.login.how"))
    print(t("cli.login.app_log", path=modal_app.log_file(prof.paths)))
    if args.no_wait:
        return 0
    print(t("cli.login.waiting_app"), flush=True)
    login = modal_app.wait_for_sign_in(prof, app, progress=say, timeout=args.timeout or None,
                                       stale_key=signin.refused_key(prof.name, again=args.again))
    if login is None:
        print(t("cli.login.timeout", seconds=f"{args.timeout:g}", name=prof.name), file=sys.stderr)
        return 1
    return 0
