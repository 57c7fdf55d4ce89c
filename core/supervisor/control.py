"""Control socket protocol between a profile's supervisor and its clients (CLI, TUI).

Transport: a Unix stream socket at ProfilePaths.control_socket (0600, in a 0700 dir).
Framing: one JSON object per line (UTF-8, "\\n"-terminated), at most MAX_LINE bytes.

Request  {"v": 1, "id": <str|int>, "cmd": <name>, ...params}
Reply    {"v": 1, "id": <id>, "ok": true,  "result": {...}}
         {"v": 1, "id": <id>, "ok": false, "error": {"code": <code>, "message": <text>}}
Stream   {"v": 1, "id": <id>, "event": {<Event.to_dict()>}}         (after a subscribe reply)
         {"v": 1, "id": <id>, "line": <text>, "source": <source>}    (after a logs reply with follow)
         {"v": 1, "id": <id>, "end": true, "reason": <text>}         (server ends the stream)

Commands and params (all params optional):
  ping                                     -> {"pong": true, "pid": int, "profile": str}
  status                                   -> status dict (see Supervisor.status_dict)
  start      reset_downshift: bool         -> {"state", "child_pid", "already": bool}
  stop       now: bool, exit: bool=true    -> {"state": "stopped", "exiting": bool}   (replies once stopped)
  restart    now: bool                     -> {"state", "child_pid"}
  subscribe  replay: int (0..REPLAY_MAX, default 2000), since_seq: int, types: [str]
                                           -> {"replayed": n}, then stream items "event"
  logs       n: int (0..10000, default 100), follow: bool, source: "node"|"supervisor"
                                           -> {"lines": [str]}, then (follow) stream items "line"

Error codes: bad_json, bad_request, bad_version, unknown_cmd, too_large, busy, not_running, internal.
A bad request never ends the supervisor; a too-large line ends only that connection.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any, Iterator

from core.base import safejson
from core.base.errors import DaemonError
from core.events.log import Event
from core.base.paths import ProfilePaths

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024           # requests; replies/streams may be longer (the client allows MAX_REPLY)
MAX_REPLY = 16 * 1024 * 1024
REPLAY_MAX = 2000
LOGS_MAX = 10000
SOURCES = ("node", "supervisor")

COMMANDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "ping": {},
    "status": {},
    "start": {"reset_downshift": bool},
    "stop": {"now": bool, "exit": bool},
    "restart": {"now": bool},
    "subscribe": {"replay": int, "since_seq": int, "types": list},
    "logs": {"n": int, "follow": bool, "source": str},
}


class ProtocolError(Exception):
    def __init__(self, code: str, message: str, req_id: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.req_id = req_id


def encode(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def reply_ok(req_id: Any, result: dict) -> dict:
    return {"v": PROTOCOL_VERSION, "id": req_id, "ok": True, "result": result}


def reply_error(req_id: Any, code: str, message: str) -> dict:
    return {"v": PROTOCOL_VERSION, "id": req_id, "ok": False, "error": {"code": code, "message": message}}


def parse_request(line: bytes | str) -> dict:
    """Validate one request line; return {"id", "cmd", **params} or raise ProtocolError.

    Pure function (no I/O) so property tests can hammer it.
    """
    if isinstance(line, bytes):
        if len(line) > MAX_LINE:
            raise ProtocolError("too_large", f"request longer than {MAX_LINE} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("bad_json", "request is not UTF-8") from None
    try:
        obj = safejson.loads(line)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "request is not one JSON object per line") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_request", "request must be a JSON object")
    req_id = obj.get("id")
    if req_id is not None and (isinstance(req_id, bool) or not isinstance(req_id, (str, int))):
        raise ProtocolError("bad_request", "id must be a string or an integer")
    if isinstance(req_id, str) and len(req_id) > 128:
        raise ProtocolError("bad_request", "id longer than 128 characters")
    if obj.get("v") != PROTOCOL_VERSION:
        raise ProtocolError("bad_version", f"unsupported protocol version {obj.get('v')!r}; this supervisor speaks v{PROTOCOL_VERSION}", req_id)
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or cmd not in COMMANDS:
        raise ProtocolError("unknown_cmd", f"unknown command {cmd!r}; known: {', '.join(COMMANDS)}", req_id)
    spec = COMMANDS[cmd]
    out: dict[str, Any] = {"id": req_id, "cmd": cmd}
    for key, val in obj.items():
        if key in ("v", "id", "cmd"):
            continue
        if key not in spec:
            raise ProtocolError("bad_request", f"{cmd}: unknown parameter {key!r}", req_id)
        want = spec[key]
        if (want is int and (isinstance(val, bool) or not isinstance(val, int))) or not isinstance(val, want):
            raise ProtocolError("bad_request", f"{cmd}: parameter {key!r} must be {getattr(want, '__name__', want)}", req_id)
        out[key] = val
    if cmd == "subscribe":
        replay = out.get("replay", REPLAY_MAX)
        if not 0 <= replay <= REPLAY_MAX:
            raise ProtocolError("bad_request", f"subscribe: replay must be 0..{REPLAY_MAX}", req_id)
        out["replay"] = replay
        types = out.get("types")
        if types is not None and not all(isinstance(t, str) for t in types):
            raise ProtocolError("bad_request", "subscribe: types must be a list of strings", req_id)
    if cmd == "logs":
        n = out.get("n", 100)
        if not 0 <= n <= LOGS_MAX:
            raise ProtocolError("bad_request", f"logs: n must be 0..{LOGS_MAX}", req_id)
        out["n"] = n
        src = out.get("source", "node")
        if src not in SOURCES:
            raise ProtocolError("bad_request", f"logs: source must be one of {SOURCES}", req_id)
        out["source"] = src
    return out


# --------------------------------------------------------------------------- client

class NotRunning(DaemonError):
    """No supervisor answers on the profile's control socket."""


