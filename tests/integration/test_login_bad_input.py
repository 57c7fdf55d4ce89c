"""Hostile and broken requests to the login service: each a clear 4xx, nothing written."""

from __future__ import annotations

import socket

import pytest

from core.chain.devnet import free_port
from core.login.accounts import AccountStore
from core.login.service import LoginError, LoginService, ServiceThread
from core.base.paths import ProfilePaths

from tests.helpers.http import http, sign_in

WRITE_PATHS = ["login", "get-api-key", "set-api-key-activated", "register-peer", "submit-reward", "submit-winner"]


def _snapshot(paths: ProfilePaths) -> dict:
    files = list(paths.identity_dir.glob("*")) + list(AccountStore("local").dir.glob("*"))
    return {str(f): f.read_bytes() for f in files if f.is_file()}


@pytest.fixture
def svc():
    paths = ProfilePaths("bad")
    with ServiceThread(LoginService(paths.identity_dir, port=free_port())) as s:
        yield s, paths


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_malformed_json_non_json_and_non_object(svc, path):
    s, paths = svc
    before = _snapshot(paths)
    st, body = http(f"{s.url}/api/{path}", raw=b'{"email": "a@b.io",')
    assert st == 400 and body["error"] == "malformed JSON body"
    st, body = http(f"{s.url}/api/{path}", raw=b"email=a@b.io",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 415 and "JSON" in body["error"]
    st, body = http(f"{s.url}/api/{path}", raw=b'["a@b.io"]')
    assert st == 400 and "object" in body["error"]
    st, body = http(f"{s.url}/api/{path}", raw=b"\xff\xfe")
    assert st == 400
    assert _snapshot(paths) == before


@pytest.mark.parametrize("path,body,needle", [
    ("login", {}, "missing fields: email"),
    ("login", {"email": 5}, "'email' must be str"),
    ("login", {"email": "no-at-sign"}, "email address"),
    ("get-api-key", {}, "missing fields: whoamiStamp"),
    ("get-api-key", {"whoamiStamp": "opaque"}, "orgId"),
    ("set-api-key-activated", {"orgId": "x"}, "missing fields: apiKey"),
    ("register-peer", {"orgId": "x"}, "missing fields: peerId"),
    ("submit-reward", {"orgId": "x", "peerId": "Qm"}, "missing fields: roundNumber, stageNumber, reward"),
    ("submit-reward", {"orgId": "x", "peerId": "Qm", "roundNumber": "1", "stageNumber": 0, "reward": 1},
     "'roundNumber' must be int"),
    ("submit-reward", {"orgId": "x", "peerId": "Qm", "roundNumber": True, "stageNumber": 0, "reward": 1},
     "'roundNumber' must be int"),
    ("submit-winner", {"orgId": "x", "peerId": "Qm", "roundNumber": 0, "winners": "Qm"}, "'winners' must be list"),
])
def test_missing_and_mistyped_fields(svc, path, body, needle):
    s, paths = svc
    before = _snapshot(paths)
    st, reply = http(f"{s.url}/api/{path}", body)
    assert st == 400 and needle in reply["error"], reply
    assert _snapshot(paths) == before


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_huge_bodies_are_refused(svc, path):
    s, paths = svc
    before = _snapshot(paths)
    big = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'@b.io"}'
    st, reply = http(f"{s.url}/api/{path}", raw=big)
    assert st == 413 and "too large" in reply["error"]
    # chunked (no Content-Length): the limit holds while reading
    import http.client as hc

    c = hc.HTTPConnection("127.0.0.1", s.service.port, timeout=30)
    c.putrequest("POST", f"/api/{path}")
    c.putheader("Content-Type", "application/json")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    chunk = b'{"email": "' + b"b" * 40000
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
    r = c.getresponse()
    assert r.status == 413 and b"too large" in r.read()
    c.close()
    assert _snapshot(paths) == before


def test_unknown_org_id_everywhere(svc):
    s, paths = svc
    user = sign_in(s.url, "kim@example.org")
    before = _snapshot(paths)
    ghost = "00000000-0000-0000-0000-000000000000"
    cases = [
        ("get-api-key", {"whoamiStamp": {"orgId": ghost}}),
        ("set-api-key-activated", {"orgId": ghost, "apiKey": user["publicKey"]}),
        ("register-peer", {"orgId": ghost, "peerId": "QmX"}),
        ("submit-reward", {"orgId": ghost, "peerId": "QmX", "roundNumber": 0, "stageNumber": 0, "reward": 1}),
        ("submit-winner", {"orgId": ghost, "peerId": "QmX", "roundNumber": 0, "winners": ["QmX"]}),
    ]
    for path, body in cases:
        st, reply = http(f"{s.url}/api/{path}", body)
        assert st == 404 and reply["error"] == "user not found", (path, reply)
    st, reply = http(f"{s.url}/api/get-api-key-status?orgId={ghost}")
    assert st == 404
    st, reply = http(f"{s.url}/api/get-api-key-status")
    assert st == 400 and "orgId" in reply["error"]
    st, reply = http(f"{s.url}/api/set-api-key-activated", {"orgId": user["orgId"], "apiKey": "0xnot-issued"})
    assert st == 404 and reply["error"] == "api key not found"
    assert _snapshot(paths) == before


def test_cross_origin_posts_are_refused(svc):
    s, paths = svc
    before = _snapshot(paths)
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                    {"Origin": f"http://localhost:{s.service.port + 1}"},
                    {"Sec-Fetch-Site": "cross-site"}):
        for path in WRITE_PATHS:
            st, reply = http(f"{s.url}/api/{path}", {"email": "mallory@example.org"}, headers=headers)
            assert st == 403 and "cross-origin" in reply["error"], (headers, path)
    # DNS rebinding: a foreign Host name reaching the loopback port
    st, reply = http(f"{s.url}/api/login", {"email": "m@example.org"}, headers={"Host": "evil.example"})
    assert st == 421
    assert _snapshot(paths) == before
    # same-origin (what the page sends) works
    st, _ = http(f"{s.url}/api/login", {"email": "ok@example.org"}, headers={"Origin": s.url})
    assert st == 200


