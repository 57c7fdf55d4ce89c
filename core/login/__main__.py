"""`python -m core.login --profile NAME [--port 3000] [--network local] [--host 127.0.0.1]`.

Runs the local login service for one profile until SIGTERM; `swarmdeck login` starts it."""

from __future__ import annotations

import argparse
import sys

from core.base.paths import PROFILE_NAME_RE, ProfilePaths
from core.login.service import DEFAULT_PORT, serve_forever


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.login", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", required=True)
    ap.add_argument("-p", "--port", type=int, default=None, help="preferred port; the next free one if taken")
    ap.add_argument("--network", default="local")
    ap.add_argument("-H", "--host", "--hostname", dest="host", default="127.0.0.1",
                    help="listen address (loopback by default; use ssh -L to reach it)")
    a = ap.parse_args(argv)
    if not PROFILE_NAME_RE.match(a.profile):
        print(f"invalid profile name {a.profile!r}", file=sys.stderr)
        return 2
    return serve_forever(ProfilePaths(a.profile), port=a.port or DEFAULT_PORT, network=a.network, host=a.host)


if __name__ == "__main__":
    sys.exit(main())
