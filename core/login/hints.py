"""What `swarmdeck login` and the TUI's login screen show: QR text and the SSH tunnel line."""

from __future__ import annotations

import getpass
import io
import os
from typing import Mapping

import segno


def qr_text(url: str, border: int = 1) -> str:
    """The URL as a QR code in half-block characters (two modules per character row).

    segno draws dark modules as the terminal's background colour, so it scans on dark themes;
    the 1-module border keeps it small enough for 80x24 while still scanning on phones.
    """
    buf = io.StringIO()
    segno.make(url, error="m").terminal(out=buf, compact=True, border=border)
    return buf.getvalue()


def ssh_tunnel_command(port: int, env: Mapping[str, str] | None = None, user: str | None = None) -> str | None:
    """`ssh -L PORT:localhost:PORT user@host` to run on the laptop, when we are inside SSH.

    SSH_CONNECTION is "client_ip client_port server_ip server_port"; the server side is the
    address the user already reaches this machine by.
    """
    env = os.environ if env is None else env
    conn = env.get("SSH_CONNECTION", "").split()
    if len(conn) < 4:
        return None
    host, sport = conn[2], conn[3]
    if ":" in host:  # IPv6 literal
        host = f"[{host}]" if not host.startswith("[") else host
    user = user or env.get("USER") or env.get("LOGNAME") or getpass.getuser()
    port_opt = f" -p {sport}" if sport and sport != "22" else ""
    return f"ssh -L {port}:localhost:{port}{port_opt} {user}@{host}"
