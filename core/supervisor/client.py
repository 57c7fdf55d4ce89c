"""Blocking client of a supervisor's control socket (the protocol is in core.supervisor.server)."""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path
from typing import Any, Iterator

from core.base import safejson
from core.base.i18n import M
from core.base.errors import SupervisorError
from core.base.paths import ProfilePaths
from core.supervisor.server import MAX_REPLY, PROTOCOL_VERSION, encode


class NotRunning(SupervisorError):
    """No supervisor answers on the profile's control socket."""


class ControlClient:
    """Each call opens its own connection (safe from several threads).

    `ControlClient(ProfilePaths("main"))` or `ControlClient(path_to_socket)`.
    `logs(follow=True)` is a generator; close it (or break) to disconnect.
    """

    _ids = itertools.count(1)

    def __init__(self, target: ProfilePaths | str | os.PathLike, timeout: float = 5.0):
        if isinstance(target, ProfilePaths):
            self.profile = target.name
            self.socket_path = Path(target.control_socket)
        else:
            self.profile = ""
            self.socket_path = Path(target)
        self.timeout = timeout

    # -- plumbing
    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            s.connect(str(self.socket_path))
        except (FileNotFoundError, ConnectionRefusedError, socket.timeout) as e:
            s.close()
            raise NotRunning(
                f"no supervisor is running for profile {self.profile or '?'}",
                where=str(self.socket_path),
                fix=f"swarmdeck start -p {self.profile}" if self.profile else "swarmdeck start",
            ) from e
        return s

    @staticmethod
    def _lines(s: socket.socket) -> Iterator[dict]:
        buf = b""
        while True:
            nl = buf.find(b"\n")
            if nl >= 0:
                line, buf = buf[:nl], buf[nl + 1:]
                if line.strip():
                    yield safejson.loads(line)
                continue
            if len(buf) > MAX_REPLY:
                raise SupervisorError(M("err.sup.oversized"), where=M("err.sup.socket"))
            chunk = s.recv(65536)
            if not chunk:
                return
            buf += chunk

    def _open(self, cmd: str, params: dict, stream_timeout: float | None) -> tuple[socket.socket, Iterator[dict], dict]:
        req_id = next(self._ids)
        s = self._connect()
        try:
            s.sendall(encode({"v": PROTOCOL_VERSION, "id": req_id, "cmd": cmd, **params}))
            it = self._lines(s)
            rep = next(it, None)
            if rep is None:
                raise SupervisorError(M("err.sup.closed", cmd=repr(cmd)), where=str(self.socket_path))
            if not rep.get("ok"):
                err = rep.get("error") or {}
                raise SupervisorError(M("err.sup.refused", cmd=repr(cmd), message=str(err.get("message")),
                                        code=str(err.get("code"))),
                                      where=str(self.socket_path))
            s.settimeout(stream_timeout)
            return s, it, rep.get("result") or {}
        except BaseException:
            s.close()
            raise

    def request(self, cmd: str, timeout: float | None = None, **params: Any) -> dict:
        """One request, one reply; returns the reply's result or raises SupervisorError/NotRunning."""
        old = self.timeout
        if timeout is not None:
            self.timeout = timeout
        try:
            s, _it, result = self._open(cmd, params, None)
        except socket.timeout as e:
            raise SupervisorError(M("err.sup.no_answer", cmd=repr(cmd), seconds=round(self.timeout)),
                                  where=str(self.socket_path), fix=M("err.sup.no_answer_fix")) from e
        finally:
            self.timeout = old
        s.close()
        return result

    # -- requests
    def ping(self) -> dict:
        return self.request("ping")

    def status(self) -> dict:
        return self.request("status")

    def start(self, reset_downshift: bool = False) -> dict:
        return self.request("start", reset_downshift=reset_downshift)

    def stop(self, now: bool = False, exit: bool = True, timeout: float = 120.0) -> dict:
        return self.request("stop", timeout=timeout, now=now, exit=exit)

    def restart(self, now: bool = False, timeout: float = 120.0) -> dict:
        return self.request("restart", timeout=timeout, now=now)

    def logs(self, n: int = 100, follow: bool = False, source: str = "node",
             idle_timeout: float | None = None) -> Iterator[str]:
        """The last n log lines, then (follow) new ones as they are written."""
        s, it, result = self._open("logs", {"n": n, "follow": follow, "source": source}, idle_timeout)
        try:
            yield from result.get("lines", [])
            if not follow:
                return
            for item in it:
                if item.get("end"):
                    return
                if "line" in item:
                    yield item["line"]
        finally:
            s.close()


def query_status(paths: ProfilePaths, timeout: float = 1.0) -> dict | None:
    """Live state of a profile's supervisor (SupervisorStatus.to_dict()), or None when none is
    running. Never raises. For `swarmdeck status` and the TUI's profile switcher."""
    if not Path(paths.control_socket).exists():
        return None
    try:
        return ControlClient(paths, timeout=timeout).status()
    except (SupervisorError, OSError, ValueError):
        return None
