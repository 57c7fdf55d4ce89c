"""`python -m core.hosting serve|keep|bootnode NAME`: the swarm host's processes.

serve     the host process: its parts (core.hosting.host)
keep      the host's keeper: runs `serve` and starts it again when it dies (core.hosting.keeper)
bootnode  the DHT-only bootnode, one of serve's parts (core.hosting.bootnode)
"""

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.hosting")
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd, text in (("serve", "run the host of swarm NAME until SIGTERM (settings: swarmdeck swarm host)"),
                      ("keep", "run the host of swarm NAME and restart it when it dies, until SIGTERM"),
                      ("bootnode", "run the DHT-only bootnode of swarm NAME until SIGTERM")):
        s = sub.add_parser(cmd, help=text)
        s.add_argument("name")
    a = ap.parse_args(argv)
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if a.cmd == "serve":
        from core.hosting.host import serve

        return serve(a.name)
    if a.cmd == "keep":
        from core.hosting.keeper import keep

        return keep(a.name)
    from core.hosting.bootnode import serve as serve_bootnode

    return serve_bootnode(a.name)


if __name__ == "__main__":
    sys.exit(main())
