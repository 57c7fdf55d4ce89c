"""HTTP against the real login service / app: plain requests and the sign-in page's API calls."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def http(url: str, body=None, *, method: str | None = None, headers: dict | None = None, raw: bytes | None = None):
    """(status, parsed JSON or text) without raising on 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json"} if data is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=h, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode("utf-8", "replace")


def sign_in(url: str, email: str) -> dict:
    """The page's three calls, over plain HTTP. Returns {orgId, address, publicKey}."""
    st, user = http(f"{url}/api/login", {"email": email})
    assert st == 200, user
    st, key = http(f"{url}/api/get-api-key", {"whoamiStamp": {"orgId": user["orgId"]}})
    assert st == 200, key
    st, act = http(f"{url}/api/set-api-key-activated", {"orgId": user["orgId"], "apiKey": key["publicKey"],
                                                         "deferredActionDigest": "", "accountAddress": user["address"],
                                                         "initCode": ""})
    assert st == 200 and act == {"activated": True}, act
    return {**user, "publicKey": key["publicKey"]}


def browser_sign_in(url: str, email: str) -> dict:
    """What the sign-in page does in the browser, as its API calls: log in, get a session key,
    activate it. Returns the account ({orgId, address, userId, ...}) plus the key's publicKey."""
    st, user = http(f"{url}/api/login", {"email": email})
    assert st == 200, user
    st, key = http(f"{url}/api/get-api-key", {"orgId": user["orgId"]})
    assert st == 200, key
    st, act = http(f"{url}/api/set-api-key-activated", {
        "orgId": user["orgId"], "apiKey": key["publicKey"], "deferredActionDigest": "0x00",
        "accountAddress": "0x" + "11" * 20, "initCode": "0x"})
    assert st == 200 and act == {"activated": True}, act
    return {**user, "publicKey": key["publicKey"]}


@contextmanager
def hung_rpc():
    """The URL of a port that accepts TCP connections (kernel backlog) and never answers: a hung RPC."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()
