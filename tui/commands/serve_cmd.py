"""`swarmdeck serve`: the TUI in a browser (textual-serve behind a URL token; see tui/serve.py)."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("serve", help="the TUI in a browser, on 127.0.0.1 behind a secret URL")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; "
                   "anything not loopback needs --force-public)")
    p.add_argument("--port", type=int, default=None, help="port (default 8420; 0 = any free port)")
    p.add_argument("--force-public", action="store_true",
                   help="allow a non-loopback --host (plain HTTP: anyone who sees the URL controls your nodes)")
    p.add_argument("--no-qr", action="store_true", help="do not print the URL's QR code")
    p.set_defaults(func=run)


def run(args) -> int:
    from core.login import hints
    from tui import serve

    warning = serve.check_host(args.host, args.force_public)
    if warning:
        print(warning, file=sys.stderr)
    sock = serve.bind(args.host, serve.DEFAULT_PORT if args.port is None else args.port)
    port = sock.getsockname()[1]
    info = serve.ServeInfo(args.host, port, serve.new_token())
    profile = getattr(args, "profile", None)

    def ready() -> None:
        print(f"swarmdeck in your browser (each tab runs its own TUI; nodes keep running when it closes):")
        print(f"  {info.url}")
        if not args.no_qr:
            print(hints.qr_text(info.url), end="")
        tunnel = hints.ssh_tunnel_command(port)
        if tunnel and serve.is_loopback(args.host):
            print("You are on SSH: this listens on this machine only. On your own computer run:")
            print(f"  {tunnel}")
            print("then open the URL above there.")
        print(f"The URL is the password: keep it private (also in {serve.state_file()}, mode 0600). "
              "Ctrl+C stops serving.", flush=True)
        serve.write_state(info)

    srv = serve.TokenServer(serve.app_command(profile), host=args.host, port=port, token=info.token, on_ready=ready)
    try:
        srv.serve(sock=sock)
    finally:
        serve.remove_state()
    return 0
