"""Shared bits for the chain/login integration tests (real anvil, real HTTP servers)."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.chain.devnet import LocalChain, anvil_binary

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def require_anvil() -> None:
    try:
        anvil_binary()
    except Exception as e:  # pragma: no cover - setup problem, said clearly
        pytest.fail(f"anvil missing ({e}); run `just setup`")


@contextmanager
def chain_in(home: Path, **kw):
    """A LocalChain whose files live under `home` whatever SWARMDECK_HOME is later."""
    require_anvil()
    old = os.environ.get("SWARMDECK_HOME")
    os.environ["SWARMDECK_HOME"] = str(home)
    try:
        chain = LocalChain(**kw)
    finally:
        if old is None:
            os.environ.pop("SWARMDECK_HOME", None)
        else:
            os.environ["SWARMDECK_HOME"] = old
    chain.start()
    try:
        yield chain
    finally:
        chain.stop()
        assert chain.proc is None


def events(chain: LocalChain, name: str, **filters) -> list:
    logs = getattr(chain.contract.events, name)().get_logs(from_block=0)
    return [e for e in logs if all(e["args"].get(k) == v for k, v in filters.items())]


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
