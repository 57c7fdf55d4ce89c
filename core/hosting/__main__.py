"""`python -m core.hosting serve NAME`: the swarm host process (see core.hosting.host)."""

import argparse
import logging
import sys

from core.hosting.host import serve


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.hosting")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the host of swarm NAME until SIGTERM (settings: swarmdeck swarm host)")
    s.add_argument("name")
    a = ap.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(a.name)


if __name__ == "__main__":
    sys.exit(main())
