"""Local TCP port availability (the login service's port choice and the doctor's port check)."""

from __future__ import annotations

import socket


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when `host:port` can be bound now (nothing listens there)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR: a port whose old connections sit in TIME_WAIT after a restart is free;
        # on Linux it still refuses a port some process listens on.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