def test_writes_need_an_activated_key_and_a_chain(svc):
    s, paths = svc
    st, user = http(f"{s.url}/api/login", {"email": "lee@example.org"})
    assert st == 200
    st, reply = http(f"{s.url}/api/register-peer", {"orgId": user["orgId"], "peerId": "QmLee"})
    assert st == 500 and reply["error"] == "api key not found"
    sign_in(s.url, "lee@example.org")
    st, reply = http(f"{s.url}/api/register-peer", {"orgId": user["orgId"], "peerId": "QmLee"})
    assert st == 500 and "not running" in reply["error"] and reply.get("fix")  # no chain started (500 like the official app)
    st, reply = http(f"{s.url}/api/submit-reward", {"orgId": user["orgId"], "peerId": "QmLee", "roundNumber": -1,
                                                     "stageNumber": 0, "reward": 1})
    assert st == 400 and "roundNumber" in reply["error"]


def test_port_in_use():
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    try:
        paths = ProfilePaths("port")
        with pytest.raises(LoginError) as ei:
            ServiceThread(LoginService(paths.identity_dir, port=port, strict_port=True)).start()
        assert str(port) in ei.value.what and ei.value.where and ei.value.fix
        with ServiceThread(LoginService(paths.identity_dir, port=port)) as s:
            assert s.service.port != port and s.service.port > port
            st, body = http(f"{s.url}/api/health")
            assert st == 200 and body["port"] == s.service.port
        assert not any(paths.identity_dir.glob("*.json"))
    finally:
        blocker.close()


def test_listens_on_loopback_only(svc):
    s, _ = svc
    import psutil

    mine = [c for c in psutil.net_connections(kind="inet") if c.status == "LISTEN" and c.laddr.port == s.service.port]
    assert mine and all(c.laddr.ip == "127.0.0.1" for c in mine)
