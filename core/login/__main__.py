"""`python -m core.login --profile NAME [--port 3000] [--network local] [--host 127.0.0.1]`.

Runs the local login service for one profile until SIGTERM; `swarmdeck login` starts it.

`python -m core.login --app-mode [-p PORT] [--rpc-url URL] [--fund-gas]` (in an app directory)
behaves like the official modal-login app's `next start` instead: files in ./temp-data/, the
contract from ./.env. The tests' stand-in for the official app runs it from its package.json."""

from __future__ import annotations

import argparse
import sys

import os
from pathlib import Path

from core.login.service import DEFAULT_PORT, serve_app_mode, serve_forever
from core.base.paths import PROFILE_NAME_RE, ProfilePaths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.login", description=__doc__.splitlines()[0])
    ap.add_argument("--profile")
    ap.add_argument("-p", "--port", type=int, default=None, help="preferred port; the next free one if taken "
                    "(app mode: exactly this port; default $PORT or 3000)")
    ap.add_argument("--app-mode", action="store_true", help="act as the official modal-login app in this directory")
    ap.add_argument("--rpc-url", default=os.environ.get("LOGIN_RPC_URL", ""), help="app mode: chain RPC "
                    "(default $LOGIN_RPC_URL)")
    ap.add_argument("--fund-gas", action="store_true", help="app mode: top up accounts with anvil_setBalance")
    ap.add_argument("--network", default="local")
    ap.add_argument("-H", "--host", "--hostname", dest="host", default="127.0.0.1",
                    help="listen address (loopback by default; use ssh -L to reach it)")
    a = ap.parse_args(argv)
    if a.app_mode:
        port = a.port if a.port is not None else int(os.environ.get("PORT") or DEFAULT_PORT)
        return serve_app_mode(Path.cwd(), port=port, network=a.network, rpc_url=a.rpc_url, fund_gas=a.fund_gas,
                              host=a.host)
    if not a.profile:
        ap.error("--profile is required (or --app-mode)")
    if not PROFILE_NAME_RE.match(a.profile):
        print(f"invalid profile name {a.profile!r}", file=sys.stderr)
        return 2
    return serve_forever(ProfilePaths(a.profile), port=a.port or DEFAULT_PORT, network=a.network, host=a.host)


if __name__ == "__main__":
    sys.exit(main())
