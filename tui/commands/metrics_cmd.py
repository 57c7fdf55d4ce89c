"""`swarmdeck metrics serve|show|service install`: Prometheus metrics of every profile (core.usecases.metrics)."""

from __future__ import annotations

import ipaddress
import shlex
import signal
import sys
import threading
from pathlib import Path

from core.base.errors import ConfigError
from core.base.systemd import user_unit
from core.usecases import metrics
from tui.model.i18n import M, t

DEFAULT_PORT = 9464  # the port registered for Prometheus exporters of this kind (OpenTelemetry's default)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args) -> int:
    if not _loopback(args.host) and not args.public:
        raise ConfigError(M("err.metrics.public", host=args.host), where="swarmdeck metrics serve --host",
                          fix=M("err.metrics.public_fix"))
    if not _loopback(args.host):
        print(t("cli.metrics.public_warning", host=args.host), file=sys.stderr)
    try:
        server, _thread = metrics.serve(args.host, args.port)
    except OSError as e:
        raise ConfigError(M("err.metrics.listen", host=args.host, port=args.port, error=str(e.strerror or e)),
                          where="swarmdeck metrics serve", fix=M("err.metrics.listen_fix")) from None
    host, port = server.server_address[:2]
    print(t("cli.metrics.serving", host=host, port=port), flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.shutdown()
    server.server_close()
    return 0


def cmd_show(args) -> int:
    sys.stdout.write(metrics.render())
    return 0


def unit_text(host: str, port: int) -> str:
    # this module alone, not the whole CLI: about 30 MiB less resident for a process that runs for weeks
    exec_start = f"{shlex.quote(sys.executable)} -m tui.commands.metrics_cmd serve --host {shlex.quote(host)} --port {port}"
    root = Path(__file__).resolve().parents[2]
    return user_unit("swarmdeck Prometheus metrics (every profile)", exec_start, str(root), wants_network=False)


def cmd_service_install(args) -> int:
    from tui.commands import write_user_unit

    unit = write_user_unit("swarmdeck-metrics.service", unit_text(args.host, args.port))
    print(t("cli.metrics.wrote", path=unit))
    print(t("cli.metrics.enable"))
    print("  systemctl --user daemon-reload")
    print("  systemctl --user enable --now swarmdeck-metrics.service")
    print(t("cli.metrics.scrape", host=args.host, port=args.port))
    return 0


def register(sub) -> None:
    p = sub.add_parser("metrics", help="Prometheus metrics of every profile (serve, show, systemd unit)")
    s = p.add_subparsers(dest="metrics_cmd", metavar="ACTION", required=True)
    a = s.add_parser("serve", help="serve /metrics over HTTP (127.0.0.1 by default)")
    a.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    a.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    a.add_argument("--public", action="store_true", help="allow a non-loopback --host")
    a.set_defaults(func=cmd_serve)
    s.add_parser("show", help="print the metrics once (Prometheus text format)").set_defaults(func=cmd_show)
    v = s.add_parser("service", help="run `metrics serve` as a systemd user service")
    vs = v.add_subparsers(dest="service_cmd", metavar="ACTION", required=True)
    i = vs.add_parser("install", help="write swarmdeck-metrics.service")
    i.add_argument("--host", default="127.0.0.1")
    i.add_argument("--port", type=int, default=DEFAULT_PORT)
    i.set_defaults(func=cmd_service_install)


def main(argv: list[str] | None = None) -> int:
    """`python -m tui.commands.metrics_cmd serve ...`: the same command without loading the rest of the CLI."""
    from tui.commands import run_group

    return run_group("metrics", register, argv)


if __name__ == "__main__":
    sys.exit(main())
