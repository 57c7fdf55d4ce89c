"""`swarmdeck serve`: the same TUI in a browser, through PyPI textual-serve, behind a URL token.

textual-serve has no authentication: whoever reaches its port gets a shell-less but fully working
swarmdeck (start/stop nodes, sign-in screens). So every route lives under /<token>/, where the token
is 32 random bytes (secrets.token_urlsafe) made fresh for each run; a middleware compares the first
path segment in constant time and answers 404 before any handler runs, so a request without the
token (or with a wrong one) never reaches the websocket handler that starts an app process.
Other hardening: loopback bind by default (anything else needs force_public and says why it is
risky), aiohttp's access log off (it would write the token), no-referrer and no-store headers,
and a websocket whose Origin is not this server's host is refused (403).

The URL (with its token) is written 0600 to runtime_dir()/serve.json while the server runs.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import os
import secrets
import shlex
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import aiohttp_jinja2
from aiohttp import web
from aiohttp.web_runner import GracefulExit
from textual_serve.server import Server, to_int

from core.base import paths
from core.base.errors import SwarmdeckError

DEFAULT_PORT = 8420
TOKEN_BYTES = 32


class ServeError(SwarmdeckError):
    pass


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def state_file() -> Path:
    return paths.runtime_dir() / "serve.json"


def app_command(profile: str | None = None) -> str:
    """The command textual-serve starts for each browser connection: this very swarmdeck's TUI."""
    argv = [sys.executable, "-m", "tui"] + (["-p", profile] if profile else [])
    return shlex.join(argv)


@dataclass
class ServeInfo:
    host: str
    port: int
    token: str

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "localhost") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/{self.token}/"


class TokenServer(Server):
    """textual_serve.Server with every route under /<token>/ and a constant-time token check in front."""

    def __init__(self, command: str, *, host: str, port: int, token: str, title: str = "swarmdeck",
                 on_ready: Callable[[], None] | None = None):
        super().__init__(command, host=host, port=port, title=title)
        self.token = token
        self.on_ready = on_ready
        self.prefix = "/" + token

    # -- the guard ---------------------------------------------------------------------
    def _token_ok(self, request: web.Request) -> bool:
        seg = request.path.split("/", 2)[1] if request.path.count("/") >= 1 else ""
        return hmac.compare_digest(seg.encode(), self.token.encode())

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if not self._token_ok(request):
            # the same answer for no token and a wrong one; nothing about the app
            return web.Response(status=404, text="not found\n", headers={"Cache-Control": "no-store"})
        if request.path.rstrip("/").endswith("/ws"):
            origin = request.headers.get("Origin")
            if origin and origin.split("://", 1)[-1].rstrip("/") != request.host:
                return web.Response(status=403, text="cross-origin websocket refused\n")
        resp = await handler(request)
        resp.headers["Referrer-Policy"] = "no-referrer"  # the page must not send its URL (the token) anywhere
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["X-Frame-Options"] = "DENY"
        return resp

    async def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        aiohttp_jinja2.setup(app, loader=__import__("jinja2").FileSystemLoader(self.templates_path))
        p = self.prefix
        app.add_routes([
            web.get(p, self._redirect_index),
            web.get(p + "/", self.handle_index, name="index"),
            web.get(p + "/ws", self.handle_websocket, name="websocket"),
            web.get(p + "/download/{key}", self.handle_download, name="download"),
            web.static(p + "/static", self.statics_path, show_index=False, name="static"),
        ])
        app.on_startup.append(self.on_startup)
        app.on_shutdown.append(self.on_shutdown)
        return app

    async def _redirect_index(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(self.prefix + "/")

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        """The page, with its URLs built from the Host the browser used (works through `ssh -L`)."""
        base = f"{request.scheme}://{request.host}"
        ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}{self.prefix}/ws"
        context: dict[str, Any] = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": ws,
            "config": {"static": {"url": f"{base}{self.prefix}/static/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def on_startup(self, app: web.Application) -> None:
        if self.on_ready is not None:
            self.on_ready()

    def serve(self, debug: bool = False, sock: socket.socket | None = None) -> None:  # type: ignore[override]
        """Run until SIGINT/SIGTERM. No access log (it would write the token), no textual-serve banner; open
        sessions get 3 s to end (their TUIs are told to quit) instead of aiohttp's 60."""
        self.debug = debug
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_exit)
            except (NotImplementedError, RuntimeError):
                pass
        kw: dict[str, Any] = {"sock": sock} if sock is not None else {"host": self.host, "port": self.port}
        try:
            web.run_app(self._make_app(), handle_signals=False, loop=loop, access_log=None, shutdown_timeout=3,
                        print=lambda *a: None, **kw)
        except GracefulExit:
            pass


def bind(host: str, port: int) -> socket.socket:
    """The listening socket (port 0 = a free one), bound before the URL is printed."""
    fam = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host.strip("[]"), port))
    except OSError as e:
        s.close()
        raise ServeError(f"cannot listen on {host}:{port}: {e.strerror or e}", where="swarmdeck serve --host/--port",
                         fix="pick another port with --port (0 = any free port), or stop what uses it") from None
    s.listen(128)
    return s


def check_host(host: str, force_public: bool) -> str | None:
    """None for a loopback host; the warning to print for a forced public one; raises otherwise."""
    if is_loopback(host):
        return None
    if not force_public:
        raise ServeError(
            f"refusing to serve the TUI on {host}: that is reachable from other machines, and whoever "
            "has the URL controls your nodes", where="swarmdeck serve --host",
            fix="keep the default 127.0.0.1 and reach it over `ssh -L` (printed when you are on SSH); "
                "or add --force-public if this network is trusted")
    return (f"WARNING: serving on {host}, reachable from other machines over plain HTTP; anyone who sees "
            "the URL (token included) controls your nodes. Prefer 127.0.0.1 with `ssh -L`.")


def write_state(info: ServeInfo) -> Path:
    f = state_file()
    paths.ensure_private_dir(f.parent)
    tmp = f.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"url": info.url, "host": info.host, "port": info.port, "pid": os.getpid()}, out)
    os.chmod(tmp, 0o600)
    os.replace(tmp, f)
    return f


def remove_state() -> None:
    try:
        f = state_file()
        data = json.loads(f.read_text())
        if data.get("pid") == os.getpid():
            f.unlink()
    except (OSError, ValueError):
        pass


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)
