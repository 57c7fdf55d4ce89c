"""`swarmdeck login [-p NAME]`: start the profile's login service if needed, show the URL,
a QR code and (over SSH) the exact tunnel command, then wait until the session key is activated."""

from __future__ import annotations

import argparse
import sys
import time

from core.errors import SwarmdeckError


def register(sub) -> None:
    p = sub.add_parser("login", help="sign in this profile (local login service, URL + QR + SSH tunnel hint)",
                       description=__doc__)
    p.add_argument("-p", "--profile", dest="profile", default=argparse.SUPPRESS, help="profile to sign in")
    p.add_argument("--no-wait", action="store_true", help="print the URL and return without waiting")
    p.add_argument("--timeout", type=float, default=0, help="give up waiting after SECONDS (0 = wait until Ctrl-C)")
    p.add_argument("--no-qr", action="store_true", help="do not print the QR code")
    p.set_defaults(func=run)


def run(args) -> int:
    from core import identity
    from core.login import hints
    from core.login.service import ensure_service
    from core.profiles import load_profile

    prof = load_profile(getattr(args, "profile", None))
    info = identity.read_login(prof.paths.identity_dir)
    if info is not None and info.activated:
        print(f"Profile {prof.name!r} is already signed in as {info.email or info.org_id} "
              f"(account {info.address}); session key activated.")
        return 0
    net = prof.network
    if net.kind != "local":
        print(f"Network {net.name!r} uses the official login app at {net.login_url}.")
        print("Run it, sign in there, then import its temp-data files: "
              f"swarmdeck profile import PATH -p {prof.name}")
        return 0
    port = int(prof.settings.login_port)
    svc = ensure_service(prof.paths, port=port, network=net.name)
    print(f"Login service for profile {prof.name!r}: {svc.url}")
    if svc.port != port:
        print(f"(port {port} is in use, so it listens on port {svc.port}; set login_port in config.toml to pin one)")
    if not svc.started:
        print(f"(already running, pid {svc.pid})")
    if not args.no_qr:
        print()
        print(hints.qr_text(svc.url), end="")
    tunnel = hints.ssh_tunnel_command(svc.port)
    if tunnel:
        print("You are on SSH: the page only listens on this machine. On your own computer run:")
        print(f"  {tunnel}")
        print(f"then open {svc.url} in your browser there.")
    else:
        print(f"Open {svc.url} in a browser on this machine and sign in with your email.")
    if args.no_wait:
        return 0
    print("Waiting for sign-in… (Ctrl-C stops waiting; the login service keeps running)", flush=True)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    while True:
        try:
            info = identity.read_login(prof.paths.identity_dir)
        except SwarmdeckError:
            info = None  # a file being written right now: look again
        if info is not None and info.activated:
            print(f"Signed in as {info.email or info.org_id} (account {info.address}). Session key activated.")
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print(f"No sign-in within {args.timeout:g} s. Run `swarmdeck login -p {prof.name}` again to keep waiting.",
                  file=sys.stderr)
            return 1
        time.sleep(0.5)
