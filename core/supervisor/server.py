"""Control socket between a profile's supervisor and its clients (CLI, TUI): protocol and server.

Transport: a Unix stream socket at ProfilePaths.control_socket (0600, in a 0700 dir).
Framing: one JSON object per line (UTF-8, "\\n"-terminated), at most MAX_LINE bytes.

Request  {"v": 1, "id": <str|int>, "cmd": <name>, ...params}
Reply    {"v": 1, "id": <id>, "ok": true,  "result": {...}}
         {"v": 1, "id": <id>, "ok": false, "error": {"code": <code>, "message": <text>}}
Stream   {"v": 1, "id": <id>, "line": <text>, "source": <source>}    (after a logs reply with follow)
         {"v": 1, "id": <id>, "end": true, "reason": <text>}         (server ends the stream)

Commands and params (all params optional):
  ping                                     -> {"pong": true, "pid": int, "profile": str}
  status                                   -> SupervisorStatus.to_dict()
  start      reset_downshift: bool         -> {"state", "child_pid", "already": bool}
  stop       now: bool, exit: bool=true    -> {"state": "stopped", "exiting": bool}   (replies once stopped)
  restart    now: bool                     -> {"state", "child_pid"}
  logs       n: int (0..10000, default 100), follow: bool, source: "node"|"supervisor"
                                           -> {"lines": [str]}, then (follow) stream items "line"

Events are not served here: clients follow the profile's events.jsonl (one transport).

Error codes: bad_json, bad_request, bad_version, unknown_cmd, too_large, busy, not_running, internal.
A bad request never ends the supervisor; a too-large line ends only that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

from core.base import safejson
from core.supervisor.history import tail_file



class Served(Protocol):
    """What the control server needs from the supervisor it serves (core.supervisor.supervisor.Supervisor).

    Described here rather than imported: the Supervisor module imports this one, and the server only
    talks to it through these members."""

    profile: str
    paths: Any          # ProfilePaths: .control_socket
    settings: Any       # SupervisorSettings: .max_connections, .subscriber_queue
    log_paths: dict[str, Path]

    def status(self) -> Any: ...
    async def cmd_start(self, reset_downshift: bool = False) -> dict: ...
    async def cmd_restart(self, now: bool = False) -> dict: ...
    async def cmd_stop(self, now: bool = False) -> dict: ...
    async def shutdown(self) -> None: ...
    def note(self, msg: str, level: int = logging.INFO) -> None: ...

PROTOCOL_VERSION = 1
MAX_LINE = 64 * 1024           # requests; replies/streams may be longer (the client allows MAX_REPLY)
MAX_REPLY = 16 * 1024 * 1024
LOGS_MAX = 10000
SOURCES = ("node", "supervisor")

COMMANDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "ping": {},
    "status": {},
    "start": {"reset_downshift": bool},
    "stop": {"now": bool, "exit": bool},
    "restart": {"now": bool},
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


class LogFollower:
    """A bounded outbox per `logs --follow` client: a slow reader is cut off instead of slowing
    the supervisor."""

    def __init__(self, req_id: Any, maxsize: int):
        self.req_id = req_id
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=maxsize)
        self.end_reason: str | None = None
        self.closed = False
        self.closed_at: float | None = None
        self.on_close = lambda: None

    def offer(self, obj: dict) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(encode(obj))
        except asyncio.QueueFull:
            self.close(f"client too slow: more than {self.queue.maxsize} items behind")

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.closed_at = time.monotonic()
        self.end_reason = reason
        self.on_close()  # stop offering it lines right away
        while True:  # make room for the end marker
            try:
                self.queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


class ControlServer:
    """Serves one Supervisor on its profile's control socket."""

    def __init__(self, sup: Served):
        self.sup = sup
        self.connections = 0
        self.followers: dict[str, set[LogFollower]] = {s: set() for s in SOURCES}
        self._server: asyncio.base_events.Server | None = None
        self.socket_path = Path(sup.paths.control_socket)

    def offer_line(self, source: str, line: str) -> None:
        for f in list(self.followers[source]):
            f.offer({"v": PROTOCOL_VERSION, "id": f.req_id, "line": line, "source": source})

    @property
    def follower_count(self) -> int:
        return sum(len(s) for s in self.followers.values())

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # stale: the supervisor holds the profile lock, so nobody else serves it
        old = os.umask(0o177)  # the socket is born 0600: no window where others could connect
        try:
            self._server = await asyncio.start_unix_server(self._serve_conn, path=str(self.socket_path),
                                                           limit=MAX_LINE + 1)
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        for f in [f for s in self.followers.values() for f in s]:
            f.close("supervisor exiting")
        await asyncio.sleep(0.1)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _serve_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.sup.settings.max_connections:
            writer.write(encode(reply_error(None, "busy", "too many control connections")))
            with contextlib.suppress(Exception):
                await writer.drain()
            writer.close()
            return
        self.connections += 1
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(encode(reply_error(None, "too_large", f"request longer than {MAX_LINE} bytes; closing")))
                    await writer.drain()
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    req = parse_request(line)
                except ProtocolError as e:
                    writer.write(encode(reply_error(e.req_id, e.code, e.message)))
                    await writer.drain()
                    continue
                if await self._dispatch(req, writer):
                    return  # a streaming request owns the connection until it ends
        except (ConnectionError, OSError):
            return
        finally:
            self.connections -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(self, req: dict, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; True when it turned the connection into a stream."""
        rid, cmd, sup = req["id"], req["cmd"], self.sup

        async def send(obj: dict) -> None:
            writer.write(encode(obj))
            await writer.drain()

        try:
            if cmd == "ping":
                await send(reply_ok(rid, {"pong": True, "pid": os.getpid(), "profile": sup.profile}))
            elif cmd == "status":
                await send(reply_ok(rid, sup.status().to_dict()))
            elif cmd == "start":
                await send(reply_ok(rid, await sup.cmd_start(bool(req.get("reset_downshift")))))
            elif cmd == "restart":
                await send(reply_ok(rid, await sup.cmd_restart(bool(req.get("now")))))
            elif cmd == "stop":
                exit_after = req.get("exit", True)
                res = await sup.cmd_stop(bool(req.get("now")))
                res["exiting"] = bool(exit_after)
                with contextlib.suppress(ConnectionError, OSError):
                    await send(reply_ok(rid, res))
                if exit_after:
                    asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(sup.shutdown()))
            elif cmd == "logs":
                return await self._stream_logs(req, writer)
        except (ConnectionError, OSError):
            raise
        except Exception as e:  # a bug in a handler must not take the supervisor down
            sup.note(f"control {cmd} failed: {type(e).__name__}: {e}", logging.ERROR)
            with contextlib.suppress(Exception):
                await send(reply_error(rid, "internal", f"{type(e).__name__}: {e}"))
        return False

    async def _stream_logs(self, req: dict, writer: asyncio.StreamWriter) -> bool:
        src = req["source"]
        lines = await asyncio.get_running_loop().run_in_executor(None, tail_file, self.sup.log_paths[src], req["n"])
        writer.write(encode(reply_ok(req["id"], {"lines": lines, "source": src})))
        await writer.drain()
        if not req.get("follow"):
            return False
        f = LogFollower(req["id"], self.sup.settings.subscriber_queue)
        with contextlib.suppress(Exception):  # back-pressure shows up in our queue soon, not after MiBs
            writer.transport.set_write_buffer_limits(high=16 * 1024)
        self.followers[src].add(f)
        f.on_close = lambda: self.followers[src].discard(f)
        try:
            await self._pump(f, writer)
        finally:
            self.followers[src].discard(f)
        return True

    @staticmethod
    async def _pump(f: LogFollower, writer: asyncio.StreamWriter) -> None:
        async def drain() -> bool:
            # A reader that stopped reading must not pin us: once it has been cut off it gets
            # a few seconds to take its backlog and the end marker, then the connection is dropped.
            while True:
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                    return True
                except asyncio.TimeoutError:
                    if f.closed_at is not None and time.monotonic() - f.closed_at > 5.0:
                        writer.transport.abort()
                        return False

        try:
            while True:
                item = await f.queue.get()
                if item is None:
                    reason = f.end_reason or "supervisor ended the stream"
                    writer.write(encode({"v": PROTOCOL_VERSION, "id": f.req_id, "end": True, "reason": reason}))
                    await drain()
                    return
                writer.write(item)
                if not await drain():
                    return
        except (ConnectionError, OSError):
            return