class ControlClient:
    """Blocking client; each call opens its own connection (safe from several threads).

    `ControlClient(ProfilePaths("main"))` or `ControlClient(path_to_socket)`.
    Streaming calls (subscribe, logs follow) are generators; close them (or break) to disconnect.
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
                raise DaemonError("supervisor sent an oversized line", where="control socket")
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
                raise DaemonError(f"supervisor closed the connection during {cmd!r}", where=str(self.socket_path))
            if not rep.get("ok"):
                err = rep.get("error") or {}
                raise DaemonError(f"supervisor refused {cmd!r}: {err.get('message')} ({err.get('code')})",
                                  where=str(self.socket_path))
            s.settimeout(stream_timeout)
            return s, it, rep.get("result") or {}
        except BaseException:
            s.close()
            raise

    def request(self, cmd: str, timeout: float | None = None, **params: Any) -> dict:
        """One request, one reply; returns the reply's result or raises DaemonError/NotRunning."""
        old = self.timeout
        if timeout is not None:
            self.timeout = timeout
        try:
            s, _it, result = self._open(cmd, params, None)
        except socket.timeout as e:
            raise DaemonError(f"supervisor did not answer {cmd!r} within {self.timeout:.0f} s",
                              where=str(self.socket_path), fix="check `swarmdeck logs --supervisor`") from e
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

    def subscribe(self, replay: int = REPLAY_MAX, since_seq: int | None = None,
                  types: list[str] | None = None, idle_timeout: float | None = None) -> Iterator[Event]:
        """Replayed history then live events, as Event objects. Ends when the supervisor ends the stream.

        idle_timeout: raise socket.timeout when nothing arrives for that long (None = wait forever).
        """
        params: dict[str, Any] = {"replay": replay}
        if since_seq is not None:
            params["since_seq"] = since_seq
        if types is not None:
            params["types"] = list(types)
        s, it, _ = self._open("subscribe", params, idle_timeout)
        try:
            for item in it:
                if item.get("end"):
                    return
                ev = item.get("event")
                if isinstance(ev, dict):
                    try:
                        yield Event.from_dict(ev)
                    except (ValueError, KeyError, TypeError):
                        continue
        finally:
            s.close()

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
    """Live state of a profile's supervisor, or None when none is running. Never raises.

    For `swarmdeck status` and the TUI's profile switcher. Keys: see Supervisor.status_dict
    (profile, state, supervisor_pid, child_pid, restarts, last_exit, round, downshift, rss_mb, ...).
    """
    if not Path(paths.control_socket).exists():
        return None
    try:
        return ControlClient(paths, timeout=timeout).status()
    except (DaemonError, OSError, ValueError):
        return None
