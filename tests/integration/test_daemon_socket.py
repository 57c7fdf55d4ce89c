"""Control socket against a live supervisor: bad input, huge lines, vanishing and slow clients, logs;
events reach clients through events.jsonl (the socket has no event stream)."""

from __future__ import annotations

import json
import shlex
import socket
import struct
import sys
import time

import pytest

from core import supervisor
from core.base.errors import SupervisorError
from daemon_support import needs_fake, rig, wait_for  # noqa: F401

pytestmark = pytest.mark.timeout(120)


def _conn(rig) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(rig.paths.control_socket))
    return s


def _readline(s: socket.socket) -> dict | None:
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            return None
        buf += c
    return json.loads(buf)


def _healthy(rig, pid: int) -> None:
    t0 = time.monotonic()
    st = rig.status()
    assert time.monotonic() - t0 < 5.0, "status answered slowly"  # it waits on nothing (a loaded box: slack)
    assert st["state"] == "running" and st["child_pid"] == pid and st["restarts"] == 0


def test_malformed_requests_get_errors_and_connection_survives(rig):
    rig.start()
    pid = rig.wait_state("running")["child_pid"]
    s = _conn(rig)
    cases = [
        (b"not json\n", "bad_json"),
        (b"[1, 2, 3]\n", "bad_request"),
        (b"\xff\xfe\x00garbage\n", "bad_json"),
        (b'{"v": 2, "id": 1, "cmd": "status"}\n', "bad_version"),
        (b'{"id": 1, "cmd": "status"}\n', "bad_version"),
        (b'{"v": 1, "id": 2, "cmd": "rm -rf"}\n', "unknown_cmd"),
        (b'{"v": 1, "id": 3, "cmd": "logs", "n": "ten"}\n', "bad_request"),
        (b'{"v": 1, "id": 4, "cmd": "logs", "n": 99999999}\n', "bad_request"),
        (b'{"v": 1, "id": 5, "cmd": "subscribe", "replay": 10}\n', "unknown_cmd"),  # removed: follow events.jsonl
        (b'{"v": 1, "id": 6, "cmd": "stop", "now": "yes"}\n', "bad_request"),
        (b'{"v": 1, "id": {"x": 1}, "cmd": "ping"}\n', "bad_request"),
        (b'{"v": 1, "id": 7, "cmd": "ping", "extra": 1}\n', "bad_request"),
        (b"[" * 50000 + b"\n", "bad_json"),
    ]
    for line, code in cases:
        s.sendall(line)
        rep = _readline(s)
        assert rep is not None and rep["ok"] is False and rep["error"]["code"] == code, (line[:40], rep)
    s.sendall(b'{"v": 1, "id": "last", "cmd": "ping"}\n')
    rep = _readline(s)
    assert rep == {"v": 1, "id": "last", "ok": True, "result": {"pong": True, "pid": rep["result"]["pid"], "profile": "alpha"}}
    s.close()
    _healthy(rig, pid)


def test_huge_line_is_refused_and_only_that_connection_closes(rig):
    rig.start()
    pid = rig.wait_state("running")["child_pid"]
    s = _conn(rig)
    try:
        s.sendall(b"x" * (4 * 1024 * 1024) + b"\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may close before we finish writing
    rep = None
    try:
        rep = _readline(s)
    except (ConnectionResetError, socket.timeout):
        pass
    assert rep is None or rep["error"]["code"] == "too_large"
    s.close()
    _healthy(rig, pid)


# A node that floods its log (stderr) after one event: what a slow `logs -f` reader falls behind on.
FLOOD = ("import json, sys, time\n"
         "print(json.dumps({'type': 'node.mode', 'mode': '8bit', 'device': 'cpu', 'reason': 'test'}), flush=True)\n"
         "while True:\n    print('x' * 200, file=sys.stderr, flush=True)\n    time.sleep(0.001)\n")


def test_clients_vanishing_mid_stream_and_slow_followers_never_block(rig):
    needs_fake()
    rig.configure(subscriber_queue=100)
    rig.monkeypatch.setenv("SWARMDECK_NODE_CMD", shlex.join([sys.executable, "-c", FLOOD]))
    rig.start()
    pid = rig.wait_state("running")["child_pid"]
    for i in range(15):  # follow the log, read a little, vanish (RST on half of them)
        s = _conn(rig)
        s.sendall(supervisor.encode({"v": 1, "id": i, "cmd": "logs", "follow": True, "n": 10}))
        assert _readline(s)["ok"]
        for _ in range(3):
            _readline(s)
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    # the vanished followers are dropped (else "attached" below could count one of them, and the
    # slow follower, attaching after it went, would be read by the drain loop and never fall behind)
    wait_for(lambda: rig.status()["subscribers"] == 0, what="the vanished followers dropped")
    # a follower that never reads: tiny buffer, queue overflows, it gets cut off
    slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(str(rig.paths.control_socket))
    slow.sendall(supervisor.encode({"v": 1, "id": "slow", "cmd": "logs", "follow": True, "n": 0}))
    wait_for(lambda: rig.status()["subscribers"] == 1, what="slow follower attached")
    wait_for(lambda: rig.status()["subscribers"] == 0, timeout=60, what="slow follower cut off")
    _healthy(rig, pid)
    # draining the slow client finds the end marker naming why
    slow.settimeout(5)
    data = b""
    deadline = time.monotonic() + 30
    while True:
        chunk = slow.recv(65536)
        if not chunk:
            break
        data += chunk
        assert time.monotonic() < deadline, f"the slow follower still streams after 30 s ({len(data)} bytes)"
    slow.close()
    assert b'"end":true' in data and b"too slow" in data
    _healthy(rig, pid)


def test_history_is_in_events_jsonl_and_seq_goes_on_across_a_supervisor_restart(rig):
    rig.start()
    rig.wait_state("running")
    wait_for(lambda: (rig.status()["round"] or 0) >= 3, what="rounds")
    supervisor.stop_profile("alpha")
    before = rig.events()
    rounds_before = [e["round"] for e in before if e["type"] == "round.finished"]
    last = before[-1]["seq"]
    rig.start()
    rig.wait_state("running")
    wait_for(lambda: len(rig.events()) > len(before) + 3, what="new events")
    after = rig.events()
    assert after[:len(before)] == before, "history from before the restart is kept as it was"
    new = [e["seq"] for e in after[len(before):]]
    assert new[0] > last and new == sorted(set(new)), "seq goes on without duplicates"
    assert [e["round"] for e in after if e["type"] == "round.finished"][:len(rounds_before)] == rounds_before
    # the socket answers requests, not events
    with pytest.raises(SupervisorError, match="unknown_cmd"):
        rig.client.request("subscribe")


def test_logs_tail_and_follow(rig):
    needs_fake()  # matches the fake node's log lines
    rig.start()
    pid = rig.wait_state("running")["child_pid"]
    lines = list(rig.client.logs(n=2))
    assert len(lines) == 2
    assert any(f"fake_node[{pid}]" in ln for ln in rig.client.logs(n=50))
    sup = list(rig.client.logs(n=50, source="supervisor"))
    assert any("state running" in ln for ln in sup)
    rig.client.restart()
    # follow: restart the node and see its new log lines arrive
    it = rig.client.logs(n=0, follow=True, idle_timeout=10)
    rig.client.restart()
    got = []
    for ln in it:
        got.append(ln)
        if "starting profile=alpha" in ln:
            break
    it.close()
    assert any("starting profile=alpha" in ln for ln in got)
    with pytest.raises(Exception):
        list(rig.client.logs(n=10, source="secrets"))
