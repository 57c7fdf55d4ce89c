"""One email per node: a second profile signing in with an email that already signs another
profile is refused at sign-in, before any file is written, and the first profile stays startable."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from core.base.paths import ProfilePaths
from core.chain.devnet import free_port
from core.identity import files as identity
from core.identity.profiles import create_profile
from core.login.accounts import AccountStore
from core.login.service import LoginService, ServiceThread


def _post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _files(*dirs) -> dict:
    return {str(p): p.read_bytes() for d in dirs if d.exists() for p in sorted(d.rglob("*")) if p.is_file()}


def test_second_profile_with_the_same_email_is_refused_before_anything_is_written():
    create_profile("first", network="local")
    create_profile("second", network="local")
    a, b = ProfilePaths("first"), ProfilePaths("second")
    with ServiceThread(LoginService(a.identity_dir, port=free_port())) as svc:
        assert _post(f"{svc.url}/api/login", {"email": "ada@example.org"})[0] == 200
    first_files = _files(a.identity_dir)
    with ServiceThread(LoginService(b.identity_dir, port=free_port())) as svc:
        watched = [b.identity_dir, AccountStore("local").dir]
        before = _files(*watched)
        st, body = _post(f"{svc.url}/api/login", {"email": " ADA@example.org"})
        assert st == 409, body
        assert "already signs in profile 'first'" in body["error"] and "one email per node" in body["error"]
        assert "tracked on-chain" in body["error"] and "another email" in body["fix"]
        assert body["profiles"] == ["first"]
        assert _files(*watched) == before and not b.user_data.exists()
        # another email is fine
        assert _post(f"{svc.url}/api/login", {"email": "bob@example.org"})[0] == 200
    # the profile that had the account first is untouched and not blocked
    assert _files(a.identity_dir) == first_files
    assert identity.find_duplicates(["first", "second"]) == []
    identity.assert_no_duplicates("first")
